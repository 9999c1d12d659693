# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml and scripts/ee.sh agree with what the collection needs:
the venv's pins and every collection it depends on. No Docker needed."""

from __future__ import annotations

import re

import yaml

from .conftest import ROOT

DEFINITION = yaml.safe_load((ROOT / 'execution-environment.yml').read_text())
SCRIPT = (ROOT / 'scripts/ee.sh').read_text()
# The collections scripts/ee.sh copies into the image besides sre.runbooks.
CARRIED = set(re.search(r'^DEPENDENCIES=\(([^)]*)\)', SCRIPT, re.MULTILINE).group(1).split())


def pins() -> dict[str, str]:
    lines = (ROOT / 'requirements.txt').read_text().splitlines()
    return {name.lower(): version for name, version in (line.split('==') for line in lines if '==' in line)}


def ee_requirements() -> list[str]:
    deps = DEFINITION['dependencies']
    return [deps['ansible_core']['package_pip'], deps['ansible_runner']['package_pip'], *deps['python']]


def test_python_packages_are_pinned_as_in_requirements_txt():
    venv = pins()
    for requirement in ee_requirements():
        name, version = requirement.split('==')
        assert venv.get(name.lower()) == version, f'{requirement}: requirements.txt pins {venv.get(name.lower())}'


def test_the_ee_carries_every_collection_the_collection_depends_on():
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['dependencies']
    users = {c['name'] for c in yaml.safe_load((ROOT / 'requirements.yml').read_text())['collections']}
    assert set(galaxy) | users <= CARRIED


def test_the_collections_it_copies_are_where_the_definition_takes_them_from():
    sources = [item['src'] for item in DEFINITION['additional_build_files']]
    assert sources == ['.cache/ee/collections']
    assert 'EE_DIR="$PWD/.cache/ee"' in SCRIPT
