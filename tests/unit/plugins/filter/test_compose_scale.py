# SPDX-License-Identifier: GPL-3.0-or-later
"""The filters of the sequential restart and the multi-service scaling: names, targets,
steps, readiness and the check after scaling."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.compose_scale import (
    FilterModule,
    compose_scale_report,
    compose_service_list,
    compose_service_ready,
    running_counts,
    scale_mismatches,
    scale_plan,
    scale_targets,
)

QA = {
    'nginx': {'container': 'qa_arena_nginx_prod'},
    'backend': {'container': 'qa_arena_backend_prod'},
    'celery_worker': {'container': 'qa_arena_celery_worker_prod'},
}
FRAGRANCE = {'app': {}, 'worker-llm': {}, 'worker-rl': {}, 'redis': {}}
WORKERS = {
    'worker-llm': {'registered': 'worker llm registered', 'redis_keys': 'worker:llm:*', 'done': 'job done'},
    'worker-rl': {'registered': 'worker rl registered', 'redis_keys': 'worker:rl:*', 'done': 'job done'},
}


def row(service: str, number: int = 1, state: str = 'running', health: str = '') -> dict:
    return {
        'Service': service,
        'Name': f'fragrance-ai-{service}-{number}',
        'Project': 'fragrance-ai',
        'State': state,
        'Health': health,
        'Status': 'Up' if state == 'running' else 'Exited (1)',
    }


def live(service: str, count: int, rc: int = 0) -> dict:
    lines = [f'worker:{service[7:]}:{n:012x}' for n in range(count)]
    return {'item': {'key': service}, 'rc': rc, 'stdout_lines': lines, 'stderr': '' if rc == 0 else 'no redis'}


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        'compose_service_list',
        'compose_service_ready',
        'scale_targets',
        'running_counts',
        'scale_plan',
        'scale_mismatches',
        'compose_scale_report',
    }


@pytest.mark.parametrize(
    ('names', 'expected'),
    [
        (['backend', 'celery_worker', 'nginx'], ['backend', 'celery_worker', 'nginx']),
        ('backend, qa_arena_celery_worker_prod,nginx', ['backend', 'celery_worker', 'nginx']),
        ('nginx', ['nginx']),
        ('', []),
        (None, []),
        ([], []),
    ],
)
def test_service_list_keeps_the_order_and_takes_container_names(names, expected):
    assert compose_service_list(names, QA) == expected


@pytest.mark.parametrize(
    ('names', 'message'),
    [
        ('backend,bakend', "no compose service or container named 'bakend'"),
        ('backend,qa_arena_backend_prod', 'named more than once: backend'),
        (42, 'expected a list of services'),
    ],
)
def test_service_list_refuses_unknown_and_repeated_names(names, message):
    with pytest.raises(AnsibleFilterError, match=message):
        compose_service_list(names, QA)


@pytest.mark.parametrize(
    ('replicas', 'names', 'expected'),
    [
        (3, 'worker-llm', {'worker-llm': 3}),
        ('2', ['worker-llm', 'worker-rl'], {'worker-llm': 2, 'worker-rl': 2}),
        ({'worker-llm': 10, 'worker-rl': '4'}, [], {'worker-llm': 10, 'worker-rl': 4}),
        ('worker-llm=1, worker-rl=0', '', {'worker-llm': 1, 'worker-rl': 0}),
        ({'worker-rl': 1, 'worker-llm': 1}, 'worker-llm,worker-rl', {'worker-rl': 1, 'worker-llm': 1}),
    ],
)
def test_scale_targets(replicas, names, expected):
    targets = scale_targets(replicas, names, FRAGRANCE)
    assert targets == expected and list(targets) == list(expected)


@pytest.mark.parametrize(
    ('replicas', 'names', 'message'),
    [
        (3, '', 'no service to scale'),
        (-1, 'worker-llm', 'cannot be negative'),
        ('many', 'worker-llm', 'must be a whole number'),
        ({'worker-llm': 2}, 'worker-rl', 'give one of them'),
        ({'worker-gpu': 2}, '', "no compose service or container named 'worker-gpu'"),
        ('worker-llm=2,worker-rl', '', 'expected service=count pairs'),
        ({}, '', 'no service to scale'),
    ],
)
def test_scale_targets_refuses(replicas, names, message):
    with pytest.raises(AnsibleFilterError, match=message):
        scale_targets(replicas, names, FRAGRANCE)


def test_running_counts_count_running_containers_only():
    rows = [row('worker-llm', 1), row('worker-llm', 2), row('worker-llm', 3, 'exited'), row('app')]
    assert running_counts(rows, ['worker-llm', 'worker-rl']) == {'worker-llm': 2, 'worker-rl': 0}


def test_plan_goes_up_in_one_step_and_down_one_at_a_time_per_service():
    steps = scale_plan({'worker-llm': 1, 'worker-rl': 4}, {'worker-llm': 3, 'worker-rl': 2})
    assert [step['scale'] for step in steps] == [{'worker-llm': 3}, {'worker-rl': 3}, {'worker-rl': 2}]
    assert [step['label'] for step in steps] == ['worker-llm=3', 'worker-rl=3', 'worker-rl=2']
    # the wait comes between the downscale steps of a service, not after its last one
    assert [step['wait'] for step in steps] == [False, True, False]


def test_plan_of_one_service_keeps_the_count_as_label():
    steps = scale_plan({'worker-llm': 3}, {'worker-llm': 1})
    assert [(step['label'], step['wait']) for step in steps] == [('2', True), ('1', False)]


def test_emergency_takes_every_service_in_one_step():
    steps = scale_plan({'worker-llm': 3, 'worker-rl': 2, 'app': 1}, {'worker-llm': 1, 'worker-rl': 1, 'app': 1}, True)
    assert steps == [
        {'scale': {'worker-llm': 1, 'worker-rl': 1}, 'label': 'worker-llm=1, worker-rl=1', 'wait': False, 'up': False}
    ]


@pytest.mark.parametrize('emergency', [True, False])
def test_plan_at_the_target_is_empty(emergency):
    assert scale_plan({'worker-llm': 2, 'worker-rl': 1}, {'worker-llm': 2, 'worker-rl': 1}, emergency) == []


def test_scale_mismatches_name_each_service():
    rows = [row('worker-llm', 1), row('worker-rl', 1), row('worker-rl', 2)]
    assert scale_mismatches(rows, {'worker-llm': 1, 'worker-rl': 2}) == []
    assert scale_mismatches(rows, {'worker-llm': 3, 'worker-rl': 2}) == ['worker-llm has 1 running containers, not 3']


@pytest.mark.parametrize(
    ('rows', 'service', 'problem'),
    [
        ([row('backend', health='healthy')], 'backend', None),
        ([row('nginx')], 'nginx', None),  # no health check: running is enough
        ([row('backend', health='starting')], 'backend', 'fragrance-ai-backend-1 is running, health starting'),
        ([row('backend', health='unhealthy')], 'backend', 'fragrance-ai-backend-1 is running, health unhealthy'),
        ([row('backend', state='exited')], 'backend', 'fragrance-ai-backend-1 is exited: Exited (1)'),
        ([row('nginx')], 'backend', 'backend has no container'),
    ],
)
def test_a_service_is_ready_when_running_and_healthy(rows, service, problem):
    ready = compose_service_ready(rows, service)
    assert ready == {'ok': problem is None, 'problems': [problem] if problem else []}


LOGS = '\n'.join(
    [
        '\x1b[2Kworker-llm-1  | 2026-12-04T17:00:22 INFO 98812b910b7b job done: a',
        'worker-llm-2  | 2026-12-04T17:10:00 INFO 1a2b3c4d5e6f worker llm registered',
        'worker-llm-3  | 2026-12-04T17:10:00 INFO 2b3c4d5e6f7a worker llm registered',
        'worker-llm-2  | 2026-12-04T17:10:01 INFO 1a2b3c4d5e6f job done: b',
        'worker-llm-2  | 2026-12-04T17:10:01 INFO 1a2b3c4d5e6f job done: c',
        'worker-rl-1  | 2026-12-04T17:10:01 INFO 7ac2710c3f7a job done: d',
        'worker-llm-9  | 2026-12-04T17:10:01 INFO gone00000000 worker llm registered',
        'not a compose log line',
    ]
)


def test_report_after_an_upscale():
    before = [row('worker-llm', 1), row('worker-rl', 1)]
    after = [*before, row('worker-llm', 2), row('worker-llm', 3), row('redis')]
    status = {'queues': {'jobs:llm': 0, 'jobs:rl': 0}, 'findings': []}
    report = compose_scale_report(
        {'worker-llm': 3, 'worker-rl': 1},
        before,
        after,
        WORKERS,
        logs=LOGS,
        live=[live('worker-llm', 3), live('worker-rl', 1)],
        status=status,
    )
    llm = report['services']['worker-llm']
    assert llm['running'] == 3 and llm['live'] == 3
    assert llm['new'] == ['fragrance-ai-worker-llm-2', 'fragrance-ai-worker-llm-3']
    assert llm['registered'] == ['fragrance-ai-worker-llm-2', 'fragrance-ai-worker-llm-3']
    assert llm['jobs'] == {
        'fragrance-ai-worker-llm-1': 1,
        'fragrance-ai-worker-llm-2': 2,
        'fragrance-ai-worker-llm-3': 0,
    }
    assert report['services']['worker-rl'] == {
        'replicas': 1,
        'running': 1,
        'containers': ['fragrance-ai-worker-rl-1'],
        'new': [],
        'registered': [],
        'live': 1,
        'jobs': {'fragrance-ai-worker-rl-1': 1},
    }
    assert report['queues'] == {'jobs:llm': 0, 'jobs:rl': 0}
    assert report['lines'] == [
        'worker-llm: 3 of 3 running; 3 live registrations; new fragrance-ai-worker-llm-2, fragrance-ai-worker-llm-3;'
        ' registration lines since the start: fragrance-ai-worker-llm-2, fragrance-ai-worker-llm-3;'
        ' jobs done since the start: fragrance-ai-worker-llm-1 1, fragrance-ai-worker-llm-2 2,'
        ' fragrance-ai-worker-llm-3 0',
        'worker-rl: 1 of 1 running; 1 live registrations; registration lines since the start: none;'
        ' jobs done since the start: fragrance-ai-worker-rl-1 1',
        'queues: jobs:llm 0, jobs:rl 0',
    ]
    assert report['ok'], report['findings']
    assert [f['severity'] for f in report['findings']] == ['warning']  # llm-3 did no job while the others did 3
    assert 'fragrance-ai-worker-llm-3 did no job' in report['findings'][0]['problem']


def test_report_findings_are_critical_first():
    before = [row('worker-llm', 1)]
    after = [row('worker-llm', 1), row('worker-llm', 4)]
    status = {
        'queues': {'jobs:llm': 250},
        'findings': [{'severity': 'critical', 'service': 'queue jobs:llm', 'problem': 'queue jobs:llm: 250 jobs'}],
    }
    report = compose_scale_report(
        {'worker-llm': 3, 'worker-rl': 1},
        before,
        after,
        WORKERS,
        logs='',
        live=[live('worker-llm', 4), live('worker-rl', 0, rc=1)],
        status=status,
    )
    problems = [f['problem'] for f in report['findings']]
    assert not report['ok']
    assert 'worker-llm has 2 running containers, not 3' in problems
    assert 'fragrance-ai-worker-llm-4 started in this run but logged no registration line yet' in problems
    assert 'worker-llm: 4 live registrations (worker:llm:*) for 3 replicas' in problems
    assert 'worker-rl: live registrations (worker:rl:*) not read: no redis' in problems
    # F4: a backlog is why one scales up: a warning after adding replicas, not a failure.
    assert 'queue jobs:llm: 250 jobs (just scaled up: worker-llm)' in problems
    assert next(f for f in report['findings'] if f['service'] == 'queue jobs:llm')['severity'] == 'warning'
    assert report['queues'] == {'jobs:llm': 250}


def test_a_backlog_after_a_downscale_stays_critical():
    backlog = {'severity': 'critical', 'service': 'queue jobs:llm', 'problem': 'queue jobs:llm: 250 jobs'}
    status = {'findings': [backlog]}
    report = compose_scale_report({'app': 1}, [row('app', 1), row('app', 2)], [row('app', 1)], WORKERS, status=status)
    assert not report['ok'] and report['findings'][0]['problem'] == 'queue jobs:llm: 250 jobs'


def test_a_step_up_is_marked_so_its_backlog_does_not_stop_it():
    steps = scale_plan({'worker-llm': 1, 'app': 3}, {'worker-llm': 3, 'app': 2})
    assert [step['up'] for step in steps] == [True, False]


def test_report_of_a_service_that_is_not_a_worker_checks_the_containers_only():
    report = compose_scale_report({'app': 2}, [row('app', 1)], [row('app', 1), row('app', 2)], WORKERS)
    assert report == {
        'services': {'app': {'replicas': 2, 'running': 2, 'containers': ['fragrance-ai-app-1', 'fragrance-ai-app-2']}},
        'lines': ['app: 2 of 2 running'],
        'queues': {},
        'findings': [],
        'ok': True,
    }


def test_report_of_a_scale_to_zero_shows_the_stack_findings_as_warnings():
    status = {'findings': [{'severity': 'critical', 'service': 'health', 'problem': 'no llm worker'}]}
    report = compose_scale_report(
        {'worker-llm': 0}, [row('worker-llm')], [], WORKERS, live=[live('worker-llm', 0)], status=status
    )
    assert report['ok'], report['findings']
    assert report['findings'] == [
        {'severity': 'warning', 'service': 'health', 'problem': 'no llm worker (worker-llm at 0)'}
    ]
    assert report['services']['worker-llm']['running'] == 0


def test_report_without_redis_says_the_registrations_were_not_read():
    skipped = {'item': {'key': 'worker-llm'}, 'skipped': True}
    report = compose_scale_report({'worker-llm': 1}, [row('worker-llm')], [row('worker-llm')], WORKERS, live=[skipped])
    assert [f['problem'] for f in report['findings']] == [
        'worker-llm: live registrations (worker:llm:*) not read: no Redis service is described (compose_redis)'
    ]


def test_report_refuses_a_bad_pattern():
    with pytest.raises(AnsibleFilterError, match='not a regular expression'):
        compose_scale_report({'worker-llm': 1}, [], [row('worker-llm')], {'worker-llm': {'registered': '('}})
