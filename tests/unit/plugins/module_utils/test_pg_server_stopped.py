# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL itself stopped in the middle of a backup and of a restore's rehearsal
(pg_ctl stop -m immediate: a crash, as far as the clients can tell), on a cluster of
the test's own: a clean error, nothing partial left under a backup's name, the live
data intact once the server is back, and a re-run that converges."""

from __future__ import annotations

import os

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import _pg_restore
from ansible_collections.sre.runbooks.plugins.module_utils._backup import list_backups
from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import BackupError, take_backup
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import PostgresError, Target
from tests.support import services

NAME = 'shop'


@pytest.fixture
def cluster():
    with services.postgres_cluster() as cluster:
        yield cluster


def seeded(cluster: services.PostgresCluster, rows: int = 400_000) -> Target:
    """A database big enough that dumping and restoring it takes a while."""
    target = Target(host='127.0.0.1', port=cluster.port, user='postgres')
    target.script('CREATE DATABASE :"db";', {'db': NAME}, database='postgres')
    target.script(
        f"""
        CREATE TABLE users (id int PRIMARY KEY, email text);
        INSERT INTO users SELECT i, md5(i::text) FROM generate_series(1, {rows}) i;
        """,
        {},
        database=NAME,
    )
    return target


def users(target: Target) -> int:
    return int(target.script('SELECT count(*) FROM users', {}, database=NAME)[0][0])


def backup(target: Target, directory: str) -> dict:
    return take_backup(target, NAME, directory, layout='custom', prefix='bk', compress=1, mode=0o600)


def test_server_stopped_mid_backup_fails_cleanly_and_a_rerun_converges(cluster, tmp_path):
    target = seeded(cluster)
    found: list[int] = []
    watcher = services.when_active(target, 'pg_dump', lambda: cluster.stop('immediate'), found)
    with pytest.raises((BackupError, PostgresError)) as failure:
        backup(target, str(tmp_path))
    watcher.join()
    assert found, 'the dump ended before the server could be stopped'
    assert 'Traceback' not in str(failure.value)
    assert os.listdir(tmp_path) == [], 'a partial backup was left behind'
    cluster.start()
    taken = backup(target, str(tmp_path))
    assert [b['path'] for b in list_backups(str(tmp_path), NAME) if b['usable']] == [taken['path']]


def test_server_stopped_mid_rehearsal_keeps_the_live_data_and_a_rerun_converges(cluster, tmp_path):
    target = seeded(cluster)
    backup(target, str(tmp_path))
    [taken] = list_backups(str(tmp_path), NAME)
    target.script('DELETE FROM users WHERE id > 100', {}, database=NAME)
    found: list[int] = []
    watcher = services.when_active(target, 'pg_restore', lambda: cluster.stop('immediate'), found)
    with pytest.raises((_pg_restore.RestoreError, PostgresError)):
        _pg_restore.rehearse(target, NAME, taken, owner='postgres', required_tables=[])
    watcher.join()
    assert found, 'the restore ended before the server could be stopped'
    cluster.start()
    live = _pg_restore.database_state(target, {'live': NAME})['live']
    assert live['exists'] and live['allow_connections'] and users(target) == 100
    _pg_restore.rehearse(target, NAME, taken, owner='postgres', required_tables=[])
    _pg_restore.swap(target, NAME, taken['sha256'])
    assert users(target) == taken['tables']['public.users']
