# SPDX-License-Identifier: GPL-3.0-or-later
"""The pg_restore module through ansible itself, against a real PostgreSQL 15: the
"already restored" answer is checked against the data, and the age limit of a
ransomware rebuild counts from the compromise."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._backup import list_backups
from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import take_backup
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target
from tests.support.adhoc import run_adhoc

NAME = 'o4o_platform'


def sql(target: Target, text: str, database: str = 'postgres', **variables: str) -> list[list[str]]:
    return target.script(text, variables, database=database)


def users(target: Target) -> int:
    return int(sql(target, 'SELECT count(*) FROM users', database=NAME)[0][0])


@pytest.fixture
def target(postgres_port):
    target = Target(host='127.0.0.1', port=postgres_port, user='postgres')
    yield target
    for (name,) in sql(target, "SELECT datname FROM pg_database WHERE datname <> 'postgres' AND NOT datistemplate"):
        sql(target, 'DROP DATABASE :"db" WITH (FORCE);', db=name)


@pytest.fixture
def backup(target, tmp_path) -> dict:
    """o4o_platform with 1000 users, backed up (custom layout)."""
    sql(target, 'CREATE DATABASE :"db";', db=NAME)
    sql(
        target,
        """CREATE TABLE users (id int PRIMARY KEY, email text);
           INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, 1000) i;""",
        database=NAME,
    )
    take_backup(target, NAME, str(tmp_path), layout='custom', prefix='o4o', compress=1, mode=0o600)
    [found] = list_backups(str(tmp_path), NAME)
    return found


def run(target: Target, backup: dict, phase: str, check: bool = False, **extra) -> tuple[int, dict]:
    return run_adhoc(
        'sre.runbooks.pg_restore',
        {
            'database': NAME,
            'backup': backup['path'],
            'phase': phase,
            'host': '127.0.0.1',
            'port': target.port,
            'user': 'postgres',
            **extra,
        },
        *(['--check'] if check else []),
    )


def test_a_marked_database_whose_rows_are_missing_again_is_restored_again(target, backup):
    """Issue #18 (1): restore, damage again, restore again with the same backup."""
    for phase in ('rehearse', 'swap'):
        rc, result = run(target, backup, phase)
        assert rc == 0 and result['changed'], result
    rc, result = run(target, backup, 'rehearse')
    assert rc == 0 and not result['changed'] and 'already is the restore' in result['msg'], result
    sql(target, 'DELETE FROM users WHERE id > 950', database=NAME)
    rc, result = run(target, backup, 'rehearse')
    assert rc == 0 and result['changed'], result
    assert (
        f"{NAME} carries the mark of {Path(backup['path']).name} but public.users has 950 rows, "
        'the backup 1000: restoring again'
    ) in result['msg']
    assert users(target) == 950, 'the rehearsal does not touch the live database'
    rc, result = run(target, backup, 'swap')
    assert rc == 0 and result['changed'], result
    assert users(target) == 1000
    for phase in ('rehearse', 'swap'):
        rc, result = run(target, backup, phase)
        assert rc == 0 and not result['changed'], result


def backdate(backup: dict, days: float) -> None:
    """Make the backup look `days` old (its manifest's created_at)."""
    manifest = Path(backup['manifest'])
    data = json.loads(manifest.read_text())
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    data['created_at'] = moment.isoformat(timespec='seconds')
    manifest.write_text(json.dumps(data))


def test_an_old_backup_without_a_compromise_is_refused_with_the_limit_to_raise(target, backup):
    backdate(backup, 10)
    rc, result = run(target, backup, 'rehearse', max_age_minutes=10080)
    assert rc != 0
    assert 'over the limit of 10080 minutes' in result['msg'], result
    assert 'pg_restore_backup_max_age_minutes' in result['msg']
    assert f'{NAME}_restore' not in str(sql(target, 'SELECT datname FROM pg_database'))


def test_ransomware_rebuild_measures_the_age_from_the_compromise(target, backup):
    """Issue #18 (5): a clean backup 10 days old, a compromise 5 days ago: it was taken
    5 days before the compromise, within the 7-day limit."""
    backdate(backup, 10)
    compromised = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=5)).isoformat()
    rc, result = run(target, backup, 'rehearse', max_age_minutes=10080, taken_before=compromised)
    assert rc == 0 and result['changed'], result
    rc, result = run(target, backup, 'swap', max_age_minutes=10080, taken_before=compromised)
    assert rc == 0 and result['changed'], result


def test_a_clean_backup_too_old_before_the_compromise_never_advises_a_fresh_backup(target, backup):
    backdate(backup, 10)
    compromised = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).isoformat()
    rc, result = run(target, backup, 'rehearse', max_age_minutes=10080, taken_before=compromised)
    assert rc != 0
    message = result['msg']
    assert 'taken 12960 minutes before the compromise' in message, message
    assert 'over the limit of 10080 minutes' in message
    assert 'fresh' not in message and 'playbooks/backup.yml' not in message
    assert 'compromised data' in message and 'pg_restore_backup_max_age_minutes' in message
    assert 'older clean backup' in message


def test_a_backup_taken_after_the_compromise_is_refused(target, backup):
    compromised = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).isoformat()
    rc, result = run(target, backup, 'rehearse', taken_before=compromised)
    assert rc != 0 and 'after the compromise began' in result['msg'], result


def test_a_swap_that_fails_after_blocking_connections_says_what_state_it_left(target, backup):
    """Issue #18 (2), through the module: no "it is safe" without the state, and clients let in."""
    rc, result = run(target, backup, 'rehearse')
    assert rc == 0, result
    rc, result = run_adhoc(
        'sre.runbooks.pg_restore',
        {'database': NAME, 'backup': backup['path'], 'phase': 'swap', 'host': '127.0.0.1', 'port': target.port},
        env={'SRE_RUNBOOKS_SWAP_FAIL_AFTER': 'terminate_sessions', 'PGUSER': 'postgres'},
    )
    assert rc != 0
    assert 'was not replaced' not in result['msg'], result['msg']
    assert (
        f'State now: {NAME} still serves the database from before the swap; {NAME} accepts connections'
        in (result['msg'])
    )
    allowed = sql(target, "SELECT datallowconn FROM pg_database WHERE datname = :'db'", db=NAME)
    assert allowed == [['t']]
    rc, result = run(target, backup, 'reopen')
    assert rc == 0 and not result['changed'] and f'{NAME} accepts connections' in result['msg'], result
    rc, result = run(target, backup, 'swap')
    assert rc == 0 and result['changed'] and users(target) == 1000, result


def test_check_mode_predicts_each_phase_and_changes_nothing(target, backup):
    """Check mode: the rehearsal and the swap say what they would do; no database appears
    or is renamed."""
    databases = "SELECT datname FROM pg_database WHERE datname LIKE :'db' || '%' ORDER BY 1"
    rc, result = run(target, backup, 'rehearse', check=True)
    assert rc == 0 and result['changed'], result
    assert result['msg'] == f"would restore {backup['path']} into {NAME}_restore and verify it"
    assert sql(target, databases, db=NAME) == [[NAME]]
    rc, result = run(target, backup, 'rehearse')
    assert rc == 0 and result['changed'], result
    rc, result = run(target, backup, 'swap', check=True)
    assert rc == 0 and result['changed'], result
    assert result['msg'] == f'would rename {NAME} to {NAME}_broken_<timestamp> and {NAME}_restore to {NAME}'
    assert sql(target, databases, db=NAME) == [[NAME], [f'{NAME}_restore']]


def test_phase_restore_rehearses_verifies_and_swaps_in_one_run(target, backup):
    """The role's one module run (issue #20): check mode predicts both steps, the real run
    does both, the re-run finds the restore done."""
    databases = "SELECT datname FROM pg_database WHERE datname LIKE :'db' || '%' ORDER BY 1"
    sql(target, 'DELETE FROM users WHERE id > 900', database=NAME)
    rc, result = run(target, backup, 'restore', check=True)
    assert rc == 0 and result['changed'], result
    assert result['msg'] == (
        f"would restore {backup['path']} into {NAME}_restore and verify it; "
        f'then would rename {NAME} to {NAME}_broken_<timestamp> and {NAME}_restore to {NAME}'
    )
    assert sql(target, databases, db=NAME) == [[NAME]] and users(target) == 900
    rc, result = run(target, backup, 'rehearse')
    assert rc == 0 and result['changed'], result
    rc, result = run(target, backup, 'restore', check=True)
    assert rc == 0 and result['changed'] and 'already holds the verified rehearsal' in result['msg'], result
    assert 'then would rename' in result['msg'] and users(target) == 900
    rc, result = run(target, backup, 'restore')
    assert rc == 0 and result['changed'] and users(target) == 1000, result
    assert not result['rehearsal']['changed'] and result['rehearsal']['tables'] == {'public.users': 1000}
    assert result['broken'].startswith(f'{NAME}_broken_') and 'already holds the verified rehearsal' in result['msg']
    rc, result = run(target, backup, 'restore')
    assert rc == 0 and not result['changed'] and 'already is the restore' in result['msg'], result
    sql(target, 'DELETE FROM users WHERE id > 800', database=NAME)
    rc, result = run(target, backup, 'restore')
    assert rc == 0 and result['changed'] and result['rehearsal']['changed'] and users(target) == 1000, result
    assert 'row counts match the manifest' in result['msg'] and 'restoring again' in result['msg']


def test_phase_restore_of_a_corrupt_backup_changes_nothing(target, backup):
    with open(backup['path'], 'r+b') as handle:
        handle.seek(-10, 2)
        handle.write(b'corrupted!')
    rc, result = run(target, backup, 'restore')
    assert rc != 0 and 'cannot be used' in result['msg'] and 'sha256' in result['msg'], result
    databases = "SELECT datname FROM pg_database WHERE datname LIKE :'db' || '%' ORDER BY 1"
    assert sql(target, databases, db=NAME) == [[NAME]]
