# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_integrity through ansible itself against a real PostgreSQL 15: nothing compared
is a finding, never ok."""

from __future__ import annotations

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import take_backup
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target
from tests.support.adhoc import run_adhoc

NAME = 'o4o_platform'


@pytest.fixture
def target(postgres_port):
    target = Target(host='127.0.0.1', port=postgres_port, user='postgres')
    target.script('CREATE DATABASE :"db";', {'db': NAME})
    target.script(
        """CREATE TABLE users (id int PRIMARY KEY);
           INSERT INTO users SELECT generate_series(1, 100);""",
        database=NAME,
    )
    yield target
    target.script('DROP DATABASE :"db" WITH (FORCE);', {'db': NAME})


def run(target: Target, **args) -> dict:
    rc, result = run_adhoc(
        'sre.runbooks.pg_integrity',
        {'database': NAME, 'host': '127.0.0.1', 'port': target.port, 'user': 'postgres', **args},
    )
    assert rc == 0, result
    return result


@pytest.mark.parametrize('reference', ['none given', 'empty backup_dir', 'backup without manifest'])
def test_nothing_to_compare_with_is_a_warning_never_ok(target, tmp_path, reference):
    """Issue #18 (4)."""
    args = {
        'none given': {},
        'empty backup_dir': {'backup_dir': str(tmp_path)},
        'backup without manifest': {'backup': str(tmp_path / 'gone.dump')},
    }[reference]
    result = run(target, **args)
    assert result['ok'] is False and not result['changed'], result
    assert [(f['severity'], f['code']) for f in result['findings']] == [('warning', 'no_reference')], result
    assert result['msg'].startswith('not compared: no reference backup'), result['msg']


def test_intact_and_damaged_against_a_reference(target, tmp_path):
    take_backup(target, NAME, str(tmp_path), layout='custom', prefix='bk', compress=1, mode=0o600)
    result = run(target, backup_dir=str(tmp_path))
    assert result['ok'] and result['findings'] == [] and result['msg'].startswith('intact'), result
    target.script('DELETE FROM users WHERE id > 90', database=NAME)
    result = run(target, backup_dir=str(tmp_path))
    assert not result['ok'] and [(f['severity'], f['code']) for f in result['findings']] == [('critical', 'fewer_rows')]


def test_a_table_asked_for_that_the_backup_lacks_is_a_finding(target, tmp_path):
    take_backup(target, NAME, str(tmp_path), layout='custom', prefix='bk', compress=1, mode=0o600)
    result = run(target, backup_dir=str(tmp_path), tables=['public.users', 'public.orders'])
    assert not result['ok']
    assert ('warning', 'not_in_backup') in [(f['severity'], f['code']) for f in result['findings']], result
