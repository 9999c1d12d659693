# SPDX-License-Identifier: GPL-3.0-or-later
"""compose_watch: the bounded watch of runbooks F9 and F13. The loop and the figures with
a clock of the test's own; the module through ansible itself against a real HTTP server."""

from __future__ import annotations

import time

import pytest

from ansible_collections.sre.runbooks.plugins.modules.compose_watch import (
    compose_logs_argv,
    figures,
    sample_times,
    status_counts,
    watch,
)
from tests.support.adhoc import run_adhoc


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def calls(*oks: bool):
    answers = iter(oks)

    def call() -> dict:
        ok = next(answers)
        return {
            'ok': ok,
            'detail': '200 in 2 ms avg' if ok else 'status 502, expected [200]',
            'timing': {'p95_ms': 2.0},
        }

    return call


@pytest.mark.parametrize(('seconds', 'interval', 'count'), [(300, 30, 11), (6, 2, 4), (0, 30, 1), (5, 2, 3)])
def test_sample_times_count_the_call_at_the_start(seconds, interval, count):
    assert sample_times(seconds, interval) == count


def test_a_healthy_watch_calls_on_schedule_until_the_end():
    clock = Clock()
    outcome = watch(calls(*[True] * 4), 6, 2, 2, clock=clock, sleep=clock.sleep)
    assert len(outcome['calls']) == 4 and not outcome['stopped_early']
    assert clock.slept == [2, 2, 2] and clock.now == 106


@pytest.mark.parametrize(
    ('oks', 'made', 'early'),
    [
        ((True, False, False), 3, True),  # two failures in a row end it
        ((True, False, True, False), 4, False),  # never two in a row: watched to the end
        ((False, False), 2, True),
    ],
)
def test_failed_calls_in_a_row_end_the_watch(oks, made, early):
    clock = Clock()
    outcome = watch(calls(*oks), 6, 2, 2, clock=clock, sleep=clock.sleep)
    assert len(outcome['calls']) == made and outcome['stopped_early'] is early


LOG = '\n'.join(
    ['nginx-1  | 10.0.0.1 - - [04/Dec/2026:17:00:00 +0000] "GET /health HTTP/1.1" 200 90 "-" "x"'] * 199
    + ['nginx-1  | 10.0.0.1 - - [04/Dec/2026:17:00:00 +0000] "GET /health HTTP/1.1" 502 90 "-" "x"']
)


def test_status_counts_read_nginx_lines():
    assert status_counts(LOG) == (200, 1)
    assert status_counts('') == (0, 0)


@pytest.mark.parametrize(
    ('oks', 'counts', 'ok', 'source', 'problem'),
    [
        ((True,) * 4, (200, 1), True, 'access log of nginx', None),  # 0.5 % < 1 %
        ((True,) * 4, (50, 1), False, 'access log of nginx', 'error rate 2.00% (1 of 50 answers 5xx)'),
        ((True, False, True, True), (0, 0), False, 'health calls (nginx logged no request)', 'error rate 25.00%'),
        ((True, False, False), (9, 2), False, 'access log of nginx', 'health failed 2 times in a row'),
    ],
)
def test_figures_judge_error_rate_and_health(oks, counts, ok, source, problem):
    clock = Clock()
    outcome = watch(calls(*oks), 6, 2, 2, clock=clock, sleep=clock.sleep)
    result = figures(outcome, counts, 'nginx', max_error_ratio=0.01, failures_in_a_row=2, elapsed=6.0)
    assert result['ok'] is ok and result['error_source'] == source
    assert result['samples'] == len(oks) and result['latency_p95_ms'] == 2.0
    if problem:
        assert any(problem in line for line in result['problems'])
        assert 'FAILED: ' in result['line']
    else:
        assert result['problems'] == [] and result['line'].endswith(' - ok')


def test_logs_are_read_since_the_start_through_the_project_files():
    params = {'project_dir': '/srv/app', 'files': ['a.yml'], 'env_files': ['.env'], 'proxy_services': ['nginx']}
    assert compose_logs_argv('/usr/bin/docker', params, '2026-12-04T17:00:00.000000Z') == [
        '/usr/bin/docker',
        'compose',
        '--ansi',
        'never',
        '--project-directory',
        '/srv/app',
        '--file=/srv/app/a.yml',
        '--env-file=/srv/app/.env',
        'logs',
        '--no-color',
        '--since',
        '2026-12-04T17:00:00.000000Z',
        'nginx',
    ]


def test_module_watches_a_healthy_url_for_its_time(http_url):
    began = time.monotonic()
    args = {'health_url': f'{http_url}/health', 'health_json': {'status': 'healthy'}, 'seconds': 1, 'interval': 0.5}
    rc, result = run_adhoc('sre.runbooks.compose_watch', args)
    assert rc == 0, result
    assert not result['changed']
    assert result['watch']['ok'] and result['watch']['samples'] == 3 and result['watch']['health_failed'] == 0
    assert result['watch']['error_source'] == 'health calls'
    assert time.monotonic() - began >= 1


def test_module_fails_at_the_second_failed_call_with_the_figures(http_url):
    args = {'health_url': f'{http_url}/down', 'seconds': 60, 'interval': 0.2}
    began = time.monotonic()
    rc, result = run_adhoc('sre.runbooks.compose_watch', args)
    assert rc != 0 and result['failed']
    assert time.monotonic() - began < 30  # it did not wait the minute out
    assert 'health failed 2 times in a row' in result['msg'] and 'status 503' in result['msg']
    assert result['watch']['samples'] == 2 and result['watch']['stopped_early']


def test_check_mode_says_what_it_would_watch_and_does_not_wait(http_url):
    began = time.monotonic()
    args = {'health_url': f'{http_url}/health', 'seconds': 300, 'interval': 30}
    rc, result = run_adhoc('sre.runbooks.compose_watch', args, '--check')
    assert rc == 0, result
    assert time.monotonic() - began < 30
    assert result['watch']['line'].startswith(f'would watch {http_url}/health every 30 s for 300 s (11 calls)')
