# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the module through ansible itself (argument spec, check mode, failure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


def run_module(args: dict, *extra: str) -> tuple[int, dict]:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
        ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
        ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json',
    )
    ansible = Path(sys.executable).with_name('ansible')
    proc = subprocess.run(
        [
            str(ansible),
            'localhost',
            '-c',
            'local',
            '-i',
            'localhost,',
            '-e',
            f'ansible_python_interpreter={sys.executable}',
            '-m',
            'sre.runbooks.health_probe',
            '-a',
            json.dumps(args),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    output, _end = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.find('{') :])
    return proc.returncode, output['plays'][0]['tasks'][0]['hosts']['localhost']


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
