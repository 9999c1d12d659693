# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose status's health fields and Redis INFO (Fragrance AI F1, F2) and the
weekly scan of the backend's logs (QA-Arena Q10), against the lab's real stacks: a
worker kind scaled to 0 with the collection's compose module, real ERROR lines,
5xx answers and a Traceback of the app."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from .conftest import task_results

QA, FRAGRANCE = 'qa-arena', 'fragrance-ai'
FRAGRANCE_URL = 'http://172.30.53.20'
APP = 'fragrance-ai-app-1'
ZERO_RL = 'workers rl: 0 running, at least 1 expected (services.workers.rl); its jobs are not being processed'


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=check)


def workers() -> dict:
    try:
        with urllib.request.urlopen(f'{FRAGRANCE_URL}/health', timeout=5) as answer:
            return json.load(answer)['services']['workers']
    except (OSError, ValueError, KeyError):
        return {}


def wait_for_workers(wanted: Callable[[dict], bool], seconds: float = 20) -> dict:
    """The worker counts of the health answer once `wanted` holds (heartbeats of a
    stopped worker live 5 s more)."""
    deadline = time.monotonic() + seconds
    while not wanted(now := workers()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return now


def scale_rl(lab, replicas: int):
    args = {
        'project_src': '/home/ubuntu/fragrance-ai',
        'files': ['docker-compose.production.yml'],
        'services': ['worker-rl'],
        'scale': {'worker-rl': replicas},
        'dependencies': False,
        'timeout': 1,
    }
    return lab.module('sre.runbooks.compose', json.dumps(args), pattern=FRAGRANCE)


def status_of(runner) -> dict[str, dict]:
    return {
        host: res['ansible_facts']['compose_status']
        for host, res in task_results(runner, 'Put the status together').items()
    }


@pytest.fixture
def no_rl_worker(lab) -> Iterator[None]:
    """worker-rl scaled to 0 through sre.runbooks.compose, back to 1 afterwards."""
    try:
        down = scale_rl(lab, 0)
        assert down.rc == 0, down.stdout.read()
        assert wait_for_workers(lambda counts: counts.get('rl') == 0).get('rl') == 0
        yield
    finally:
        up = scale_rl(lab, 1)
        assert up.rc == 0, up.stdout.read()
        assert wait_for_workers(lambda counts: counts.get('rl', 0) >= 1).get('rl', 0) >= 1


def test_status_reports_redis_info_and_the_workers(lab):
    runner = lab.playbook('compose_status.yml')
    assert runner.rc == 0, runner.stdout.read()
    assert runner.stats['changed'] == {}
    status = status_of(runner)
    fragrance, qa = status[FRAGRANCE], status[QA]
    assert fragrance['ok'] and qa['ok']
    assert fragrance['health_services']['services.database'] == 'healthy'
    assert fragrance['health_services']['services.redis'] == 'healthy'
    assert set(fragrance['health_services']['services.workers']) == {'llm', 'rl'}
    assert qa['health_services']['services.workers'] == {'celery': 1}  # QA-Arena's own worker kind
    for stack in (fragrance, qa):
        info = stack['redis_info']
        # The app and the workers are clients; a worker between two BLPOPs is not blocked.
        assert info['connected_clients'] >= 1 and info['blocked_clients'] >= 0
        assert info['used_memory'] > 0 and info['used_memory_human']
        assert {'redis clients', 'redis memory'} <= {c['name'] for c in stack['checks']}
        assert stack['findings'] == []
    shown = task_results(runner, 'Show the status')[FRAGRANCE]['msg']
    assert any(line.startswith('redis: ') and 'clients connected' in line for line in shown)
    assert 'health services.workers.rl ok=True' in shown


def test_a_worker_kind_with_no_worker_is_a_finding(lab, no_rl_worker):
    runner = lab.playbook('compose_status.yml', cmdline=f'-l {FRAGRANCE}')
    assert runner.rc != 0  # critical: the rl jobs are not processed
    status = status_of(runner)[FRAGRANCE]
    assert status['health_services']['services.workers']['rl'] == 0
    assert {'severity': 'critical', 'service': 'workers', 'problem': ZERO_RL} in status['findings']
    failed = task_results(runner, 'Stop when the stack has a critical finding')[FRAGRANCE]['msg']
    assert ZERO_RL in failed


def test_weekly_check_reports_errors_5xx_and_tracebacks_of_the_backend(lab):
    docker('exec', APP, 'curl', '-s', '-o', '/dev/null', 'http://localhost:8000/no-such-page')  # a 404, not a finding
    # A real 500 and ERROR line: /api/items while its table is away (for a moment).
    sql = ['exec', 'fragrance-ai-postgres-1', 'psql', '-U', 'fragrance_user', '-d', 'fragrance_ai', '-qAtc']
    docker(*sql, 'ALTER TABLE items RENAME TO items_away')
    try:
        answer = docker(
            'exec', APP, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://localhost:8000/api/items'
        )
        assert answer.stdout == '500'
    finally:
        docker(*sql, 'ALTER TABLE items_away RENAME TO items')
    # A real Traceback: a Content-Length the server cannot read.
    docker(
        'exec',
        APP,
        'curl',
        '-s',
        '-m',
        '3',
        '-X',
        'POST',
        '-H',
        'Content-Length: x',
        'http://localhost:8000/api/jobs/llm',
        check=False,
    )

    runner = lab.playbook('weekly_check.yml', cmdline=f'-l {FRAGRANCE}')
    findings = task_results(runner, 'Put the findings together')[FRAGRANCE]['ansible_facts']['compose_checks_findings']
    app = {f['problem'].split(' in its last ')[0]: f['severity'] for f in findings if f['service'] == 'app'}
    assert any(problem.endswith('Traceback(s)') for problem in app)
    assert any(problem.endswith('ERROR line(s)') for problem in app)
    assert any('logged responses were 5xx' in problem for problem in app)
    assert set(app.values()) == {'warning'}
    assert runner.rc == 0 or any(f['severity'] == 'critical' and f['service'] != 'app' for f in findings)

    with open(task_results(runner, 'Write the report')[FRAGRANCE]['dest']) as handle:
        report = handle.read()
    assert '### Backend logs' in report
    row = next(line for line in report.splitlines() if line.startswith('| app | ') and line.count('|') == 8)
    lines, errors, tracebacks, requests, http_4xx, http_5xx = (int(cell) for cell in row.strip('|').split('|')[1:])
    assert errors >= 1 and tracebacks >= 1 and http_5xx >= 1 and http_4xx >= 1 and requests >= 3 and lines > 0
    assert "Traceback (most recent call last): ... ValueError: invalid literal for int() with base 10: 'x'" in report
    assert '| warning | app |' in report
