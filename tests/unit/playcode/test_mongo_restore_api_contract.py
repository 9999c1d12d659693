# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of the PlayCode MongoDB restore (runbook P11): playbooks/mongo_restore.yml run by
ansible-playbook with inventories/playcode_lab against the Kubernetes API stand-in. No MongoDB server
or mongorestore exists here: the pod's answers are canned per test (``set_exec``) as a real server
would give them at each point, so these tests check the SEQUENCE of requests and the GUARDS (what is
sent, in which order, what is refused before what), not MongoDB. Real: the archive store (kind dir),
its verification on the controller (manifest, sha256, gzip -t), the command policy, kubernetes.core
against the stand-in's REST API."""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.filter.mongo_restore import mongo_restore_command_words
from ansible_collections.sre.runbooks.plugins.module_utils._backup import write_manifest
from tests.support.k8s import k8s_standin, kubectl_binary

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
WRITES = ('POST', 'PUT', 'PATCH', 'DELETE')
ARCHIVE = 'playcode_backup_20261205030000.gz'
COUNTS = {'users': 3, 'games': 2}
PASSWORD = base64.b64decode('c3RhbmRpbi1ub3QtYS1zZWNyZXQ=').decode()  # the seed's mongodb-secret password
WORDS = {'database': 'playcode', 'scratch': 'playcode_restore', 'marker_database': 'sre_runbooks'}
STATE = mongo_restore_command_words('state', **WORDS)
ENV = [
    {'name': 'MONGO_USER', 'valueFrom': {'secretKeyRef': {'name': 'mongodb-secret', 'key': 'username'}}},
    {'name': 'MONGO_PASSWORD', 'valueFrom': {'secretKeyRef': {'name': 'mongodb-secret', 'key': 'password'}}},
]


@pytest.fixture(scope='module')
def server():
    with k8s_standin() as running:
        yield running


def with_credentials(server):
    """Back to the seed, with the credential variables the restore needs on the StatefulSet's container."""
    server.reset()
    sts = server.get('/apis/apps/v1/namespaces/playcode/statefulsets/mongodb')
    sts['spec']['template']['spec']['containers'][0]['env'] = ENV
    for key in ('resourceVersion', 'uid', 'creationTimestamp', 'generation'):
        sts['metadata'].pop(key, None)
    server.seed(sts)
    return server


@pytest.fixture
def k8s(server):
    kubectl_binary()
    return with_credentials(server)


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / 'store')


def make_store(directory: Path) -> Path:
    """A store of kind dir with one archive, its checksum and manifest (what pg_backup's manifest holds)."""
    directory.mkdir()
    path = directory / ARCHIVE
    path.write_bytes(gzip.compress(b'mongodump --archive stand-in: the bytes are not a real dump\n' * 50))
    write_manifest(
        str(path),
        'playcode',
        'mongodump_archive',
        tables={f'playcode.{name}': count for name, count in COUNTS.items()},
        validation={'method': 'stand-in', 'ok': True},
        server_version='7.0',
        duration_s=0.1,
        created_at=datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.timezone.utc),
    )
    return directory


def sha256(store: Path) -> str:
    return json.loads((store / f'{ARCHIVE}.manifest.json').read_text())['sha256']


def state(live: dict, scratch: dict | None = None, mark: dict | None = None) -> str:
    return json.dumps({'live': live, 'scratch': scratch, 'mark': mark, 'databases': ['admin', 'playcode']})


def answers(k8s, before: str, after_swap: str | None = None) -> None:
    """The pod's canned answers: the state read, then (prefix rules) the k8s_cp probe and copy,
    mongorestore in sh -c (which removes the archive), mongosh's drop and swap."""
    k8s.set_exec(
        [
            {'pod': 'mongodb-0', 'argv': STATE, 'stdout': before + '\n'},
            {'pod': 'mongodb-0', 'prefix': ['test', '-e'], 'rc': 1},
            {'pod': 'mongodb-0', 'prefix': ['/bin/sh', '-c', 'command -v head'], 'stdout': '/usr/bin/head\n'},
            {'pod': 'mongodb-0', 'prefix': ['/bin/sh', '-c'], 'stdout': ''},
            {'pod': 'mongodb-0', 'prefix': ['tar'], 'stdout': ''},
            {'pod': 'mongodb-0', 'prefix': ['sh', '-c'], 'stdout': ''},
            {'pod': 'mongodb-0', 'prefix': ['mongosh'], 'stdout': (after_swap or '') + '\n'},
        ]
    )


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.out = proc.returncode, proc.stdout + proc.stderr
        recap = re.search(r'playcode-standin\s*:.*?changed=(\d+)', proc.stdout)
        self.changed = int(recap.group(1)) if recap else -1

    def __repr__(self) -> str:
        return f'rc={self.rc} changed={self.changed}\n{self.out[-12000:]}'


def play(k8s, store: Path, *args: str) -> Run:
    env = {
        **os.environ,
        **k8s.env,
        'SRE_K8S_KUBECONFIG': str(k8s.kubeconfig),
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
    }
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode_lab', 'playbooks/mongo_restore.yml', '-e', f'store={store}',
         '-e', 'backup_job_name=manual-backup-restore-test', *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    return Run(proc)


def execs(requests: list[dict]) -> list[list[str]]:
    return [each['exec']['argv'] for each in requests if each.get('exec')]


def step(argv: list[str]) -> str:
    """What an exec of the restore is, from its command."""
    text = ' '.join(argv)
    for name, mark in (
        ('state', 'JSON.stringify'),
        ('drop_scratch', 'dropDatabase'),
        ('swap', 'renameCollection'),
        ('restore', 'mongorestore'),
        ('cp', 'tar'),
        ('probe', 'command -v head'),
        ('probe', 'test -e'),
    ):
        if mark in text:
            return 'swap' if name == 'state' and 'renameCollection' in text else name
    return text


def changes(requests: list[dict]) -> list[dict]:
    """The requests that changed something (a write without dryRun=All), but the run lock's own
    ConfigMap (taken after the confirmation, given back at the end)."""
    return [
        each
        for each in requests
        if each['method'] in WRITES
        and (each.get('query') or {}).get('dryRun') != 'All'
        and not re.search(r'/configmaps(/sre-runbooks-lock-[\w-]+)?$', each['path'])
    ]


def test_restore_sequence_guards_then_scratch_verify_swap_and_rerun_changes_nothing(k8s, store):
    """API contract (P11): backup Job first, archive copied, stale scratch dropped, mongorestore into
    playcode_restore (--nsFrom/--nsTo, no --drop), verified, swapped; rerun changed=0. The Secret's
    password is in no recorded request (argv, query, path) and not in Ansible's output (-v)."""
    done = state(dict(COUNTS), None, {'archive': ARCHIVE, 'sha256': sha256(store)})
    answers(k8s, state({'users': 1}, dict(COUNTS)), done)
    k8s.requests(clear=True)
    run = play(k8s, store, '-v')
    assert run.rc == 0 and run.changed >= 4, run
    requests = k8s.requests()
    assert PASSWORD not in json.dumps(requests)
    assert PASSWORD not in run.out and base64.b64encode(PASSWORD.encode()).decode() not in run.out
    steps = [step(argv) for argv in execs(requests)]
    assert [name for name in steps if name not in ('probe', 'cp')] == [
        'state', 'drop_scratch', 'restore', 'state', 'swap'
    ], steps  # fmt: skip
    backup = [each for each in requests if each['method'] == 'POST' and each['path'].endswith('/jobs')]
    first_change_exec = next(i for i, each in enumerate(requests) if each.get('exec') and step(each['exec']['argv'])
                             == 'drop_scratch')  # fmt: skip
    assert requests.index(backup[0]) < first_change_exec
    restore = next(argv for argv in execs(requests) if step(argv) == 'restore')
    script = restore[2]
    assert "--nsFrom='playcode.*'" in script and "--nsTo='playcode_restore.*'" in script, script
    assert '--drop' not in script and '--password' not in script
    assert 'playcode is the restore of playcode_backup_20261205030000.gz' in run.out, run
    k8s.requests(clear=True)
    answers(k8s, done)
    again = play(k8s, store)
    assert again.rc == 0 and again.changed == 0, again
    assert 'already is the restore of this archive' in again.out, again
    assert [step(argv) for argv in execs(k8s.requests())] == ['state']
    assert changes(k8s.requests()) == []


def test_check_mode_only_reads_and_dry_runs(k8s, store):
    """--check (on production, confirmed): the state read is the only exec; the backup Job is a dry run;
    nothing changes."""
    answers(k8s, state({'users': 1}, None))
    k8s.requests(clear=True)
    run = play(k8s, store, '--check', '-e', 'sre_environment=production', '-e', 'sre_confirm=playcode')
    assert run.rc == 0 and run.changed >= 1, run
    assert 'Would copy' in run.out, run
    assert [step(argv) for argv in execs(k8s.requests())] == ['state']
    assert changes(k8s.requests()) == []


@pytest.mark.parametrize('damage', ['checksum', 'gzip', 'missing'])
def test_a_corrupt_or_missing_archive_is_refused_before_any_request(k8s, store, damage):
    """A changed archive (sha256), a manifest over a broken gzip stream, or an archive not in the store:
    refused on the controller before any read of the cluster and any exec (only the run lock was taken)."""
    path = store / ARCHIVE
    args: tuple[str, ...] = ()
    if damage == 'checksum':
        path.write_bytes(path.read_bytes()[:-8] + b'\0' * 8)
    elif damage == 'gzip':
        path.write_bytes(b'not gzip at all')
        manifest = json.loads((store / f'{ARCHIVE}.manifest.json').read_text())
        write_manifest(str(path), 'playcode', 'mongodump_archive', tables=manifest['tables'],
                       validation={'ok': True}, server_version='7.0', duration_s=0.1)  # fmt: skip
    else:
        args = ('-e', 'archive=playcode_backup_20990101000000.gz')
    k8s.requests(clear=True)
    run = play(k8s, store, *args)
    assert run.rc != 0 and 'Nothing was restored and the cluster was not contacted' in run.out, run
    expected = {'checksum': 'does not match', 'gzip': 'gzip -t', 'missing': 'is not in the store'}[damage]
    assert expected in run.out, run
    assert changes(k8s.requests()) == [] and execs(k8s.requests()) == []
    assert [each['path'] for each in k8s.requests() if '/namespaces/' in each['path']
            and 'configmaps' not in each['path']] == []  # fmt: skip


def test_production_without_confirmation_is_refused_before_any_request(k8s, store):
    """An environment that counts as production (also an unknown one) needs -e sre_confirm=playcode."""
    k8s.requests(clear=True)
    for environment in ('production', 'somewhere'):
        run = play(k8s, store, '-e', f'sre_environment={environment}')
        assert run.rc != 0 and 'sre_confirm' in run.out, run
    assert k8s.requests() == []


def test_a_count_mismatch_in_the_scratch_database_stops_before_the_swap(k8s, store):
    """The scratch database lacks documents: the run stops, no swap exec, the live data untouched."""
    answers(k8s, state({'users': 1}, {'users': 3, 'games': 1}))
    k8s.requests(clear=True)
    run = play(k8s, store)
    assert run.rc != 0 and 'games: 1 documents, the archive 2' in run.out and 'was not touched' in run.out, run
    assert 'swap' not in [step(argv) for argv in execs(k8s.requests())]


def test_credentials_must_come_from_the_secret_as_environment(k8s, store):
    """A StatefulSet whose container lacks MONGO_USER/MONGO_PASSWORD from the Secret is refused, saying the
    lines to add, before anything changes."""
    sts = k8s.get('/apis/apps/v1/namespaces/playcode/statefulsets/mongodb')
    sts['spec']['template']['spec']['containers'][0].pop('env')
    for key in ('resourceVersion', 'uid', 'creationTimestamp', 'generation'):
        sts['metadata'].pop(key, None)
    k8s.seed(sts)
    k8s.requests(clear=True)
    run = play(k8s, store)
    assert run.rc != 0 and 'secretKeyRef: {name: mongodb-secret' in run.out, run
    assert changes(k8s.requests()) == [] and execs(k8s.requests()) == []
