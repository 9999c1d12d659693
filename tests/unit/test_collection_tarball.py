# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection tarball holds what a user installs (plugins, roles, playbooks, docs,
meta, README, changelog) and nothing that names a production host: galaxy.yml's
build_ignore is a deny-list, this test is the allow-list behind it."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {
    'MANIFEST.json',
    'FILES.json',
    'README.md',
    'meta',
    'plugins',
    'roles',
    'playbooks',
    'docs',
    'changelogs',
    'extensions',
}
TOP_LEVEL_OPTIONAL = {'LICENSE', 'COPYING', 'CHANGELOG.rst', 'CHANGELOG.md'}
REQUIRED = {
    'README.md',
    'meta/runtime.yml',
    'changelogs/changelog.yaml',
    'playbooks/disaster_recovery.yml',
    'extensions/eda/rulebooks/incident_response.yml',
}
PRODUCTION_ADDRESSES = {'43.202.242.215', '13.125.144.8'}


@pytest.fixture(scope='module')
def tarball(tmp_path_factory) -> Iterator[tarfile.TarFile]:
    """The checkout built now, or the tarball SRE_COLLECTION_TARBALL names (scripts/build.sh
    checks the one it installs)."""
    given = os.environ.get('SRE_COLLECTION_TARBALL')
    if given:
        path = Path(given)
    else:
        out = tmp_path_factory.mktemp('build')
        galaxy = str(Path(sys.executable).with_name('ansible-galaxy'))
        result = subprocess.run(
            [galaxy, 'collection', 'build', '--output-path', str(out), str(ROOT)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        (path,) = out.glob('sre-runbooks-*.tar.gz')
    with tarfile.open(path) as archive:
        yield archive


def _hosts(node: dict) -> dict:
    """Every host of an inventory file (name -> its variables), at any depth."""
    found = dict((node or {}).get('hosts') or {})
    for child in ((node or {}).get('children') or {}).values():
        found.update(_hosts(child))
    return found


def production_names() -> set[str]:
    """Host names and IP addresses of the production inventories, read as files only.

    Host names the lab shares (``api``, ``web``) are the lab's own too and name nothing
    real. A DNS name as ansible_host (``qa-arena.qalabs.kr``) is also the site's public
    name, which its TLS certificate's path in playbooks/group_vars must carry.
    """
    lab = set(_hosts(yaml.safe_load((ROOT / 'inventories/lab/hosts.yml').read_text())['all']))
    names = set()
    for inventory in sorted(ROOT.glob('inventories/*/hosts.yml')):
        if inventory.parent.name == 'lab':
            continue
        for host, host_vars in _hosts(yaml.safe_load(inventory.read_text())['all']).items():
            names.update({host} - lab)
            address = str((host_vars or {}).get('ansible_host', ''))
            names.update({address} if _is_ip_address(address) else set())
    return names


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def test_the_tarball_holds_only_what_a_user_installs(tarball):
    names = tarball.getnames()
    assert {name.split('/')[0] for name in names} - TOP_LEVEL_OPTIONAL == TOP_LEVEL
    assert set(names) >= REQUIRED
    assert [name for name in names if name.startswith('changelogs/')] == ['changelogs/changelog.yaml']
    assert [name for name in names if '/.' in f'/{name}' or '__pycache__' in name] == []


def test_playbooks_carry_their_group_vars_and_templates(tarball):
    names = set(tarball.getnames())
    needed = {str(path.relative_to(ROOT)) for path in ROOT.glob('playbooks/*/**/*') if path.is_file()}
    assert needed
    assert needed - names == set()


def test_production_names_are_read_from_the_inventories():
    names = production_names()
    assert names >= PRODUCTION_ADDRESSES
    assert {'qa-arena-prod', 'fragrance-ai-prod'} <= names
    assert not names & {'api', 'web', 'qa-arena'}


def test_no_file_names_a_production_host(tarball):
    names = production_names()
    leaks = []
    for member in tarball.getmembers():
        if member.isfile():
            text = tarball.extractfile(member).read().decode(errors='replace')
            leaks += [
                f'{member.name}:{number}: {name}'
                for number, line in enumerate(text.splitlines(), 1)
                for name in sorted(names)
                if name in line
            ]
    assert leaks == []
