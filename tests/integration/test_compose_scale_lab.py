# SPDX-License-Identifier: GPL-3.0-or-later
"""The runs over several compose services against the lab's real stacks: QA-Arena's
sequential restart (Q3, the guide's 2.3: backend, celery_worker, nginx, each healthy
before the next) and Fragrance AI's scaling of worker-llm and worker-rl together (F4),
then the emergency downscale (F5), with the check of registrations and queues."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import task_results

QA, FRAGRANCE = 'qa-arena', 'fragrance-ai'
SEQUENCE = ['qa_arena_backend_prod', 'qa_arena_celery_worker_prod', 'qa_arena_nginx_prod']
WORKERS = ('worker-llm', 'worker-rl')
REPORT = 'Check after scaling | Put the findings together'
# Bounded stops: a container that ignored SIGTERM would hold each step for compose's 10 s.
FAST = {'compose_service_stop_timeout': 1}


def docker(*args: str) -> str:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=True).stdout.strip()


def started(project: str) -> dict[str, tuple[str, str]]:
    """Container name -> (ID, start time) of a compose project's running containers."""
    ids = docker('ps', '-q', '--filter', f'label=com.docker.compose.project={project}').split()
    lines = docker('inspect', '-f', '{{.Name}} {{.Id}} {{.State.StartedAt}}', *ids).splitlines()
    return {name.lstrip('/'): (cid, at) for name, cid, at in (line.split() for line in lines)}


def replicas() -> dict[str, int]:
    names = docker('ps', '--filter', 'label=com.docker.compose.project=fragrance-ai', '--format', '{{.Names}}')
    return {worker: len([n for n in names.split() if f'-{worker}-' in n]) for worker in WORKERS}


def changed(runner, host: str) -> int:
    return runner.stats['changed'].get(host, 0)


def test_sequential_restart_goes_in_order_and_stops_at_the_first_unhealthy(lab):
    before = started('qa_labs')
    predicted = lab.playbook('compose_restart.yml', extravars={'sequence': True, **FAST}, cmdline=f'-l {QA} --check')
    assert predicted.rc == 0, predicted.stdout.read()
    assert changed(predicted, QA) == 3
    assert started('qa_labs') == before  # check mode touched nothing

    # The backend's health check needs ~10 s after a restart: with 2 s allowed the
    # sequence stops at the backend, naming it, and leaves celery_worker and nginx alone.
    stopped = lab.playbook(
        'compose_restart.yml',
        extravars={'sequence': True, 'compose_service_healthy_within': 2, **FAST},
        cmdline=f'-l {QA}',
    )
    assert stopped.rc != 0
    message = task_results(stopped, 'Stop here, naming the service that did not become healthy')[QA]['msg']
    assert message.startswith('backend (qa_arena_backend_prod) did not become healthy within 2 s'), message
    assert 'Not touched (the sequence stops here): celery_worker, nginx.' in message
    assert 'docker logs qa_arena_backend_prod --tail 200' in message
    halfway = started('qa_labs')
    assert halfway['qa_arena_backend_prod'][1] > before['qa_arena_backend_prod'][1]
    assert {n: t for n, t in halfway.items() if n != 'qa_arena_backend_prod'} == {
        n: t for n, t in before.items() if n != 'qa_arena_backend_prod'
    }

    runner = lab.playbook('compose_restart.yml', extravars={'sequence': True, **FAST}, cmdline=f'-l {QA}')
    assert runner.rc == 0, runner.stdout.read()
    assert changed(runner, QA) == 3
    after = started('qa_labs')
    assert {n: ids[0] for n, ids in after.items()} == {n: ids[0] for n, ids in before.items()}  # same IDs
    times = [after[name][1] for name in SEQUENCE]
    assert times == sorted(times) and len(set(times)) == 3  # backend, then celery_worker, then nginx
    assert all(after[name][1] > halfway[name][1] for name in SEQUENCE)
    assert {n: t for n, t in after.items() if n not in SEQUENCE} == {
        n: t for n, t in before.items() if n not in SEQUENCE
    }


@pytest.fixture
def original_replicas(lab):
    """The workers' replica counts before the test, put back after it."""
    original = replicas()
    yield original
    if replicas() != original:
        lab.playbook(
            'scale.yml', extravars={'replicas': original, 'emergency': True, **FAST}, cmdline=f'-l {FRAGRANCE}'
        )
    assert replicas() == original


def test_scale_two_workers_up_then_emergency_down_with_the_checks(lab, original_replicas):
    assert original_replicas == {'worker-llm': 1, 'worker-rl': 1}
    up = lab.playbook(
        'scale.yml',
        extravars={'services': 'worker-llm,worker-rl', 'replicas': 2, 'step_wait': 1, **FAST},
        cmdline=f'-l {FRAGRANCE}',
    )
    assert up.rc == 0, up.stdout.read()
    assert replicas() == {'worker-llm': 2, 'worker-rl': 2}
    report = task_results(up, REPORT)[FRAGRANCE]['ansible_facts']['compose_service_scale_report']
    assert report['ok'], report['findings']
    for worker in WORKERS:
        entry = report['services'][worker]
        assert entry['running'] == entry['live'] == 2  # live registrations in Redis match the replicas
        assert len(entry['new']) == 1 and set(entry['new']) <= set(entry['registered'])  # the new one registered
        assert set(entry['jobs']) == set(entry['containers'])  # the spread covers every replica
    assert set(report['queues']) == {'jobs:llm', 'jobs:rl'}

    down = lab.playbook(
        'scale.yml',
        extravars={'replicas': {'worker-llm': 1, 'worker-rl': 1}, 'emergency': True, **FAST},
        cmdline=f'-l {FRAGRANCE}',
    )
    assert down.rc == 0, down.stdout.read()
    steps = [
        event['event_data']['task']
        for event in down.events
        if event['event'] == 'runner_on_ok' and event['event_data'].get('task', '').startswith('Scale the service to')
    ]
    assert steps == ['Scale the service to worker-llm=1, worker-rl=1']  # straight there, both in one step
    assert replicas() == {'worker-llm': 1, 'worker-rl': 1}
    report = task_results(down, REPORT)[FRAGRANCE]['ansible_facts']['compose_service_scale_report']
    assert report['ok'], report['findings']
    # the removed workers' heartbeats have lapsed: one live registration each
    assert {w: (e['running'], e['live']) for w, e in report['services'].items()} == {w: (1, 1) for w in WORKERS}
    assert all(length <= 100 for length in report['queues'].values())
