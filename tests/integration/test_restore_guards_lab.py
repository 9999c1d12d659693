# SPDX-License-Identifier: GPL-3.0-or-later
"""The O4O restore on the lab, behind its guards: without a fresh verified backup it
stops before it creates the rehearsal; on an inventory marked production without
confirmation it stops before the restore task. The live database stays exactly as it was."""

from __future__ import annotations

import pytest

from .conftest import task_results

RESTORE = 'Restore | Rehearse into <db>_restore, check every row count, then swap it in for o4o_platform'


def live_state(lab) -> str:
    """Users in the live database / broken copies: what a swap would change."""
    sql = (
        "SELECT count(*) || '/' || (SELECT count(*) FROM pg_database WHERE datname LIKE 'o4o_platform_broken%') "
        'FROM users'
    )
    return lab.exec('api', 'psql', '-XAtc', sql, 'o4o_platform', user='postgres').strip()


@pytest.fixture
def damaged_lab(lab):
    """A verified backup, then a change to the live database that a restore would undo."""
    assert lab.playbook('backup.yml', extravars={'pg_backup_force': True}).rc == 0
    lab.exec(
        'api',
        'psql',
        '-Xqc',
        "INSERT INTO users (email, name, password_hash) VALUES ('guard@x', 'g', 'x')",
        'o4o_platform',
        user='postgres',
    )
    yield lab
    lab.exec('api', 'psql', '-Xqc', "DELETE FROM users WHERE email = 'guard@x'", 'o4o_platform', user='postgres')
    lab.exec('api', 'psql', '-Xqc', 'DROP DATABASE IF EXISTS o4o_platform_restore', user='postgres')


def test_production_without_confirmation_is_refused_before_the_rehearsal(damaged_lab):
    before = live_state(damaged_lab)
    runner = damaged_lab.playbook('restore_database.yml', extravars={'sre_environment': 'production'})
    assert runner.rc != 0
    refusal = task_results(runner, "Guard | Require the operator's confirmation of o4o_platform")['api']
    assert 'refusing to replace with its rehearsed restore the database o4o_platform in production' in refusal['msg']
    assert '-e sre_confirm=o4o_platform' in refusal['msg']
    assert RESTORE not in {e['event_data'].get('task') for e in runner.events}
    assert runner.stats.get('changed', {}).get('api', 0) == 0
    assert live_state(damaged_lab) == before


def test_stale_backup_is_refused_before_the_rehearsal(damaged_lab):
    before = live_state(damaged_lab)
    runner = damaged_lab.playbook('restore_database.yml', extravars={'pg_restore_backup_max_age_minutes': 0.0001})
    assert runner.rc != 0
    refusal = task_results(runner, RESTORE)['api']
    assert 'over the limit' in refusal['msg'] and 'pg_restore_backup_max_age_minutes' in refusal['msg']
    assert 'Nothing was changed' in refusal['msg']
    assert runner.stats.get('changed', {}).get('api', 0) == 0
    assert live_state(damaged_lab) == before
    rehearsal = "SELECT count(*) FROM pg_database WHERE datname = 'o4o_platform_restore'"
    assert damaged_lab.exec('api', 'psql', '-XAtc', rehearsal, user='postgres').strip() == '0'


def test_production_inventory_restore_is_only_listed(lab):
    runner = lab.playbook('restore_database.yml', inventory='inventories/o4o', cmdline='--list-tasks')
    assert runner.rc == 0
    listing = runner.stdout.read()
    assert 'Guard | Require the operator' in listing and 'Restore | Rehearse into' in listing
