# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the module through ansible itself (argument spec, check mode, failure)."""

from __future__ import annotations

import pytest

from tests.support.adhoc import run_adhoc


def run_module(args: dict, *extra: str) -> tuple[int, dict]:
    return run_adhoc('sre.runbooks.health_probe', args, *extra)


@pytest.mark.parametrize('check_mode', [False, True])
def test_healthy_host_reports_every_check_and_changes_nothing(http_url, redis_port, check_mode):
    rc, result = run_module(
        {
            'http': [{'name': 'api', 'url': f'{http_url}/health', 'json': {'status': 'healthy'}}],
            'redis': [{'port': redis_port}],
            'disk': [{'path': '/'}],
        },
        *(['--check'] if check_mode else []),
    )
    assert rc == 0, result
    assert result['healthy'] and not result['changed']
    assert [c['kind'] for c in result['checks']] == ['http', 'redis', 'disk']


def test_unhealthy_host_fails_only_when_asked(http_url):
    args = {'http': [{'name': 'down', 'url': f'{http_url}/down'}]}
    rc, result = run_module(args)
    assert rc == 0 and result['healthy'] is False and result['failed_checks'] == ['down']
    rc, result = run_module({**args, 'fail_on_unhealthy': True})
    assert rc != 0 and 'down: status 503' in result['msg']


def test_wrong_argument_is_refused():
    rc, result = run_module({'http': [{'name': 'no url'}]})
    assert rc != 0 and 'url' in result['msg']
