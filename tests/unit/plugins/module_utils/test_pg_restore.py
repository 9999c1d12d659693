# SPDX-License-Identifier: GPL-3.0-or-later
"""Rehearsed restore and the crash-safe swap against a real PostgreSQL 15: backups
taken with pg_dump, restores with pg_restore/psql, a crash injected after every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import _pg_restore
from ansible_collections.sre.runbooks.plugins.module_utils._backup import list_backups
from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import take_backup
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target, count_rows
from tests.support.services import terminate_when_busy

ROOT = Path(__file__).resolve().parents[4]
NAMES = ['shop', 'Shop "Ü" - 2024; x']  # the second needs quoting everywhere


def sql(target: Target, text: str, database: str = 'postgres', **variables: str) -> list[list[str]]:
    return target.script(text, variables, database=database)


def seed(target: Target, name: str, rows: int) -> None:
    sql(target, 'CREATE DATABASE :"db";', db=name)
    sql(
        target,
        f"""
        CREATE TABLE users (id int PRIMARY KEY, email text);
        CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users (id));
        INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, {rows}) i;
        INSERT INTO orders SELECT i, i FROM generate_series(1, {rows}) i;
    """,
        database=name,
    )


def names(target: Target) -> list[str]:
    return [row[0] for row in sql(target, 'SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1')]


def users(target: Target, name: str) -> int:
    return int(sql(target, 'SELECT count(*) FROM users', database=name)[0][0])


@pytest.fixture
def target(postgres_port):
    target = Target(host='127.0.0.1', port=postgres_port, user='postgres')
    yield target
    for name in names(target):
        if name != 'postgres':
            sql(target, 'DROP DATABASE :"db" WITH (FORCE);', db=name)


@pytest.fixture(params=['custom', 'o4o_archive'])
def backed_up(request, target, tmp_path):
    """A database of 300 users, its backup, then 'corruption': 200 users deleted."""
    name = NAMES[0] if request.param == 'custom' else NAMES[1]
    seed(target, name, 300)
    take_backup(target, name, str(tmp_path), layout=request.param, prefix='bk', compress=1, mode=0o600)
    sql(target, 'DELETE FROM orders WHERE id > 100; DELETE FROM users WHERE id > 100;', database=name)
    [backup] = list_backups(str(tmp_path), name)
    return name, backup


def test_rehearse_swap_and_rerun_is_a_no_op(target, backed_up):
    name, backup = backed_up
    result = _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=['public.users'])
    assert result['tables'] == {'public.orders': 300, 'public.users': 300}
    assert users(target, name) == 100, 'the rehearsal must not touch the live database'
    swapped = _pg_restore.swap(target, name, backup['sha256'])
    assert swapped['changed'] and users(target, name) == 300
    assert users(target, swapped['broken']) == 100, 'the broken database is kept, never dropped'
    assert f'{name}_restore' not in names(target)
    assert _pg_restore.swap(target, name, backup['sha256']) == {'changed': False, 'broken': swapped['broken']}


def crash_after(step: str, target: Target, name: str, sha: str) -> int:
    code = (
        f'import json,sys; sys.path[:0]={json.dumps([str(ROOT / "collections"), str(ROOT)])}\n'
        'from ansible_collections.sre.runbooks.plugins.module_utils import _pg_restore as r\n'
        'from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target\n'
        f'r.swap(Target(host="127.0.0.1", port={target.port}, user="postgres"), {name!r}, {sha!r})\n'
    )
    env = {**os.environ, 'SRE_RUNBOOKS_SWAP_CRASH_AFTER': step}
    return subprocess.run([sys.executable, '-c', code], env=env, check=False).returncode


@pytest.mark.parametrize('step', _pg_restore.SWAP_STEPS)
def test_a_crash_after_any_step_is_completed_by_a_rerun(target, backed_up, step):
    name, backup = backed_up
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    assert crash_after(step, target, name, backup['sha256']) == 137
    # Whatever the crash left, the live name exists and holds a complete database (old
    # or restored); between blocking connections and the rename it refuses clients.
    state = _pg_restore.database_state(target, {'live': name})['live']
    assert state['exists']
    if state['allow_connections']:
        assert users(target, name) in (100, 300)
    # ...and a re-run finishes the job.
    _pg_restore.swap(target, name, backup['sha256'])
    state = _pg_restore.database_state(target, {'live': name})['live']
    assert state['allow_connections'] and state['marker']['state'] == 'restored'
    assert users(target, name) == 300
    broken = [n for n in names(target) if n.startswith(f'{name}_broken_')]
    assert len(broken) == 1 and users(target, broken[0]) == 100
    assert f'{name}_restore' not in names(target)
    assert not _pg_restore.swap(target, name, backup['sha256'])['changed']


def test_rehearsal_that_does_not_match_the_manifest_leaves_live_alone(target, backed_up):
    name, backup = backed_up
    lying = {**backup, 'tables': {**backup['tables'], 'public.users': 999}}
    with pytest.raises(_pg_restore.RestoreError, match=r'public.users: 300 rows, manifest says 999'):
        _pg_restore.rehearse(target, name, lying, owner='postgres', required_tables=[])
    assert users(target, name) == 100


def test_required_table_missing_is_refused(target, backed_up):
    name, backup = backed_up
    with pytest.raises(_pg_restore.RestoreError, match=r'required table public\.products is missing'):
        _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=['public.products'])


def test_swap_without_rehearsal_is_refused(target, backed_up):
    name, backup = backed_up
    with pytest.raises(_pg_restore.RestoreError, match='not a verified rehearsal'):
        _pg_restore.swap(target, name, backup['sha256'])
    assert users(target, name) == 100


def test_swap_of_a_missing_database_is_refused(target, backed_up):
    name, backup = backed_up
    _pg_restore.rehearse(target, 'nope', backup, owner='postgres', required_tables=[])
    with pytest.raises(_pg_restore.RestoreError, match='nope does not exist'):
        _pg_restore.swap(target, 'nope', backup['sha256'])
    assert users(target, name) == 100


def damage(target: Target, name: str, keep: int) -> None:
    sql(target, f'DELETE FROM orders WHERE id > {keep}; DELETE FROM users WHERE id > {keep};', database=name)


def test_swap_of_a_marked_but_damaged_database_is_not_called_done(target, backed_up):
    """Issue #18 (1): the mark on the database is not proof; its rows are checked."""
    name, backup = backed_up
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    _pg_restore.swap(target, name, backup['sha256'])
    assert _pg_restore.live_differences(target, name, backup['tables']) == []
    damage(target, name, 250)
    assert _pg_restore.live_differences(target, name, backup['tables']) == [
        'public.orders has 250 rows, the backup 300',
        'public.users has 250 rows, the backup 300',
    ]
    with pytest.raises(_pg_restore.RestoreError, match=r'carries the mark of .* but public\.orders has 250 rows'):
        _pg_restore.swap(target, name, backup['sha256'])
    # Restoring again: a new rehearsal, then a swap that sets the damaged one aside
    # (under a name of its own, even within the same second as the first swap).
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    swapped = _pg_restore.swap(target, name, backup['sha256'])
    assert swapped['changed'] and users(target, name) == 300
    assert len([n for n in names(target) if n.startswith(f'{name}_broken_')]) == 2
    assert not _pg_restore.swap(target, name, backup['sha256'])['changed']


def test_more_rows_than_the_backup_are_writes_since_the_restore_not_damage(target, backed_up):
    name, backup = backed_up
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    _pg_restore.swap(target, name, backup['sha256'])
    sql(target, "INSERT INTO users VALUES (1000, 'new')", database=name)
    assert _pg_restore.live_differences(target, name, backup['tables']) == []
    assert not _pg_restore.swap(target, name, backup['sha256'])['changed']


@pytest.mark.parametrize('step', ['block_connections', 'terminate_sessions', 'rename', 'allow_connections'])
def test_a_failure_after_blocking_connections_lets_clients_in_again_and_names_the_state(
    target, backed_up, step, monkeypatch
):
    """Issue #18 (2): a swap that fails (an error, not a crash) puts connections back on
    whichever database is live, and its message says which one that is."""
    name, backup = backed_up
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    monkeypatch.setattr(_pg_restore, 'FAIL_AFTER', step)
    with pytest.raises(_pg_restore.RestoreError) as failure:
        _pg_restore.swap(target, name, backup['sha256'])
    message = str(failure.value)
    state = _pg_restore.database_state(target, {'live': name})['live']
    assert state['allow_connections'], message
    renamed = step in ('rename', 'allow_connections')
    assert users(target, name) == (300 if renamed else 100)
    assert f'injected failure after {step}' in message
    assert f'{name} accepts connections' in message
    if renamed:
        assert f'{name} serves the restore of {os.path.basename(backup["path"])}' in message
        assert f'{name}_restore does not exist' in message
    else:
        assert f'{name} still serves the database from before the swap' in message
        assert f'{name}_restore holds the verified rehearsal' in message
    monkeypatch.setattr(_pg_restore, 'FAIL_AFTER', None)
    _pg_restore.swap(target, name, backup['sha256'])
    state = _pg_restore.database_state(target, {'live': name})['live']
    assert state['allow_connections'] and state['marker']['state'] == 'restored'
    assert users(target, name) == 300
    assert not _pg_restore.swap(target, name, backup['sha256'])['changed']


def test_reopen_lets_clients_in_after_a_crash_between_block_and_rename(target, backed_up):
    """What the role's rescue runs after a swap that died: connections back on."""
    name, backup = backed_up
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    assert crash_after('block_connections', target, name, backup['sha256']) == 137
    assert not _pg_restore.database_state(target, {'live': name})['live']['allow_connections']
    reopened = _pg_restore.reopen(target, name)
    assert reopened['changed'] and f'{name} accepts connections' in reopened['state']
    assert _pg_restore.database_state(target, {'live': name})['live']['allow_connections']
    assert not _pg_restore.reopen(target, name)['changed']
    _pg_restore.swap(target, name, backup['sha256'])
    assert users(target, name) == 300


@pytest.mark.parametrize('layout', ['custom', 'o4o_archive'])
def test_a_restore_whose_server_session_is_lost_fails_cleanly_and_a_rerun_converges(target, tmp_path, layout):
    name = f'big_{layout}'
    seed(target, name, 300)
    sql(target, 'INSERT INTO users SELECT i, md5(i::text) FROM generate_series(1000, 400000) i', database=name)
    take_backup(target, name, str(tmp_path), layout=layout, prefix='bk', compress=1, mode=0o600)
    [backup] = list_backups(str(tmp_path), name)
    damage(target, name, 100)
    found: list[int] = []
    watcher = terminate_when_busy(target, f'{name}_restore', 'pg_restore' if layout == 'custom' else 'psql', found)
    with pytest.raises(_pg_restore.RestoreError, match=rf'restoring .* into {name}_restore failed'):
        _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    watcher.join()
    assert found, 'the restore ended before its backend could be terminated'
    live = _pg_restore.database_state(target, {'live': name})['live']
    assert live['exists'] and live['allow_connections'] and users(target, name) == 100
    _pg_restore.rehearse(target, name, backup, owner='postgres', required_tables=[])
    _pg_restore.swap(target, name, backup['sha256'])
    assert users(target, name) == backup['tables']['public.users']


def test_counting_in_parallel_gives_the_serial_count_of_every_table(target):
    """The rehearsal counts with pg_restore_jobs sessions at once (issue #20); names that
    need quoting, a second schema and an empty table count the same as serially."""
    name = NAMES[1]
    seed(target, name, 250)
    sql(target, 'CREATE SCHEMA "Odd.Schema"; CREATE TABLE "Odd.Schema"."T 1" (id int);', database=name)
    sql(target, 'CREATE TABLE empty (id int);', database=name)
    serial = count_rows(target, name)
    assert serial == {'Odd.Schema.T 1': 0, 'public.empty': 0, 'public.orders': 250, 'public.users': 250}
    assert count_rows(target, name, workers=2) == serial
    assert count_rows(target, name, workers=8) == serial
