# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of the PlayCode verification and diagnostics (runbook P2, P4-P8):
k8s_verify.yml and k8s_diagnose.yml run by ansible-playbook with inventories/playcode_lab
against the Kubernetes API stand-in (tests/standin/k8s_standin). They check what the roles
ask (reads only, also in check mode; commands in pods that pass the read-only guard) and
how they read the answers; they are not cluster tests.

Redis answers come from a real redis-server: the stand-in's `host` exec rule turns
`redis-cli ARGS` in the redis pod into `/usr/bin/redis-cli -p PORT ARGS`. MongoDB has no
server here: mongosh and df answers are canned (the shape of mongosh --json=relaxed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.filter.k8s_exec import k8s_readonly_command
from tests.support.k8s import k8s_standin, kubectl_binary
from tests.support.services import redis_server

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
IMAGE = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'
MONGOSH = ['mongosh', '--quiet', '--json=relaxed', '--eval']
HEALTH = ['wget', '-qO-', 'http://localhost:3000/health']
MONGO_ANSWERS = {
    'rs.status()': {
        'set': 'rs0',
        'ok': 1,
        'members': [
            {'name': 'mongodb-0.mongodb:27017', 'stateStr': 'PRIMARY', 'health': 1},
            {'name': 'mongodb-1.mongodb:27017', 'stateStr': 'RECOVERING', 'health': 1},
        ],
    },
    'db.serverStatus()': {
        'ok': 1,
        'version': '7.0.14',
        'uptime': 86400,
        'connections': {'current': 12, 'available': 800},
    },
    "db.currentOp({'secs_running': {'$gte': 3}})": {
        'ok': 1,
        'inprog': [{'opid': 4711, 'op': 'query', 'ns': 'playcode.rooms', 'secs_running': 7}],
    },
}
DF = 'Filesystem      Size  Used Avail Use% Mounted on\n/dev/nvme1n1     10G  9.3G  0.7G  93% /data/db\n'


@pytest.fixture(scope='module')
def redis_port(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp('redis')) as port:
        yield port


@pytest.fixture(scope='module')
def server():
    with k8s_standin() as running:
        yield running


@pytest.fixture
def k8s(server, redis_port):
    kubectl_binary()  # fails (not skips) with a clear message when kubectl 1.31 is missing
    server.reset()
    rules = [
        {'pod': 'mongodb-0', 'argv': [*MONGOSH, script], 'stdout': json.dumps(answer)}
        for script, answer in MONGO_ANSWERS.items()
    ]
    rules += [
        {'pod': 'mongodb-0', 'argv': ['df', '-h', '/data/db'], 'stdout': DF},
        {'labels': {'app': 'redis'}, 'prefix': ['redis-cli'], 'host': ['/usr/bin/redis-cli', '-p', str(redis_port)]},
        {'labels': {'app': 'playcode-app'}, 'argv': HEALTH, 'stdout': '{"status":"ok","mongodb":"up","redis":"up"}'},
    ]
    server.set_exec(rules)
    return server


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.out = proc.returncode, proc.stdout + proc.stderr
        recap = re.search(r'playcode-standin\s*:.*?changed=(\d+)', proc.stdout)
        self.changed = int(recap.group(1)) if recap else -1

    def __repr__(self) -> str:
        return f'rc={self.rc} changed={self.changed}\n{self.out[-6000:]}'


def play(k8s, playbook: str, *args: str, report_dir: Path | None = None) -> Run:
    env = {
        **os.environ,
        **k8s.env,
        'SRE_K8S_KUBECONFIG': str(k8s.kubeconfig),
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
        'SRE_REPORT_DIR': str(report_dir or k8s.workdir / 'reports'),
    }
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode_lab', f'playbooks/{playbook}', *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=240,
    )  # fmt: skip
    return Run(proc)


def reads_only(k8s) -> list:
    """The requests that were not reads: anything but a GET, and any exec the read-only guard refuses."""
    wrong = []
    for request in k8s.requests():
        if request['method'] != 'GET':
            wrong.append(request)
        elif 'exec' in request:
            try:
                k8s_readonly_command(request['exec']['argv'])
            except Exception:
                wrong.append(request)
    return wrong


def execs(k8s) -> list[list[str]]:
    return [request['exec']['argv'] for request in k8s.requests() if 'exec' in request]


def test_verify_a_healthy_deployment_reports_ok_with_its_log_and_changes_nothing(k8s):
    """API contract (P2): health asked inside a pod of the Deployment, the last 50 log lines, all pods
    with app=playcode-app Ready; read-only, changed=0."""
    k8s.requests(clear=True)
    run = play(k8s, 'k8s_verify.yml')
    assert run.rc == 0 and run.changed == 0, run
    assert 'playcode/playcode-app: /health OK, 2 pods Ready' in run.out, run
    assert '- no finding' in run.out and 'listening on port 3000' in run.out, run
    assert execs(k8s) == [HEALTH]
    assert reads_only(k8s) == []
    logs = [r for r in k8s.requests() if r['path'].endswith('/log')]
    assert logs and logs[0]['query'].get('tailLines') == '50'


def test_verify_fails_on_a_bad_health_answer_and_says_to_roll_back(k8s):
    """API contract (P2): a /health that answers an error fails the run with what to do."""
    k8s.set_exec([{'labels': {'app': 'playcode-app'}, 'argv': HEALTH, 'stderr': 'server returned error: 503', 'rc': 8}])
    run = play(k8s, 'k8s_verify.yml')
    assert run.rc != 0 and run.changed == 0, run
    assert '/health failed: exit 8: server returned error: 503' in run.out, run
    assert 'playbooks/k8s_rollback.yml' in run.out, run


def test_crashloop_reports_previous_logs_events_usage_and_the_rollback_command(k8s, tmp_path):
    """API contract (P4): a crash-looping revision: the pod's describe-like state, its events (read with
    fieldSelector involvedObject.name), the log of its previous container (previous=true), pod usage from
    the metrics API, node conditions, and the exact rollback command; the report file holds the same."""
    k8s.kubectl('set', 'image', 'deployment/playcode-app', f'playcode-app={IMAGE}:crashloop-1')
    k8s.set_metrics({'pods': {'playcode-app-*': {'cpu': '450m', 'memory': '300Mi'}}})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pods = k8s.get('/api/v1/namespaces/playcode/pods?labelSelector=app%3Dplaycode-app')['items']
        crashing = [
            p['metadata']['name']
            for p in pods
            if p['status'].get('containerStatuses', [{}])[0].get('state', {}).get('waiting', {}).get('reason')
            == 'CrashLoopBackOff'
        ]
        if crashing:
            break
        time.sleep(0.2)
    report = tmp_path / 'p4.md'
    k8s.requests(clear=True)
    run = play(k8s, 'k8s_diagnose.yml', '-e', 'checks=crashloop', '-e', f'report_path={report}')
    assert run.rc == 0 and run.changed == 0, run
    pod = crashing[0]
    text = report.read_text()
    assert f'critical pods: pod {pod} is in CrashLoopBackOff' in text, text
    assert 'waiting CrashLoopBackOff, last terminated Error exit 1' in text, text
    assert 'Error: failed to start: exit status 1' in text, text  # the previous container's log
    assert 'Warning BackOff' in text and 'Back-off restarting failed container' in text, text
    assert f'{pod}/playcode-app: cpu 450m, memory 300Mi' in text, text
    assert 'standin-node-1: Ready=True' in text, text
    assert re.search(r'Next: roll back to the previous revision: ansible-playbook -i \S+/inventories/playcode_lab '
                     r'playbooks/k8s_rollback.yml -e sre_confirm=playcode-app', text), text  # fmt: skip
    assert 'Error: failed to start' in run.out, run
    requests = k8s.requests()
    assert any(
        r['path'].endswith('/events') and r['query'].get('fieldSelector') == f'involvedObject.name={pod}'
        for r in requests
    )
    assert any(r['path'].endswith(f'/pods/{pod}/log') and r['query'].get('previous') == 'true' for r in requests)
    assert any(r['path'] == '/apis/metrics.k8s.io/v1beta1/namespaces/playcode/pods' for r in requests)
    assert reads_only(k8s) == [] and execs(k8s) == []


def test_real_redis_answers_are_parsed_and_an_absent_metrics_api_is_a_finding(k8s, redis_port):
    """API contract (P5, P7): ping, info (its persistence and memory sections), dbsize answered by a real
    redis-server; slow MongoDB operations and the HPA read; no metrics API is a finding, not an error."""
    for index in range(3):
        subprocess.run(
            ['redis-cli', '-p', str(redis_port), 'set', f'room:{index}', 'x'], check=True, capture_output=True
        )
    version = subprocess.run(
        ['redis-cli', '-p', str(redis_port), 'info', 'server'], check=True, capture_output=True, text=True
    ).stdout
    expected = re.search(r'redis_version:(\S+)', version).group(1)
    k8s.requests(clear=True)
    run = play(k8s, 'k8s_diagnose.yml', '-e', 'checks=redis,latency')
    assert run.rc == 0 and run.changed == 0, run
    for line in (
        'ping: PONG',
        f'redis {expected} (master): up',
        'persistence: aof off, last aof write ok, last bgsave ok',
        'keys: 3',
        'info redis: AOF is off',
        'info redis: no maxmemory set',
        'warning resources: metrics API not available',
        'playcode-app: 2 replicas (min 2, max 10), cpu 12%',
        'warning mongodb: op 4711 (query on playcode.rooms) running 7 s',
        'written to ',
    ):
        assert line in run.out, (line, run)
    assert sorted(map(tuple, execs(k8s))) == sorted([
        (*MONGOSH, "db.currentOp({'secs_running': {'$gte': 3}})"),
        ('redis-cli', 'info', 'memory'),
        ('redis-cli', 'ping'),
        ('redis-cli', 'info'),
        ('redis-cli', 'dbsize'),
    ])  # fmt: skip
    assert reads_only(k8s) == []


def test_mongodb_and_websocket_findings_check_mode_reads_only_and_a_rerun_changes_nothing(k8s, tmp_path):
    """API contract (P6, P8): rs.status with a RECOVERING member, a disk 93% full, the PVC Bound; an
    ingress whose proxy timeouts are short or unset, socket.io and Redis adapter errors in the logs.
    the run reports changed=0; the second run, in --check, sends only reads (GETs, and commands the
    read-only guard passes), writes no report and reports changed=0 too."""
    k8s.seed(
        {
            'apiVersion': 'networking.k8s.io/v1',
            'kind': 'Ingress',
            'metadata': {
                'name': 'playcode-app',
                'namespace': 'playcode',
                'annotations': {'nginx.ingress.kubernetes.io/proxy-read-timeout': '60'},
            },
            'spec': {'rules': [{'host': 'playcode.gg'}]},
        }
    )
    k8s.set_logs(
        {
            'playcode-app-*': [
                'GET /health 200',
                'socket.io: websocket error: connection reset by peer',
                'Redis adapter error: connect ECONNREFUSED 10.0.0.7:6379',
            ]
        }
    )
    run = play(k8s, 'k8s_diagnose.yml', '-e', 'checks=mongodb,websocket', report_dir=tmp_path)
    assert run.rc == 0 and run.changed == 0, run
    (report,) = tmp_path.iterdir()
    k8s.requests(clear=True)
    check = play(k8s, 'k8s_diagnose.yml', '-e', 'checks=mongodb,websocket', '--check', report_dir=tmp_path)
    assert check.rc == 0 and check.changed == 0, check
    assert 'would write (check mode)' in check.out, check
    assert reads_only(k8s) == [] and list(tmp_path.iterdir()) == [report]
    assert len(execs(k8s)) == 3
    text = report.read_text()
    for line in (
        'critical mongodb: member mongodb-1.mongodb:27017 is RECOVERING (health 1)',
        'critical mongodb: /data/db is 93% full',
        'pvc data-mongodb-0: Bound, 10Gi',
        'mongod 7.0.14: up 86400 s, connections 12 (available 800)',
        'warning websocket: ingress playcode-app proxy-read-timeout is 60 s (< 3600 s)',
        'warning websocket: ingress playcode-app proxy-send-timeout not set (nginx default 60 s)',
        'warning websocket: 2 socket/WebSocket error lines in the app logs',
        'warning websocket: 2 Redis adapter error lines in the app logs',
        'socket.io: websocket error: connection reset by peer',
    ):
        assert line in text, (line, text)


def test_unknown_check_stops_before_any_request(k8s):
    """Bad input: an unknown check names the known ones and nothing reaches the API server."""
    k8s.requests(clear=True)
    run = play(k8s, 'k8s_diagnose.yml', '-e', 'checks=crashloop,disk')
    assert run.rc != 0 and 'crashloop, latency, mongodb, redis, websocket' in run.out, run
    assert k8s.requests() == []
