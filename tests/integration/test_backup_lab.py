# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/backup.yml on the lab: the O4O archive over SSH, and a PostgreSQL that
runs inside a container (the QA-Arena shape), both idempotent."""

from __future__ import annotations

import json

from .conftest import task_results

TASK = 'Backup | Dump, validate, checksum and prune backups of o4o_platform'


def test_o4o_backup_over_ssh_then_a_no_op(lab):
    first = lab.playbook('backup.yml', extravars={'pg_backup_force': True})
    assert first.rc == 0, first.stdout.read()
    backup = task_results(first, TASK)['api']['backup']
    assert backup['format'] == 'o4o_archive' and backup['tables']['public.orders'] == 10000
    second = lab.playbook('backup.yml')
    assert second.rc == 0 and second.stats['changed'] == {}
    assert task_results(second, TASK)['api']['taken'] is False


def test_backup_of_a_postgres_inside_a_container(lab, tmp_path):
    backup_dir = tmp_path / 'qa'
    variables = {
        'sre_backup_hosts': 'localhost',
        'ansible_connection': 'local',
        'pg_backup_database': 'o4o_platform',
        'pg_backup_dir': str(backup_dir),
        'pg_backup_layout': 'custom',
        'pg_backup_prefix': 'qa_arena',
        'pg_backup_container': 'sre-lab-api',
        'pg_backup_container_user': 'postgres',
        'pg_backup_owner': 'root',
        'pg_backup_group': 'root',
    }
    runner = lab.playbook('backup.yml', inventory='localhost,', extravars=variables)
    assert runner.rc == 0, runner.stdout.read()
    [dump] = backup_dir.glob('qa_arena_*.dump')
    manifest = json.loads((backup_dir / (dump.name + '.manifest.json')).read_text())
    assert manifest['validation']['method'] == 'pg_restore -l' and manifest['tables']['public.users'] == 2000
    assert oct(dump.stat().st_mode & 0o777) == '0o600' and oct(backup_dir.stat().st_mode & 0o777) == '0o700'
