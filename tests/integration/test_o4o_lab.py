# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import urllib.request

from .conftest import task_results

WEB = 'http://172.30.53.11'


def test_ssh_ping_reaches_every_lab_host(lab):
    runner = lab.module('ansible.builtin.ping')
    assert runner.rc == 0
    assert sorted(runner.stats['ok']) == ['api', 'backup', 'fragrance-ai', 'qa-arena', 'refit-ai', 'spare', 'web']


def test_api_answers_through_nginx_on_web(lab):
    with urllib.request.urlopen(f'{WEB}/api/health', timeout=5) as response:
        assert json.load(response)['status'] == 'ok'
    request = urllib.request.Request(
        f'{WEB}/api/v1/auth/login',
        method='POST',
        data=json.dumps({'email': 'admin@neture.co.kr', 'password': 'o4o-lab-1'}).encode(),
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)['userId'] == '1'
    with urllib.request.urlopen(f'{WEB}/api/v1/products', timeout=5) as response:
        assert json.load(response)['total'] == 500


def test_health_check_playbook_is_green_and_changes_nothing(lab):
    runner = lab.playbook('health_check.yml')
    assert runner.rc == 0, runner.stdout.read()
    assert runner.stats['changed'] == {}
    results = task_results(runner, 'Probe | Run every health check in one pass')
    assert set(results) == {'api', 'web'}
    assert {c['name'] for c in results['api']['checks']} >= {'api health', 'postgresql', 'pm2 api-server'}
    assert {c['name'] for c in results['web']['checks']} >= {'api through nginx', 'admin site', 'www site'}


def test_dead_api_process_is_reported_by_name(lab):
    pm2 = ['env', 'PM2_HOME=/home/ubuntu/.pm2', 'pm2']
    lab.exec('api', *pm2, 'stop', 'api-server', user='ubuntu')
    try:
        runner = lab.playbook('health_check.yml')
        assert runner.rc != 0
        api = task_results(runner, 'Probe | Run every health check in one pass')['api']
        assert 'pm2 api-server' in api['failed_checks'] and 'api health' in api['failed_checks']
        web = task_results(runner, 'Probe | Run every health check in one pass')['web']
        assert web['failed_checks'] == ['api through nginx']
        failure = task_results(runner, 'Fail when a host is unhealthy')['localhost']
        assert 'api' in failure['msg'] and 'web' in failure['msg']
    finally:
        lab.exec('api', *pm2, 'start', 'api-server', user='ubuntu')
        wait = 'for i in $(seq 50); do curl -fs localhost:4000/api/health && exit 0; sleep 0.2; done'
        lab.exec('api', 'sh', '-c', wait)


def test_production_inventory_is_only_parsed(lab):
    runner = lab.playbook('health_check.yml', inventory='inventories/o4o', cmdline='--list-hosts')
    assert runner.rc == 0
    listing = runner.stdout.read()
    assert '43.202.242.215' not in listing  # hosts are listed by name, nothing connects
    assert 'api' in listing and 'web' in listing
