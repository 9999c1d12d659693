# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose playbooks against the production inventories: parsed and listed only
(--syntax-check, --list-hosts), never run; nothing connects to a host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = [
    f'playbooks/{name}.yml'
    for name in (
        'compose_status', 'compose_logs', 'compose_restart', 'redeploy', 'rollback',
        'scale', 'maintenance', 'daily_check', 'weekly_check',
    )
]  # fmt: skip


@pytest.mark.parametrize(('inventory', 'host'), [('qa_arena', 'qa-arena-prod'), ('fragrance', 'fragrance-ai-prod')])
def test_compose_playbooks_parse_and_target_the_production_host(inventory, host):
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')}
    playbook_cli = str(Path(sys.executable).with_name('ansible-playbook'))
    for flag in ('--syntax-check', '--list-hosts'):
        result = subprocess.run(
            [playbook_cli, '-i', f'inventories/{inventory}', flag, '-l', host, *PLAYBOOKS],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert result.stdout.count(host) >= len(PLAYBOOKS) - 1  # maintenance targets the fragrance group
