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
    http_status_counts,
    rollback_decision,
    scale_steps,
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
