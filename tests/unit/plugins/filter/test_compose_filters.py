# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose filters: status findings, names, scaling steps, F8's decision tree,
deploy history and the daily/weekly findings."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.compose import (
    cert_days_from_result,
    cert_days_left,
    check_findings,
    compose_ps_findings,
    compose_ps_rows,
    compose_scaled,
    compose_service_name,
    compose_status_summary,
    deploy_history,
    deploy_target,
    heartbeat_patterns,
    http_status_counts,
    log_error_lines,
    metric_value,
    rollback_decision,
    rollback_measurements,
    scale_steps,
    worker_failures,
)

ROWS = [
    {'Service': 'backend', 'Name': 'qa_arena_backend_prod', 'State': 'running', 'Health': 'healthy', 'Status': 'Up'},
    {
        'Service': 'celery_worker',
        'Name': 'qa_arena_celery_worker_prod',
        'State': 'restarting',
        'Status': 'Restarting (1)',
    },
    {'Service': 'nginx', 'Name': 'qa_arena_nginx_prod', 'State': 'exited', 'Status': 'Exited (1) 3 minutes ago'},
]
SERVICES = {
    'backend': {'container': 'qa_arena_backend_prod'},
    'celery_worker': {'container': 'qa_arena_celery_worker_prod'},
    'nginx': {'container': 'qa_arena_nginx_prod'},
    'redis': {'container': 'qa_arena_redis_prod'},
}


@pytest.mark.parametrize('text', ['\n'.join(json.dumps(r) for r in ROWS), json.dumps(ROWS)])
def test_ps_rows_read_json_lines_and_arrays(text):
    assert [r['Service'] for r in compose_ps_rows(text)] == ['backend', 'celery_worker', 'nginx']


def test_ps_rows_refuse_text():
    with pytest.raises(AnsibleFilterError, match='did not print JSON'):
        compose_ps_rows('NAME   STATUS')


def test_ps_findings_name_restarting_exited_and_missing():
    findings = compose_ps_findings(ROWS, list(SERVICES))
    problems = {f['service']: f['problem'] for f in findings}
    assert 'Restarting' in problems['celery_worker']
    assert 'Exited' in problems['nginx']
    assert problems['redis'] == 'service redis has no container'
    assert 'backend' not in problems
    assert {f['severity'] for f in findings} == {'critical'}


def test_status_summary_reads_exec_checks_and_queues():
    results = [
        {'item': {'name': 'redis ping', 'expect': 'PONG'}, 'rc': 0, 'stdout': 'PONG'},
        {'item': {'name': 'queue jobs:llm', 'queue': 'jobs:llm'}, 'rc': 0, 'stdout': '140'},
        {'item': {'name': 'postgres ready', 'expect': 'accepting'}, 'rc': 2, 'stdout': 'no response'},
    ]
    summary = compose_status_summary(json.dumps(ROWS[:1]), ['backend'], [], results, 100)
    assert summary['queues'] == {'jobs:llm': 140}
    assert [c['ok'] for c in summary['checks']] == [True, False, False]
    assert summary['ok'] is False
    assert any('140 jobs waiting' in f['problem'] for f in summary['findings'])


def test_service_name_accepts_container_names_and_lists_known_ones():
    assert compose_service_name('backend', SERVICES) == 'backend'
    assert compose_service_name('qa_arena_backend_prod', SERVICES) == 'backend'
    with pytest.raises(AnsibleFilterError, match=r"'bakend'.*backend \(qa_arena_backend_prod\)"):
        compose_service_name('bakend', SERVICES)


@pytest.mark.parametrize(
    ('current', 'target', 'emergency', 'steps'),
    [(1, 3, False, [3]), (5, 2, False, [4, 3, 2]), (3, 1, True, [1]), (2, 2, False, []), (3, 0, False, [2, 1, 0])],
)
def test_scale_steps_go_down_one_at_a_time(current, target, emergency, steps):
    assert scale_steps(current, target, emergency) == steps


def test_scale_steps_refuse_negative():
    with pytest.raises(AnsibleFilterError, match='negative'):
        scale_steps(2, -1)


@pytest.mark.parametrize(
    ('symptoms', 'kind'),
    [
        ({}, 'none'),
        ({'error_5xx_ratio': 0.05}, 'none'),
        ({'error_5xx_ratio': 0.06}, 'quick'),
        ({'latency_ratio': 2.0}, 'quick'),
        ({'worker_failure_ratio': 0.6}, 'workers'),
        ({'worker_failure_ratio': 0.6, 'error_5xx_ratio': 0.2}, 'quick'),
        ({'db_errors': 3, 'error_5xx_ratio': 0.2}, 'full'),
        ({'data_corruption': True}, 'full'),
    ],
)
def test_rollback_decision_follows_f8(symptoms, kind):
    assert rollback_decision(symptoms)['kind'] == kind


def test_rollback_decision_gives_reasons_and_investigation():
    decision = rollback_decision({'data_corruption': True, 'error_5xx_ratio': 0.1})
    assert decision['investigate'] is True
    assert decision['reasons'][0].startswith('data corruption')
    assert any('5xx ratio 10.0%' in r for r in decision['reasons'])
    assert rollback_decision({'error_5xx_ratio': 0.03}, {'error_5xx_ratio': 0.02})['kind'] == 'quick'


def test_deploy_target_is_the_previous_good_deploy():
    history = [{'value': 'v1'}, {'value': 'v2', 'bad': True}, {'value': 'v3'}, {'value': 'v4'}]
    assert deploy_target(history, True, '', 'version') == 'v3'
    assert deploy_target(history, True, 'v1', 'version') == 'v1'
    assert deploy_target(history, False, 'main', 'git') == 'main'
    with pytest.raises(AnsibleFilterError, match=r'no earlier good deploy.*-e version='):
        deploy_target([{'value': 'v4'}], True, '', 'version')
    with pytest.raises(AnsibleFilterError, match='git log --oneline'):
        deploy_target([], True, '', 'git')


def test_deploy_history_records_once_and_marks_the_rolled_back_one_bad():
    history = deploy_history([], 'v1', 't1')
    history = deploy_history(history, 'v2', 't2')
    assert deploy_history(history, 'v2', 't3') == history
    history = deploy_history(history, 'v1', 't4', rolled_back_from='v2')
    assert history == [
        {'value': 'v1', 'at': 't1'},
        {'value': 'v2', 'at': 't2', 'bad': True},
        {'value': 'v1', 'at': 't4'},
    ]
    with pytest.raises(AnsibleFilterError):
        deploy_target(history, True, '', 'version')


def test_http_status_counts_reads_nginx_lines():
    log = '\n'.join(
        [
            'nginx-1 | 1.2.3.4 - - [x] "GET / HTTP/1.1" 200 5 "-" "curl"',
            'nginx-1 | 1.2.3.4 - - [x] "GET /api HTTP/1.1" 502 5 "-" "curl"',
            'nginx-1 | 1.2.3.4 - - [x] "GET /api HTTP/1.1" 503 5 "-" "curl"',
            'app-1 | INFO started',
        ]
    )
    assert http_status_counts(log) == {'requests': 3, 'errors_5xx': 2, 'ratio': 2 / 3}
    assert http_status_counts('')['ratio'] == 0.0


def test_cert_days():
    assert cert_days_left('notAfter=Nov 27 07:00:00 2026 GMT', '2026-11-22T07:00:00+00:00') == 5
    assert cert_days_left('notAfter=Nov 27 07:00:00 2026 GMT', '2026-11-22T07:00:05+00:00') == 5
    assert cert_days_from_result({'rc': 1, 'stderr': 'unable to load'}) is None
    with pytest.raises(AnsibleFilterError, match='not an openssl end date'):
        cert_days_left('garbage')


def test_check_findings_rate_certificates_git_and_5xx():
    findings = check_findings(
        {
            'status_findings': [{'severity': 'warning', 'service': 'app', 'problem': 'starting'}],
            'probes': [{'name': 'disk /', 'kind': 'disk', 'ok': False, 'detail': '91% used (limit 85%)'}],
            'certs': {'/le/a.pem': 5, '/le/b.pem': 20, '/le/c.pem': 80, '/le/d.pem': None},
            'git': {'dirty': ['app/server.py'], 'behind': '2', 'branch': 'main', 'upstream': 'origin/main'},
            'http': {'requests': 100, 'errors_5xx': 2, 'ratio': 0.02},
            'log_errors': {'worker-llm': 3, 'worker-rl': 0},
        }
    )
    lines = [(f['severity'], f['problem']) for f in findings]
    assert ('critical', '/le/a.pem expires in 5 days (<= 7)') in lines
    assert ('warning', '/le/b.pem expires in 20 days (<= 30)') in lines
    assert ('critical', '/le/d.pem cannot be read as a certificate') in lines
    assert not any('/le/c.pem' in p for _severity, p in lines)
    assert ('warning', 'deployed code is 2 commit(s) behind origin/main') in lines
    assert ('warning', '2 of 100 responses were 5xx (2.0%)') in lines
    assert ('warning', '3 ERROR line(s) in the last log lines') in lines
    severities = [severity for severity, _problem in lines]
    assert severities == sorted(severities, key=['critical', 'warning', 'info'].index)
    assert check_findings({'git': {'behind': '0'}}) == []


def test_scaled_services_are_those_with_more_than_one_running_container():
    rows = [
        {'Service': 'worker-llm', 'State': 'running'},
        {'Service': 'worker-llm', 'State': 'running'},
        {'Service': 'worker-llm', 'State': 'exited'},
        {'Service': 'app', 'State': 'running'},
    ]
    assert compose_scaled('\n'.join(json.dumps(r) for r in rows)) == {'worker-llm': 2}


# F8's measured inputs (issue #19).
APP_LOG = """app-1  | 2026-12-04T17:00:01 INFO 3f2 "GET /health HTTP/1.1" 200 -
app-1  | 2026-12-04T17:00:02 ERROR 3f2 GET /api/items: relation "items" does not exist
app-1  | 2026-12-04T17:00:03 ERROR 3f2 redis check failed: timed out
app-1  | 2026-12-04T17:00:04 ERROR 3f2 database check failed: connection to server at "postgres" failed
app-1  | 2026-12-04T17:00:05 INFO 3f2 database check failed earlier, now fine
"""


def test_log_error_lines_counts_error_lines_about_the_database_only():
    found = log_error_lines(APP_LOG)
    assert found['count'] == 2  # not the Redis error, not the INFO line
    assert found['samples'][-1].endswith('connection to server at "postgres" failed')
    assert log_error_lines(APP_LOG, r'ERROR .*redis')['count'] == 1
    assert log_error_lines('')['count'] == 0


METRICS = """app_up{version="v0.2.0"} 1
# TYPE http_request_duration_seconds summary
http_request_duration_seconds{quantile="0.5"} 0.004
http_request_duration_seconds{quantile="0.95"} 0.25
http_request_duration_seconds_count 17
"""


@pytest.mark.parametrize(
    ('name', 'labels', 'value'),
    [
        ('http_request_duration_seconds', {'quantile': '0.95'}, 0.25),
        ('http_request_duration_seconds', {'quantile': 0.5}, 0.004),
        ('http_request_duration_seconds_count', None, 17.0),
        ('app_up', {'version': 'v0.2.0'}, 1.0),
        ('http_request_duration_seconds', {'quantile': '0.99'}, None),
        ('missing', None, None),
    ],
)
def test_metric_value_reads_prometheus_text(name, labels, value):
    assert metric_value(METRICS, name, labels) == value


def ps_line(service: str, name: str, state: str) -> str:
    return json.dumps({'Service': service, 'Name': name, 'State': state})


WORKERS_PS = '\n'.join(
    [
        ps_line('worker-llm', 'fragrance-ai-worker-llm-1', 'exited'),
        ps_line('worker-rl', 'fragrance-ai-worker-rl-1', 'running'),
        ps_line('worker-rl', 'fragrance-ai-worker-rl-2', 'running'),
    ]
)


def beat(service: str, keys: list[str], rc: int = 0) -> dict:
    return {'item': {'service': service, 'pattern': f'worker:{service[7:]}:*'}, 'rc': rc, 'stdout': '\n'.join(keys)}


@pytest.mark.parametrize(
    ('heartbeats', 'ratio', 'rl_alive'),
    [
        (None, 1.0, 2),  # containers only: the stopped llm worker is 1 of 1 failed
        ([beat('worker-llm', ['worker:llm:a']), beat('worker-rl', ['worker:rl:b'])], 1.0, 1),  # a stale key
        ([beat('worker-rl', ['worker:rl:b', 'worker:rl:c'])], 1.0, 2),
        ([beat('worker-rl', [], rc=1)], 1.0, 2),  # unreadable heartbeats: containers only
    ],
)
def test_worker_failures_are_expected_replicas_without_a_live_one(heartbeats, ratio, rl_alive):
    found = worker_failures(WORKERS_PS, ['worker-llm', 'worker-rl'], heartbeats)
    assert found['ratio'] == ratio
    assert found['services']['worker-llm']['alive'] == 0
    assert found['services']['worker-rl']['alive'] == rl_alive
    assert found['services']['worker-rl']['expected'] == 2


def test_worker_failures_of_a_hung_worker_come_from_its_missing_heartbeat():
    ps = ps_line('worker-llm', 'w1', 'running')
    found = worker_failures(ps, ['worker-llm', 'worker-gone'], [beat('worker-llm', [])])
    assert found['services']['worker-llm'] == {
        'expected': 1,
        'running': 1,
        'alive': 0,
        'heartbeats': 0,
        'pattern': 'worker:llm:*',
        'failed': 1,
        'ratio': 1.0,
    }
    assert found['services']['worker-gone']['failed'] == 1  # a service without a container


def test_heartbeat_patterns_come_from_the_workers_or_the_override():
    workers = {'worker-llm': {'redis_keys': 'worker:llm:*'}, 'worker-rl': {'registered': 'x'}}
    assert heartbeat_patterns(workers) == [{'service': 'worker-llm', 'pattern': 'worker:llm:*'}]
    assert heartbeat_patterns(workers, {'worker-rl': 'rl:*'}) == [{'service': 'worker-rl', 'pattern': 'rl:*'}]
    assert heartbeat_patterns(None) == []


NGINX_LOG = '\n'.join(
    ['1.2.3.4 - - [04/Dec/2026:17:00:00 +0000] "GET /health HTTP/1.1" 200 12 "-" "x"'] * 18
    + ['1.2.3.4 - - [04/Dec/2026:17:00:00 +0000] "GET /api/items HTTP/1.1" 502 12 "-" "x"'] * 2
)


def test_rollback_measurements_say_where_each_value_came_from():
    facts = {
        'window': '15m',
        'proxies': ['nginx'],
        'apps': ['app'],
        'proxy_log': NGINX_LOG,
        'app_log': APP_LOG,
        'workers': worker_failures(WORKERS_PS, ['worker-llm', 'worker-rl']),
        'metrics': METRICS,
        'baseline_ms': 100,
    }
    measured = rollback_measurements(facts)
    assert measured['symptoms'] == {
        'error_5xx_ratio': 0.1,
        'db_errors': 2,
        'worker_failure_ratio': 1.0,
        'latency_ratio': 2.5,
    }
    lines = '\n'.join(measured['sources'])
    assert '2 of 20 answers 5xx in the access log of nginx (last 15m' in lines
    assert 'ERROR lines about the database in the logs of app' in lines
    assert 'worker-llm 0 of 1 alive' in lines
    assert "p95 250.0 ms from the app's /metrics" in lines and 'baseline 100 ms' in lines
    assert rollback_decision(measured['symptoms'])['kind'] == 'full'


def test_rollback_measurements_time_calls_without_metrics_and_the_operator_wins():
    probe = {'name': 'latency', 'ok': True, 'timing': {'samples': 10, 'p95_ms': 30.0}}
    facts = {'proxy_log': '', 'app_log': '', 'probe': probe, 'latency_url': 'http://x/health', 'baseline_ms': 10}
    measured = rollback_measurements(facts, {'db_errors': 0, 'error_5xx_ratio': 0.5})
    assert measured['symptoms']['latency_ratio'] == 3.0
    assert measured['symptoms']['error_5xx_ratio'] == 0.5 and measured['symptoms']['db_errors'] == 0
    assert any('10 calls of http://x/health' in line for line in measured['sources'])
    assert any(line.startswith('error_5xx_ratio 0.5: given by the operator') for line in measured['sources'])
    assert any('worker_failure_ratio not measured' in line for line in measured['sources'])


def test_rollback_measurements_without_a_baseline_report_latency_but_do_not_judge_it():
    probe = {'timing': {'samples': 10, 'p95_ms': 900.0}}
    measured = rollback_measurements({'probe': probe})
    assert 'latency_ratio' not in measured['symptoms']
    assert any(line.startswith('latency_ratio not judged: p95 900.0 ms') for line in measured['sources'])
    assert rollback_decision(measured['symptoms'])['kind'] == 'none'


@pytest.mark.parametrize(
    ('db_errors', 'least', 'kind'),
    [(0, None, 'none'), (1, None, 'full'), ('3', None, 'full'), ('migration failed', None, 'full'), (2, 5, 'none')],
)
def test_database_errors_count_from_a_threshold(db_errors, least, kind):
    thresholds = {'db_errors': least} if least else None
    assert rollback_decision({'db_errors': db_errors}, thresholds)['kind'] == kind
