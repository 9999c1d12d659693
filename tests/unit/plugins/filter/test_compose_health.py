# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose health filters: the health answer's service fields (F1), Redis INFO
(F2), the status they extend, and the backend's log scan (Q10)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.compose import compose_status_summary
from ansible_collections.sre.runbooks.plugins.filter.compose_health import (
    FilterModule,
    compose_health_fields,
    compose_log_findings,
    compose_log_scan,
    compose_redis_info,
    compose_status_extend,
    redis_info,
)

# Runbook F1's answer, as the lab app gives it.
F1 = {
    'status': 'healthy',
    'version': 'v0.2.0',
    'services': {
        'database': 'healthy',
        'redis': 'healthy',
        'workers': {'llm': 2, 'rl': 1},
        'queues': {'llm': 0, 'rl': 0},
    },
}
REQUIRED = [
    {'path': 'services.database', 'required': True},
    {'path': 'services.redis', 'required': True},
    {'path': 'services.workers', 'type': 'counts', 'keys': ['llm', 'rl'], 'required': True},
]


def with_services(**services):
    return {**F1, 'services': {**F1['services'], **services}}


def problems(result):
    return [f['problem'] for f in result['findings']]


def test_healthy_answer_has_a_check_per_field_and_worker_kind_and_no_finding():
    result = compose_health_fields(F1)
    assert result['findings'] == []
    assert [(c['name'], c['ok'], c['detail']) for c in result['checks']] == [
        ('health services.database', True, 'healthy'),
        ('health services.redis', True, 'healthy'),
        ('health services.workers.llm', True, '2 running'),
        ('health services.workers.rl', True, '1 running'),
    ]
    assert result['values']['services.workers'] == {'llm': 2, 'rl': 1}


@pytest.mark.parametrize(
    ('services', 'service', 'problem'),
    [
        ({'database': 'unhealthy'}, 'database', "database is 'unhealthy' in the health answer"),
        ({'redis': 'unhealthy'}, 'redis', "redis is 'unhealthy' in the health answer (services.redis)"),
        ({'workers': {'llm': 2, 'rl': 0}}, 'workers', 'workers rl: 0 running, at least 1 expected'),
        ({'workers': {'llm': '0', 'rl': 1}}, 'workers', 'workers llm: 0 running'),
        ({'workers': {'llm': 'down', 'rl': 1}}, 'workers', "workers llm is 'down' in the health answer"),
        ({'workers': 3}, 'workers', 'services.workers is 3, not a count map'),
    ],
)
def test_a_bad_field_is_a_critical_finding_naming_it(services, service, problem):
    result = compose_health_fields(with_services(**services))
    assert len(result['findings']) == 1
    finding = result['findings'][0]
    assert finding['severity'] == 'critical' and finding['service'] == service
    assert problem in finding['problem']


def test_a_word_in_expect_is_accepted_for_a_worker_and_expect_takes_a_list():
    document = with_services(database='ok', workers={'llm': 'ok', 'rl': 1})
    fields = [
        {'path': 'services.database', 'expect': ['healthy', 'ok']},
        {'path': 'services.workers', 'type': 'counts', 'expect': 'ok'},
    ]
    assert compose_health_fields(document, fields)['findings'] == []


def test_min_keys_severity_and_label_are_per_field():
    fields = [
        {
            'path': 'services.workers',
            'type': 'counts',
            'min': 2,
            'keys': ['llm', 'rl', 'tts'],
            'severity': 'warning',
            'label': 'worker',
        }
    ]
    result = compose_health_fields(F1, fields)
    assert {f['severity'] for f in result['findings']} == {'warning'}
    assert problems(result) == [
        'worker tts: not in the health answer (services.workers lists llm, rl)',
        'worker rl: 1 running, at least 2 expected (services.workers.rl); its jobs are not being processed',
    ]


WORKERS = {
    'path': 'services.workers',
    'type': 'counts',
    'keys': ['llm', 'rl'],
    'services': {'llm': 'worker-llm', 'rl': 'worker-rl'},
}
STACK = ['app', 'worker-llm', 'worker-rl', 'postgres', 'redis', 'nginx']


@pytest.mark.parametrize(
    ('workers', 'services', 'findings'),
    [
        ({'llm': 1, 'rl': 0}, STACK, 1),  # the stack should run worker-rl
        ({'llm': 1, 'rl': 0}, [s for s in STACK if s != 'worker-rl'], 0),  # scaled to 0 on purpose (F10)
        ({'llm': 1}, [s for s in STACK if s != 'worker-rl'], 0),  # nor must it be listed
        ({'llm': 1}, STACK, 1),
        ({'llm': 1, 'rl': 0}, None, 1),  # without the stack's services, every kind is judged
    ],
)
def test_a_kind_whose_service_is_not_expected_is_not_judged(workers, services, findings):
    result = compose_health_fields(with_services(workers=workers), [WORKERS], services)
    assert len(result['findings']) == findings
    if 'rl' in workers and not findings:
        rl = next(c for c in result['checks'] if c['name'] == 'health services.workers.rl')
        assert rl['ok'] and 'worker-rl is not expected to run' in rl['detail']


@pytest.mark.parametrize(
    'document',
    [
        {'status': 'healthy', 'version': '1.4.0'},  # an answer without services (another stack)
        {'status': 'ok', 'services': {'db': 'up'}},
        None,  # no JSON at all: the health probe reports the URL itself
        'not json',
    ],
)
def test_fields_a_stack_does_not_report_are_no_findings_unless_required(document):
    assert compose_health_fields(document)['findings'] == []
    required = compose_health_fields(document, REQUIRED)
    assert len(required['findings']) == 3
    assert {f['severity'] for f in required['findings']} == {'critical'}


def test_missing_fields_are_listed_as_checks_that_pass():
    result = compose_health_fields({'status': 'healthy'})
    assert {(c['name'], c['ok']) for c in result['checks']} == {
        ('health services.database', True),
        ('health services.redis', True),
        ('health services.workers', True),
    }
    assert all(c['detail'] == 'not in the answer (not required)' for c in result['checks'])


def test_required_missing_field_says_which():
    document = {'status': 'healthy', 'services': {'database': 'healthy', 'redis': 'healthy'}}
    assert problems(compose_health_fields(document, REQUIRED)) == ['the health answer has no services.workers']


def test_an_empty_field_list_reads_nothing():
    assert compose_health_fields(F1, []) == {'checks': [], 'findings': [], 'values': {}}


@pytest.mark.parametrize(
    ('fields', 'message'),
    [
        ([{'type': 'state'}], 'needs a path'),
        ([{'path': 'services.x', 'type': 'list'}], 'not one of'),
        ([{'path': 'services.x', 'severity': 'fatal'}], 'severity'),
    ],
)
def test_bad_field_specs_are_refused(fields, message):
    with pytest.raises(AnsibleFilterError, match=message):
        compose_health_fields(F1, fields)


CLIENTS = '# Clients\r\nconnected_clients:3\r\ncluster_connections:0\r\nblocked_clients:2\r\n'
MEMORY = (
    '# Memory\r\nused_memory:1085184\r\nused_memory_human:1.03M\r\nmaxmemory:0\r\nmem_fragmentation_ratio:11.63\r\n'
)


def info_results(clients=CLIENTS, memory=MEMORY, rc=0):
    return [
        {'item': 'clients', 'rc': rc, 'stdout': clients, 'stderr': ''},
        {'item': 'memory', 'rc': rc, 'stdout': memory, 'stderr': ''},
    ]


def test_redis_info_reads_numbers_and_words():
    info = redis_info(MEMORY)
    assert info == {
        'used_memory': 1085184,
        'used_memory_human': '1.03M',
        'maxmemory': 0,
        'mem_fragmentation_ratio': 11.63,
    }


def test_redis_info_without_maxmemory_is_reported_not_judged():
    result = compose_redis_info(info_results())
    assert result['info'] == {
        'connected_clients': 3,
        'blocked_clients': 2,
        'used_memory': 1085184,
        'used_memory_human': '1.03M',
        'maxmemory': 0,
        'memory_percent': None,
    }
    assert result['findings'] == []
    assert [(c['name'], c['ok'], c['detail']) for c in result['checks']] == [
        ('redis clients', True, '3 connected, 2 blocked'),
        ('redis memory', True, '1.03M used, no maxmemory set'),
    ]


@pytest.mark.parametrize(('used', 'finding'), [(800, False), (899, False), (900, True), (1000, True)])
def test_redis_memory_at_the_limit_is_a_warning(used, finding):
    memory = f'used_memory:{used}\nused_memory_human:{used}B\nmaxmemory:1000\n'
    result = compose_redis_info(info_results(memory=memory), 90)
    assert result['info']['memory_percent'] == used / 10
    assert [f['severity'] for f in result['findings']] == (['warning'] if finding else [])
    assert result['checks'][-1]['ok'] is not finding


def test_unreadable_redis_info_is_a_warning_and_skipped_results_are_ignored():
    results = [
        {'item': 'clients', 'rc': 1, 'stdout': '', 'stderr': 'Could not connect to Redis'},
        {'item': 'memory', 'skipped': True},
    ]
    result = compose_redis_info(results)
    assert result['info'] == {}
    assert result['findings'] == [
        {
            'severity': 'warning',
            'service': 'redis',
            'problem': 'redis INFO clients could not be read: Could not connect to Redis',
        }
    ]
    assert compose_redis_info([]) == {'info': {}, 'checks': [], 'findings': []}


PS_ROWS = [
    {'Service': 'app', 'Name': 'fragrance-ai-app-1', 'State': 'running', 'Health': 'healthy', 'Status': 'Up'},
    {'Service': 'worker-rl', 'Name': 'fragrance-ai-worker-rl-1', 'State': 'running', 'Status': 'Up'},
]


def test_status_extend_adds_checks_findings_and_recomputes_ok():
    status = compose_status_summary(json.dumps(PS_ROWS), ['app', 'worker-rl'], [], [], 100)
    assert status['ok']
    health = compose_health_fields(with_services(workers={'llm': 1, 'rl': 0}))
    extended = compose_status_extend(status, health, compose_redis_info(info_results()))
    assert not extended['ok']
    assert extended['containers'] == status['containers']
    assert extended['health_services']['services.workers'] == {'llm': 1, 'rl': 0}
    assert extended['redis_info']['connected_clients'] == 3
    assert [c['name'] for c in extended['checks']][-2:] == ['redis clients', 'redis memory']
    assert problems(extended) == [
        'workers rl: 0 running, at least 1 expected (services.workers.rl); its jobs are not being processed'
    ]


def test_status_extend_with_nothing_keeps_the_status():
    status = compose_status_summary(json.dumps(PS_ROWS), ['app', 'worker-rl'], [], [], 100)
    assert compose_status_extend(status, {}, None) == {**status, 'health_services': {}, 'redis_info': {}}


APP_LOG = [
    'app-1  | 2026-12-04T17:03:33 INFO 86915dd01f55 "GET /health HTTP/1.1" 200 -',
    'app-1  | 2026-12-04T17:03:34 INFO 86915dd01f55 "GET /nope HTTP/1.1" 404 -',
    'app-1  | 2026-12-04T17:03:35 ERROR 86915dd01f55 GET /api/items: relation "items" does not exist',
    'app-1  | 2026-12-04T17:03:35 INFO 86915dd01f55 "GET /api/items HTTP/1.1" 500 -',
    'app-1  | ----------------------------------------',
    '\x1b[2Kapp-1  | Traceback (most recent call last):',
    'app-1  |   File "/app/server.py", line 100, in do_POST',
    "app-1  |     length = int(self.headers.get('Content-Length') or 0)",
    "app-1  | ValueError: invalid literal for int() with base 10: 'abc'",
    'app-1  | 2026-12-04T17:03:36 INFO 86915dd01f55 "GET /health HTTP/1.1" 200 -',
]


def test_log_scan_counts_errors_tracebacks_and_answers():
    scan = compose_log_scan([{'item': 'app', 'rc': 0, 'stdout_lines': APP_LOG}])
    assert scan['app'] == {
        'lines': 10,
        'errors': 1,
        'tracebacks': 1,
        'requests': 4,
        'http_4xx': 1,
        'http_5xx': 1,
        'ok': True,
        'samples': [
            '2026-12-04T17:03:35 ERROR 86915dd01f55 GET /api/items: relation "items" does not exist',
            '2026-12-04T17:03:35 INFO 86915dd01f55 "GET /api/items HTTP/1.1" 500 -',
            "Traceback (most recent call last): ... ValueError: invalid literal for int() with base 10: 'abc'",
        ],
    }


def test_log_scan_keeps_the_last_five_samples_and_reads_stdout_too():
    log = '\n'.join(f'2026-12-04T17:03:{n:02} ERROR web-1 failure {n}' for n in range(8))
    scan = compose_log_scan([{'item': 'backend', 'rc': 0, 'stdout': log}, {'item': 'frontend', 'skipped': True}])
    assert list(scan) == ['backend']
    assert scan['backend']['errors'] == 8
    assert [s.rsplit(' ', 1)[-1] for s in scan['backend']['samples']] == ['3', '4', '5', '6', '7']


def test_log_findings_per_kind_with_the_share_of_5xx():
    scan = compose_log_scan([{'item': 'app', 'rc': 0, 'stdout_lines': APP_LOG}])
    assert compose_log_findings(scan) == [
        {'severity': 'warning', 'service': 'app', 'problem': '1 ERROR line(s) in its last 10 log lines'},
        {'severity': 'warning', 'service': 'app', 'problem': '1 Traceback(s) in its last 10 log lines'},
        {
            'severity': 'warning',
            'service': 'app',
            'problem': '1 of 4 logged responses were 5xx (25.0%) in its last 10 log lines',
        },
    ]
    assert {f['severity'] for f in compose_log_findings(scan, 'critical')} == {'critical'}


def test_quiet_logs_give_no_finding_and_unreadable_logs_do():
    quiet = compose_log_scan([{'item': 'app', 'rc': 0, 'stdout_lines': [APP_LOG[0], APP_LOG[1]]}])
    assert compose_log_findings(quiet) == []
    broken = compose_log_scan([{'item': 'app', 'rc': 1, 'stdout_lines': []}])
    assert compose_log_findings(broken) == [
        {'severity': 'warning', 'service': 'app', 'problem': 'the logs of app could not be read'}
    ]
    with pytest.raises(AnsibleFilterError, match='severity'):
        compose_log_findings(quiet, 'fatal')


def test_every_filter_is_registered():
    assert set(FilterModule().filters()) == {
        'compose_health_fields',
        'redis_info',
        'compose_redis_info',
        'compose_status_extend',
        'compose_log_scan',
        'compose_log_findings',
    }
