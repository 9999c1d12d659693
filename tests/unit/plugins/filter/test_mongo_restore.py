# SPDX-License-Identifier: GPL-3.0-or-later
"""The MongoDB restore's filters (runbook P11): the commands run in the pod carry no credential, the
policy refuses what the runbook forbids, reads pass the read-only guard, and "already restored" is
decided from the data and the mark together."""

from __future__ import annotations

import json
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.k8s_exec import k8s_readonly_command
from ansible_collections.sre.runbooks.plugins.filter.mongo_restore import (
    mongo_restore_command,
    mongo_restore_command_words,
    mongo_restore_plan,
)

WORDS = {
    'database': 'playcode',
    'scratch': 'playcode_restore',
    'marker_database': 'sre_runbooks',
    'archive': '/tmp/sre-restore/a.gz',
    'broken': 'playcode_broken_20261205120000',
    'mark': {'archive': 'a.gz', 'sha256': 'abc'},
}
TABLES = {'playcode.users': 3, 'playcode.games': 2, 'other.x': 9}


@pytest.mark.parametrize('step', ['state', 'drop_scratch', 'restore', 'swap'])
def test_every_step_passes_the_policy_and_carries_no_credential(step):
    words = mongo_restore_command_words(step, **WORDS)
    command = mongo_restore_command(words)
    assert 'MONGO_PASSWORD' in command and '--password' not in command and '--drop' not in command


def test_only_the_state_read_passes_the_read_only_guard():
    assert k8s_readonly_command(mongo_restore_command_words('state', **WORDS)).startswith('mongosh')
    for step in ('drop_scratch', 'restore', 'swap'):
        with pytest.raises(AnsibleFilterError):
            k8s_readonly_command(mongo_restore_command_words(step, **WORDS))


def test_restore_goes_into_the_scratch_database_and_reads_the_password_from_stdin(tmp_path):
    script = mongo_restore_command_words('restore', **WORDS)[2]
    assert "--nsFrom='playcode.*'" in script and "--nsTo='playcode_restore.*'" in script
    fake = tmp_path / 'mongorestore'
    fake.write_text('#!/bin/sh\necho "ARGS: $*"; cat\n')
    fake.chmod(0o755)
    archive = tmp_path / 'a.gz'
    archive.write_bytes(b'x')
    words = mongo_restore_command_words('restore', **{**WORDS, 'archive': str(archive)})
    secret = 'p\'w"$x `y`'
    env = {'PATH': f'{tmp_path}:/usr/bin:/bin', 'MONGO_USER': 'u', 'MONGO_PASSWORD': secret}
    done = subprocess.run(words, env=env, capture_output=True, text=True, check=True)
    args, config = done.stdout.split('\n', 1)
    assert secret not in args and '--username=u' in args
    assert config.strip() == "password: 'p''w\"$x `y`'"
    assert not archive.exists()


@pytest.mark.parametrize(
    'argv',
    [
        ['sh', '-c', 'mongorestore --drop --archive=/tmp/a.gz'],
        ['sh', '-c', 'mongorestore --password "$MONGO_PASSWORD" --archive=/tmp/a.gz'],
        ['mongosh', 'mongodb://127.0.0.1:27017/playcode', '--eval', 'db.users.drop()'],
        ['mongosh', '--eval', 'db.getSiblingDB("playcode").dropDatabase()'],
    ],
)
def test_the_policy_refuses_what_the_runbook_forbids(argv):
    with pytest.raises(AnsibleFilterError, match='command policy refuses'):
        mongo_restore_command(argv)


def test_an_inventory_policy_layer_applies():
    with pytest.raises(AnsibleFilterError, match='not_here'):
        mongo_restore_command(
            ['rm', '-f', '/tmp/x'], {'extra_rules': [{'id': 'not_here', 'argv': ['rm'], 'reason': 'no'}]}
        )


def _state(live, scratch=None, mark=None):
    return 'noise\n' + json.dumps({'live': live, 'scratch': scratch, 'mark': mark, 'databases': []})


@pytest.mark.parametrize(
    ('live', 'mark', 'restored'),
    [
        ({'users': 3, 'games': 2}, {'sha256': 'abc'}, True),
        ({'users': 5, 'games': 2}, {'sha256': 'abc'}, True),  # writes since the restore
        ({'users': 2, 'games': 2}, {'sha256': 'abc'}, False),  # a mark alone is not a restore
        ({'users': 3}, {'sha256': 'abc'}, False),
        ({'users': 3, 'games': 2}, {'sha256': 'other'}, False),
        ({'users': 3, 'games': 2}, None, False),
    ],
)
def test_already_restored_needs_the_mark_and_the_data(live, mark, restored):
    plan = mongo_restore_plan(_state(live, None, mark), TABLES, 'playcode', 'abc')
    assert plan['restored'] is restored
    assert plan['expected'] == {'users': 3, 'games': 2}


def test_scratch_mismatches_are_exact():
    plan = mongo_restore_plan(_state({}, {'users': 3, 'games': 1, 'extra': 1}), TABLES, 'playcode', 'abc')
    assert plan['scratch_mismatches'] == [
        'games: 1 documents, the archive 2',
        'extra: not in the archive (1 documents)',
    ]
    assert (
        mongo_restore_plan(_state({}, {'users': 3, 'games': 2}), TABLES, 'playcode', 'abc')['scratch_mismatches'] == []
    )


@pytest.mark.parametrize(('state', 'tables'), [('error: auth failed', TABLES), (_state({}), {'other.x': 1})])
def test_unreadable_state_or_a_manifest_without_counts_raises(state, tables):
    with pytest.raises(AnsibleFilterError):
        mongo_restore_plan(state, tables, 'playcode', 'abc')
