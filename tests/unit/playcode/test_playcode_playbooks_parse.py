# SPDX-License-Identifier: GPL-3.0-or-later
"""Every PlayCode playbook (those whose hosts are the `playcode` group) against the production
inventory, inventories/playcode: parsed, and its hosts and tasks listed only (--syntax-check,
--list-hosts, --list-tasks). Nothing connects to the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
PLAYBOOKS = sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / 'playbooks').glob('*.yml') if 'sre_k8s_hosts' in p.read_text()
)


def test_the_playcode_playbooks_are_found():
    assert {'playbooks/k8s_deploy.yml', 'playbooks/mongo_restore.yml', 'playbooks/cert_renew.yml'} <= set(PLAYBOOKS)


@pytest.mark.parametrize('flag', ['--syntax-check', '--list-hosts', '--list-tasks'])
def test_every_playcode_playbook_parses_and_targets_the_production_cluster(flag):
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')}
    result = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode', flag, *PLAYBOOKS, '-e', 'tag=x'],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    if flag == '--list-hosts':
        # Each playbook's require_hosts play and its own play list the cluster's one host.
        assert result.stdout.count('playcode-eks') >= 2 * len(PLAYBOOKS), result.stdout
