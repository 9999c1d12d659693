# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's Re-Fit AI host (refit-ai: refit-api under pm2 as ec2-user) and Re-Fit's
incident check (runbook R3) on it, with real pm2, Node and log file: a healthy app is
severity none and the check changes nothing, in check mode too; a stopped app is P0
with the health finding. Every test leaves the app running and its log as it was."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from .conftest import Lab, task_results

HOST = 'refit-ai'
APP = 'refit-api'
REPO = '/home/ec2-user/refit-api'
LOG = '/var/log/app/application.log'
HEALTH = 'http://127.0.0.1:8080/actuator/health'
PM2 = ('env', 'PM2_HOME=/home/ec2-user/.pm2', 'pm2')
RESULT_TASK = 'Assess | Publish the findings and the severity as incident_check_result'


def pm2_app(lab: Lab) -> dict | None:
    """refit-api as pm2 jlist shows it, or None."""
    apps = json.loads(lab.exec('refit', *PM2, 'jlist', user='ec2-user'))
    return next((app for app in apps if app['name'] == APP), None)


def wait_healthy(lab: Lab, seconds: int = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if json.loads(lab.exec('refit', 'curl', '-fsS', '--max-time', '2', HEALTH)).get('status') == 'UP':
                return
        except (subprocess.CalledProcessError, ValueError):  # not up yet
            pass
        time.sleep(1)
    raise AssertionError(f'{APP} did not answer UP at {HEALTH} within {seconds} s')


def incident_check(lab: Lab, cmdline: str = '') -> tuple[object, dict]:
    """Runs playbooks/incident_check.yml on the lab; (runner, incident_check_result)."""
    runner = lab.playbook('incident_check.yml', cmdline=cmdline)
    published = task_results(runner, RESULT_TASK)
    assert HOST in published, runner.stdout.read()
    return runner, published[HOST]['ansible_facts']['incident_check_result']


@pytest.fixture
def quiet_log(lab: Lab) -> Iterator[None]:
    """The app's log starts empty for the test (earlier tests' bad releases leave ERROR
    lines), and gets its old lines back, followed by the test's, whatever happens."""
    lab.exec(
        'refit', 'sh', '-c', f'cp -p {LOG} /tmp/refit-log.saved 2>/dev/null || : > /tmp/refit-log.saved; : > {LOG}'
    )
    try:
        yield
    finally:
        lab.exec(
            'refit',
            'sh',
            '-c',
            f'[ -f {LOG} ] || install -o ec2-user -g ec2-user -m 0644 /dev/null {LOG}; '
            f'cat /tmp/refit-log.saved {LOG} > /tmp/refit-log.new && cat /tmp/refit-log.new > {LOG} '
            '&& rm -f /tmp/refit-log.saved /tmp/refit-log.new',
        )


def test_the_lab_runs_refit_api_v1_1_0_as_ec2_user(lab):
    assert json.loads(lab.exec('refit', 'curl', '-fsS', HEALTH)) == {
        'status': 'UP',
        'components': {'model': {'status': 'UP'}},
    }
    git = ('git', '-C', REPO)
    assert lab.exec('refit', *git, 'describe', '--tags', '--exact-match', user='ec2-user').strip() == 'v1.1.0'
    assert lab.exec('refit', *git, 'tag', user='ec2-user').split() == ['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.3.0']
    assert lab.exec('refit', *git, 'status', '--porcelain', user='ec2-user') == ''
    info = json.loads(lab.exec('refit', 'curl', '-fsS', 'http://127.0.0.1:8080/actuator/info'))
    assert info['app']['version'] == '1.1.0'
    app = pm2_app(lab)
    assert app and app['pm2_env']['status'] == 'online' and app['pm2_env']['username'] == 'ec2-user'
    metrics = lab.exec('refit', 'curl', '-fsS', 'http://127.0.0.1:8080/metrics')
    assert 'http_requests_total{path="/actuator/health",status="200"}' in metrics
    assert 'http_request_duration_seconds_bucket{path="/actuator/health",le="+Inf"}' in metrics
    # The inventory reaches it over SSH as the runbook's user.
    who = lab.module('ansible.builtin.command', 'id -un', pattern=HOST)
    assert who.rc == 0 and task_results(who, 'ansible.builtin.command')[HOST]['stdout'] == 'ec2-user'


def test_a_healthy_app_is_severity_none_and_nothing_changes(lab, quiet_log):
    for cmdline in ('', '--check'):
        runner, result = incident_check(lab, cmdline)
        assert runner.rc == 0, runner.stdout.read()
        assert runner.stats['changed'].get(HOST, 0) == 0, cmdline
        assert result['severity'] == 'none', (cmdline, result)
        assert result['findings'] == [], (cmdline, result)
        assert result['health']['ok'] and result['health']['status'] == 200
        assert result['pm2']['app']['status'] == 'online'
        assert result['error_lines']['read'] and result['error_lines']['count'] == 0
        assert result['assessment']['measured'] == ['health_ok', 'error_lines']


def test_error_lines_count_only_among_the_last_50(lab, quiet_log):
    old_error = '2026-12-05T06:00:00.000Z ERROR 1 --- [refit-api] an old failure'
    info = '2026-12-05T06:00:01.000Z INFO  1 --- [refit-api] request served'
    new_error = '2026-12-05T06:00:02.000Z ERROR 1 --- [refit-api] GET /api/recommendations failed'
    try:
        lines = [old_error] + [info] * 50
        lab.exec('refit', 'sh', '-c', f'printf "%s\\n" "$@" >> {LOG}', 'sh', *lines, user='ec2-user')
        _runner, result = incident_check(lab)
        assert result['severity'] == 'none' and result['error_lines']['count'] == 0, result
        lab.exec('refit', 'sh', '-c', f'echo "{new_error}" >> {LOG}', user='ec2-user')
        _runner, result = incident_check(lab)
        # Re-Fit's P2: "intermittent errors" (playbooks/group_vars/refit/incident.yml).
        assert result['severity'] == 'P2', result
        assert result['error_lines']['count'] == 1 and result['error_lines']['lines'] == [new_error]
        assert any('1 ERROR line(s) in the last 50 lines' in finding for finding in result['findings'])
    finally:
        lab.exec('refit', 'truncate', '-s', '0', LOG)  # the made-up lines go; the old ones come back


def test_a_missing_log_is_a_finding_not_a_crash(lab, quiet_log):
    lab.exec('refit', 'rm', '-f', LOG)
    runner, result = incident_check(lab)
    assert runner.rc == 0 and runner.stats['changed'].get(HOST, 0) == 0
    assert not result['error_lines']['read'] and result['error_lines']['count'] is None
    assert any(f'the log {LOG} could not be read' in finding for finding in result['findings']), result
    # Health was measured, the log was not: not "unknown", and not counted as clean.
    assert result['severity'] == 'none' and result['assessment']['measured'] == ['health_ok']


def test_a_stopped_app_is_p0_with_the_health_finding(lab, quiet_log):
    lab.exec('refit', *PM2, 'stop', APP, user='ec2-user')
    try:
        runner, result = incident_check(lab)
        assert runner.rc == 0 and runner.stats['changed'].get(HOST, 0) == 0
        assert result['severity'] == 'P0', result
        assert result['assessment']['action'] == 'rollback'
        assert result['assessment']['mentions'] == ['@devops-oncall']
        assert not result['health']['ok']
        assert any(finding.startswith('health check failing') for finding in result['findings']), result
        assert any(finding.startswith(f'{APP} is stopped in pm2, not online') for finding in result['findings'])
        # A scheduled job fails on it, after the report.
        failing = lab.playbook('incident_check.yml', cmdline='-e fail_on=P0,unknown')
        assert failing.rc != 0
        refusal = task_results(failing, 'Report | Fail when the severity is one of incident_check_fail_on')[HOST]
        assert 'severity P0' in refusal['msg'] and 'rollback' in refusal['msg']
    finally:
        lab.exec('refit', *PM2, 'start', APP, user='ec2-user')
        wait_healthy(lab)
    assert pm2_app(lab)['pm2_env']['status'] == 'online'
