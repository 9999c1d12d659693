# SPDX-License-Identifier: GPL-3.0-or-later
"""The read-only guard of commands run in a pod: the runbook's reads pass (P2, P4-P7,
P12), anything that writes or cannot be read is refused before it reaches the pod."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.k8s_exec import k8s_readonly_command

READS = [
    ['wget', '-qO-', 'http://localhost:3000/health'],
    ['wget', '-q', '-O-', '-T', '5', 'http://localhost:3000/health'],
    ['curl', '-fsS', '--max-time', '5', 'http://127.0.0.1:3000/health'],
    ['date'],
    ['df', '-h', '/data/db'],
    ['cat', '/proc/meminfo'],
    ['redis-cli', 'ping'],
    ['redis-cli', '-p', '6379', 'info', 'persistence'],
    ['redis-cli', 'dbsize'],
    ['mongosh', '--eval', 'rs.status()'],
    ['mongosh', '--eval', 'db.serverStatus()'],
    ['mongosh', '--eval', "db.currentOp({'secs_running': {'$gte': 3}})"],
    ['mongosh', 'userdb', '--eval', 'db.getCollectionNames().forEach(c => printjson(db[c].getIndexes()))'],
    ['mongosh', '--eval', 'db.getProfilingStatus()'],
    ['mongosh', '--quiet', '--eval', 'db.adminCommand({listDatabases: 1})'],
    ['mongosh', '--eval', 'db.users.aggregate([{$group: {_id: null, n: {$sum: 1}}}])'],
]
WRITES = [
    (['mongosh', '--eval', 'db.setProfilingLevel(1, { slowms: 100 })'], 'setProfilingLevel'),
    (['mongosh', '--eval', 'db.users.drop()'], 'drop'),
    (['mongosh', '--eval', 'db.adminCommand({shutdown: 1})'], "'shutdown'"),
    (['mongosh', '--eval', 'db.x.aggregate([{$out: "y"}])'], '$out'),
    (['mongosh', 'restore.js'], 'without --eval'),
    (['mongorestore', '--drop', '/tmp/restore'], 'mongorestore is not a known read'),
    (['redis-cli', 'FLUSHALL'], 'not a known read'),
    (['redis-cli', 'config', 'set', 'maxmemory', '1gb'], 'not a known read'),
    (['redis-cli', '-a', 's3cret', 'ping'], 'password'),
    (['sh', '-c', 'wget -qO- http://localhost:3000/health'], 'sh is not a known read'),
    (['rm', '-rf', '/data/db'], 'rm is not a known read'),
    (['wget', '-qO-', 'http://example.com/'], 'to the pod itself'),
    (['curl', '-X', 'POST', 'http://localhost:3000/admin'], 'the option -X'),
    (['curl', '-dfoo', 'http://localhost:3000/admin'], 'the option -dfoo'),
    (['curl', '--data-binary', '@x', 'http://localhost:3000/admin'], 'the option --data-binary'),
    (['wget', '--method=DELETE', 'http://localhost:3000/x'], 'the option --method=DELETE'),
    (['wget', '-qO', '/app/server.js', 'http://localhost:3000/health'], 'the option -qO'),
    (['curl', '-o', '/tmp/x', 'http://localhost:3000/health'], 'the option -o'),
    (['date', '-s', '2020-01-01'], 'date with arguments'),
    (['hostname', 'other'], 'hostname with arguments'),
    (['mongosh', '--eval', 'rs.stepDown()'], 'rs.stepDown'),
    (['mongosh', '--eval', 'rs.reconfig(cfg)'], 'rs.reconfig'),
    (['mongosh', '--eval', 'db.users["deleteMany"]({})'], 'cannot be read'),
    (['mongosh', '--eval', 'db.users.mapReduce(m, r, {out: "x"})'], 'mapReduce'),
    (['mongosh', '--eval', 'load("/tmp/x.js")'], 'load'),
    (['mongosh', '--password', 's3cret', '--eval', 'rs.status()'], 'password'),
    (['mongosh', 'mongodb://root:s3cret@localhost/admin', '--eval', 'rs.status()'], 'credentials'),
    (['cat', '/etc/shadow'], '/proc and /sys'),
]


@pytest.mark.parametrize('argv', READS, ids=lambda argv: ' '.join(argv)[:40])
def test_the_runbooks_reads_pass_quoted(argv):
    assert k8s_readonly_command(argv).startswith(argv[0])


@pytest.mark.parametrize(('argv', 'why'), WRITES, ids=lambda value: str(value)[:40])
def test_writes_and_unreadable_commands_are_refused(argv, why):
    with pytest.raises(AnsibleFilterError, match='refused to run in the pod as read-only') as refused:
        k8s_readonly_command(argv)
    assert why in str(refused.value)


@pytest.mark.parametrize('value', ['wget -qO- http://localhost:3000/health', [], None])
def test_the_command_is_a_list_of_words(value):
    with pytest.raises(AnsibleFilterError, match='non-empty list'):
        k8s_readonly_command(value)
