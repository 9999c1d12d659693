# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of playbooks/mongo_indexes.yml (runbook P12): ansible-playbook with
inventories/playcode_lab against the Kubernetes API stand-in, whose exec rules answer mongosh
with canned output. No MongoDB server can run here, so the canned answers copy mongosh's
real output shape: ``print(EJSON.stringify(...))`` of getIndexes(), getProfilingStatus() and
setProfilingLevel() on a replica-set member (relaxed Extended JSON, with $clusterTime and
operationTime). They check the commands the role sends, which of them run in check mode,
and how it reads the answers; they are not tests of MongoDB."""

from __future__ import annotations

import json

import pytest

from ansible_collections.sre.runbooks.plugins.filter.mongo_profiling import (
    mongo_profiling_indexes,
    mongo_profiling_plan,
    mongo_profiling_status,
)
from tests.unit.playcode.test_k8s_playbooks_api_contract import only_reads_and_dry_runs, play

INDEXES_EVAL = (
    'db.getCollectionNames().forEach(c => print(EJSON.stringify({collection: c, indexes: db[c].getIndexes()})))'
)
STATUS_ARGV = ['mongosh', 'userdb', '--quiet', '--eval', 'print(EJSON.stringify(db.getProfilingStatus()))']
SET_ARGV = ['mongosh', 'userdb', '--quiet', '--eval', 'print(EJSON.stringify(db.setProfilingLevel(1, {slowms: 100})))']
CLUSTER = (
    '"$clusterTime":{"clusterTime":{"$timestamp":{"t":1796540000,"i":1}},"signature":{"hash":{"$binary":'
    '{"base64":"AAAAAAAAAAAAAAAAAAAAAAAAAAA=","subType":"00"}},"keyId":0}},'
    '"operationTime":{"$timestamp":{"t":1796540000,"i":1}}'
)
# Runs that assert nothing about the index listing skip it (each exec takes about 2 s).
NO_LISTING = ('-e', 'mongo_profiling_list_indexes=false')
INDEX_LINES = '\n'.join(
    json.dumps(each, separators=(',', ':'))
    for each in (
        {
            'collection': 'users',
            'indexes': [
                {'v': 2, 'key': {'_id': 1}, 'name': '_id_'},
                {'v': 2, 'key': {'email': 1}, 'name': 'email_1', 'unique': True},
            ],
        },
        {
            'collection': 'sessions',
            'indexes': [
                {'v': 2, 'key': {'_id': 1}, 'name': '_id_'},
                {'v': 2, 'key': {'createdAt': 1}, 'name': 'createdAt_1', 'expireAfterSeconds': 86400},
            ],
        },
        {'collection': 'games', 'indexes': [{'v': 2, 'key': {'_id': 1}, 'name': '_id_'}]},
    )
)


def status_line(level: int, slowms: int) -> str:
    return f'{{"was":{level},"slowms":{slowms},"sampleRate":1,"ok":1,{CLUSTER}}}\n'


@pytest.fixture
def k8s(k8s):
    k8s.kubectl('wait', '--for=condition=Ready', 'pod/mongodb-0', '--timeout=20s')
    return k8s


def rules(level: int, slowms: int = 100) -> list[dict]:
    return [
        {'pod': 'mongodb-0', 'container': 'mongodb', 'argv': STATUS_ARGV, 'stdout': status_line(level, slowms)},
        {'pod': 'mongodb-0', 'container': 'mongodb', 'argv': SET_ARGV, 'stdout': status_line(level, slowms)},
        {
            'pod': 'mongodb-0',
            'container': 'mongodb',
            'argv': ['mongosh', 'userdb', '--quiet', '--eval', INDEXES_EVAL],
            'stdout': INDEX_LINES + '\n',
        },
    ]


def execs(k8s) -> list[list[str]]:
    return [each['exec']['argv'] for each in k8s.requests() if each.get('exec')]


def test_check_mode_lists_indexes_reads_the_level_and_only_predicts_the_change(k8s):
    """API contract (P12): --check runs only the read-only execs and says what it would set."""
    k8s.set_exec(rules(0))
    k8s.requests(clear=True)
    run = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=1', '-e', 'slowms=100', '--check')
    assert run.rc == 0 and run.changed == 1, run
    assert 'would set level 0 → 1 (slowms 100)' in run.out, run
    assert 'users: _id_ {_id: 1}; email_1 {email: 1} unique' in run.out, run
    assert 'sessions: _id_ {_id: 1}; createdAt_1 {createdAt: 1} ttl 86400s' in run.out, run
    assert SET_ARGV not in execs(k8s) and STATUS_ARGV in execs(k8s)
    assert only_reads_and_dry_runs(k8s.requests()) == []


def test_a_different_level_is_set_once_and_the_same_level_changes_nothing(k8s):
    """API contract (P12): level 0 → setProfilingLevel runs (changed=1); at level 1 it does not (changed=0)."""
    k8s.set_exec(rules(0))
    k8s.requests(clear=True)
    run = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=1', '-e', 'slowms=100')
    assert run.rc == 0 and run.changed == 1, run
    assert execs(k8s).count(SET_ARGV) == 1, execs(k8s)
    k8s.set_exec(rules(1))
    k8s.requests(clear=True)
    again = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=1', '-e', 'slowms=100', *NO_LISTING)
    assert again.rc == 0 and again.changed == 0, again
    assert 'already at level 1 (slow operations), slowms 100' in again.out, again
    assert SET_ARGV not in execs(k8s)


def test_without_a_level_the_run_only_reads_and_bad_input_stops_before_any_exec(k8s):
    """API contract (P12): no profiling_level → report only; a bad level stops before the first exec;
    on production the profiler change asks for the confirmation first."""
    k8s.set_exec(rules(0))
    k8s.requests(clear=True)
    run = play(k8s, 'mongo_indexes.yml', *NO_LISTING)
    assert run.rc == 0 and run.changed == 0 and 'left as it is' in run.out, run
    assert SET_ARGV not in execs(k8s)
    k8s.requests(clear=True)
    bad = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=5')
    assert bad.rc != 0 and 'profiling_level' in bad.out, bad
    prod = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=1', '-e', 'sre_environment=production')
    assert prod.rc != 0 and 'sre_confirm' in prod.out, prod
    assert execs(k8s) == []


def test_a_failing_mongosh_stops_the_run_with_its_error(k8s):
    """API contract (P12): mongosh exiting 1 (e.g. not authorized) fails the read with its stderr."""
    k8s.set_exec([{'pod': 'mongodb-0', 'prefix': ['mongosh'], 'stderr': 'MongoServerError: not authorized\n', 'rc': 1}])
    run = play(k8s, 'mongo_indexes.yml', '-e', 'profiling_level=1', *NO_LISTING)
    assert run.rc != 0 and 'not authorized' in run.out, run


def test_filters_read_relaxed_and_canonical_ejson():
    """The parsers: relaxed and canonical numbers, noise lines ignored, bad answers raise."""
    status = mongo_profiling_status('Warning: something\n' + status_line(2, 50))
    assert status == {'level': 2, 'slowms': 50, 'sample_rate': 1}
    canonical = '{"was":{"$numberInt":"1"},"slowms":{"$numberInt":"100"},"sampleRate":{"$numberDouble":"1.0"},"ok":1}'
    assert mongo_profiling_status(canonical)['level'] == 1
    assert mongo_profiling_plan({'level': 1, 'slowms': 200}, 1, 100)['message'] == 'level 1 → 1 (slowms 200 → 100)'
    assert mongo_profiling_indexes(INDEX_LINES)[0]['collection'] == 'games'
    for bad in ('', 'not json', '{"ok":0,"errmsg":"x"}'):
        with pytest.raises(Exception, match='profiling status'):
            mongo_profiling_status(bad)
    with pytest.raises(Exception, match='not one of'):
        mongo_profiling_plan(status, 3, 100)
