# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the module through ansible itself (argument spec, check mode, failure)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.adhoc import run_adhoc


def run_module(args: dict, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    return run_adhoc('sre.runbooks.health_probe', args, *extra, env=env)


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


@pytest.mark.parametrize('verbosity', [(), ('-vvv',)])
def test_header_and_body_secrets_never_reach_the_output(http_url, verbosity):
    """The echo endpoint returns the Authorization header and the body; neither the
    invocation, nor the fields read from the answer, nor -vvv show the secrets."""
    token, password = 'tok-3b1f9c2e-secret', 'pw-77d0a1-secret'
    args = {
        'http': [
            {
                'name': 'login',
                'url': f'{http_url}/login',
                'method': 'POST',
                'status': [201],
                'headers': {'Authorization': f'Bearer {token}'},
                'body': {'password': password},
                'json': {'auth': None, 'echo.password': None},
            }
        ]
    }
    rc, result = run_module(args, *verbosity)
    assert rc == 0 and result['healthy'], result
    shown = json.dumps(result)
    assert token not in shown and password not in shown, shown


def test_components_are_probed_in_one_run_and_reported_each(http_url, redis_port):
    rc, result = run_module(
        {
            'disk': [{'path': '/'}],
            'components': [
                {
                    'name': 'api',
                    'http': [{'name': 'health', 'url': f'{http_url}/down'}],
                    'redis': [{'port': redis_port}],
                },
                {'name': 'site', 'http': [{'name': 'health', 'url': f'{http_url}/health'}]},
            ],
        }
    )
    assert rc == 0, result
    assert not result['healthy'] and result['failed_checks'] == ['health']
    assert [(c['kind'], c.get('component')) for c in result['checks']] == [
        ('disk', None),
        ('http', 'api'),
        ('redis', 'api'),
        ('http', 'site'),
    ]
    api, site = result['components']['api'], result['components']['site']
    assert not api['healthy'] and api['failed_checks'] == ['health'] and len(api['checks']) == 2
    assert site['healthy'] and site['failed_checks'] == [] and site['checks'][0]['component'] == 'site'
    rc, result = run_module(
        {'components': [{'name': 'api', 'http': [{'url': f'{http_url}/down'}]}], 'fail_on_unhealthy': True}
    )
    assert rc != 0 and f'api: {http_url}/down: status 503' in result['msg']


def test_components_are_checked_like_the_top_level_options():
    rc, result = run_module({'components': [{'name': 'api', 'http': [{'name': 'no url'}]}]})
    assert rc != 0 and 'url' in result['msg']
    rc, result = run_module({'components': [{'name': 'a'}, {'name': 'a'}]})
    assert rc != 0 and 'repeated: a' in result['msg']


def test_secrets_of_components_never_reach_the_output(http_url):
    token = 'tok-c0mp0nent-secret'
    check = {'name': 'login', 'url': f'{http_url}/login', 'method': 'POST', 'status': [201]}
    rc, result = run_module(
        {'components': [{'name': 'api', 'http': [{**check, 'headers': {'Authorization': f'Bearer {token}'}}]}]},
        '-vvv',
    )
    assert rc == 0 and result['components']['api']['healthy'], result
    assert token not in json.dumps(result)


def test_a_missing_program_fails_its_own_check_not_the_module(tmp_path):
    """On a host without PostgreSQL's client programs (a bare replacement host) the
    postgres check is unhealthy and the other checks are still reported."""
    for program in Path('/usr/bin').iterdir():  # this host's programs, but pg_isready
        if program.name != 'pg_isready':
            (tmp_path / program.name).symlink_to(program)
    rc, result = run_module(
        {'postgres': [{'name': 'postgresql'}], 'disk': [{'path': '/'}]},
        env={'PATH': f'{Path(sys.executable).parent}:{tmp_path}'},
    )
    assert rc == 0, result
    assert result['failed_checks'] == ['postgresql']
    assert result['checks'][0]['detail'] == 'pg_isready is not installed'
    assert result['checks'][1]['ok']
