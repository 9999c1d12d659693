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
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target

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
