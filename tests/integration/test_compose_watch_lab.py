# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue #19 on the lab's Fragrance stack: F13's pre-maintenance checklist and the
bounded watch (F9, F13), and F8's decision on measured inputs. Watches last seconds."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import ansible_runner
import pytest

from .conftest import ROOT, task_results

FRAGRANCE, URL = 'fragrance-ai', 'http://172.30.53.20'
SHORT_WATCH = {'watch_minutes': 0.1, 'watch_interval': 2}  # 6 s, 4 health calls


def docker(*args: str) -> str:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=True).stdout.strip()


def get(path: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(f'{URL}{path}', timeout=5) as answer:
            body = answer.read().decode()
            return answer.status, json.loads(body) if body.startswith('{') else body
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:
        return 0, str(err)


def wait_for(what: str, check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f'{what} did not happen in {seconds} s'
        time.sleep(0.5)


def containers(service: str) -> list[str]:
    return docker(
        'ps', '-aq', '--filter', 'label=com.docker.compose.project=fragrance-ai',
        '--filter', f'label=com.docker.compose.service={service}',
    ).split()  # fmt: skip


def fact(runner, task: str, name: str):
    return task_results(runner, task)[FRAGRANCE]['ansible_facts'][name]


@pytest.fixture(scope='module')
def fragrance(lab):
    """The stack at v0.2.0 and healthy, as the lab brings it up."""
    if get('/version') != (200, {'version': 'v0.2.0'}):
        runner = lab.playbook('redeploy.yml', extravars={'version': 'v0.2.0'}, cmdline=f'-l {FRAGRANCE}')
        assert runner.rc == 0, runner.stdout.read()
    wait_for('health', lambda: get('/health')[0] == 200)
    return lab


def test_maintenance_checks_its_list_before_the_site_goes_down_and_watches_after(fragrance):
    runner = fragrance.playbook(
        'maintenance.yml', extravars={'drain_seconds': 1, **SHORT_WATCH}, cmdline=f'-l {FRAGRANCE}'
    )
    assert runner.rc == 0, runner.stdout.read()
    checklist = fact(runner, 'Checklist | Put the results together', 'compose_maintenance_checklist')
    assert [line.split(':')[0] for line in checklist] == [
        'backup',
        'restore rehearsal',
        'rehearsal database fragrance_ai_restore',
        'maintenance page',
    ]
    assert checklist[0].startswith('backup: ok - /backup/postgres/fragrance_ai_')
    assert checklist[3] == f'maintenance page: ok - {URL}/version answered 503, before the drain'
    # The order a guard needs: every check before the flag, the 503 before the drain.
    started = [e['event_data'].get('task') for e in runner.events if e['event'] == 'playbook_on_task_start']
    assert (
        started.index('Checklist | Drop the rehearsal database fragrance_ai_restore')
        < started.index('Put the site into maintenance')
        < started.index('Let running requests finish, seconds - 1')
    )
    databases = docker('exec', 'fragrance-ai-postgres-1', 'psql', '-U', 'fragrance_user', '-d', 'postgres', '-Atc',
                       'SELECT datname FROM pg_database').split()  # fmt: skip
    assert 'fragrance_ai_restore' not in databases  # the rehearsal is cleaned up
    watch = fact(runner, 'Publish the figures as compose_watch_result', 'compose_watch_result')
    assert watch['ok'] and watch['samples'] == 4 and watch['health_failed'] == 0
    assert watch['errors_5xx'] == 0 and watch['requests'] >= 4 and watch['error_source'] == 'access log of nginx'
    report = task_results(runner, 'Report the maintenance window')[FRAGRANCE]['msg']
    assert report[-1].startswith('watch: watched 6 s: 4 health calls, 0 failed')
    assert get('/version') == (200, {'version': 'v0.2.0'})


def test_rollback_measures_a_dead_worker_kind_and_decides_on_the_workers(fragrance):
    killed = containers('worker-llm')
    docker('kill', *killed)
    try:
        # A heartbeat lives 5 s after its worker stopped.
        wait_for('llm heartbeats to lapse', lambda: get('/health')[1]['services']['workers']['llm'] == 0, 15)
        # The decision alone (check mode, --tags decide). Only this test's own log lines
        # count (10 s): the lab is shared.
        runner = fragrance.playbook(
            'rollback.yml',
            extravars={'rollback_window': '10s', 'version': 'v0.1.0'},
            cmdline=f'-l {FRAGRANCE} --check --tags decide',
        )
        assert runner.rc == 0, runner.stdout.read()
        plan = fact(runner, 'Apply the decision tree to the symptoms', 'compose_rollback_plan')
        assert plan['kind'] == 'workers', plan
        assert plan['symptoms']['worker_failure_ratio'] == 1.0 and plan['symptoms']['db_errors'] == 0
        sources = '\n'.join(plan['sources'])
        assert 'worker-llm 0 of ' in sources and 'heartbeats worker:llm:*' in sources
        assert 'answers 5xx in the access log of nginx (last 10s' in sources
        assert 'calls of http://172.30.53.20/health' in sources or "the app's /metrics" in sources
        assert docker('inspect', '-f', '{{.State.Status}}', *killed).split() == ['exited'] * len(killed)
    finally:
        docker('start', *killed)


def test_a_measured_slowdown_rolls_back_quick_and_the_watch_follows(fragrance):
    # A baseline far under any real p95 makes the stack "2x slower" (F8: quick rollback).
    extravars = {'rollback_window': '10s', 'rollback_latency_baseline_ms': 0.5, 'version': 'v0.1.0', **SHORT_WATCH}
    try:
        runner = fragrance.playbook('rollback.yml', extravars=extravars, cmdline=f'-l {FRAGRANCE}')
        assert runner.rc == 0, runner.stdout.read()
        plan = fact(runner, 'Apply the decision tree to the symptoms', 'compose_rollback_plan')
        assert plan['kind'] == 'quick' and plan['symptoms']['latency_ratio'] >= 2, plan
        assert any(line.startswith('latency_ratio ') and 'baseline 0.5 ms' in line for line in plan['sources'])
        assert get('/version') == (200, {'version': 'v0.1.0'})
        watch = fact(runner, 'Publish the figures as compose_watch_result', 'compose_watch_result')
        assert watch['ok'] and watch['samples'] == 4 and watch['errors_5xx'] == 0
        report = task_results(runner, 'Report the rollback')[FRAGRANCE]['msg']
        assert report[0] == 'rollback: quick' and report[-1].startswith('watch: watched 6 s: 4 health calls, 0 failed')
    finally:
        back = fragrance.playbook('redeploy.yml', extravars={'version': 'v0.2.0'}, cmdline=f'-l {FRAGRANCE}')
        assert back.rc == 0, back.stdout.read()


def run_async(lab, playbook: str, extravars: dict, on_event) -> tuple[threading.Thread, ansible_runner.Runner]:
    return ansible_runner.run_async(
        private_data_dir=str(lab.tmp),
        project_dir=str(ROOT),
        playbook=str(ROOT / 'playbooks' / playbook),
        inventory=str(ROOT / 'inventories/lab'),
        extravars=extravars,
        cmdline=f'-l {FRAGRANCE}',
        quiet=True,
        event_handler=on_event,
        envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH']},
    )


def test_a_watch_that_sees_the_app_go_down_fails_the_run_with_its_figures(fragrance):
    watching = threading.Event()

    def on_event(event: dict) -> bool:
        task = (event.get('event_data') or {}).get('task') or ''
        if event.get('event') == 'playbook_on_task_start' and task.startswith('Watch the error rate and the health,'):
            watching.set()
        return True

    # 30 s planned, a call a second: two failed calls in a row must end it long before.
    extravars = {'drain_seconds': 1, 'watch_minutes': 0.5, 'watch_interval': 1}
    thread, runner = run_async(fragrance, 'maintenance.yml', extravars, on_event)
    app = containers('app')
    try:
        assert watching.wait(120), 'the watch did not start'
        docker('kill', *app)
        thread.join(60)
        assert not thread.is_alive()
    finally:
        docker('start', *app)
        wait_for('health', lambda: get('/health')[0] == 200, 60)
        # The few 502s stay in nginx's log: answers enough that the lab's later F8
        # decisions (5xx over 5 % of the last 15 minutes) are not tipped by them.
        for _request in range(100):
            get('/version')
    assert runner.rc != 0
    watch = fact(runner, 'Publish the figures as compose_watch_result', 'compose_watch_result')
    assert not watch['ok'] and watch['stopped_early'] and watch['health_failed'] >= 2
    assert watch['seconds'] < 25 and watch['errors_5xx'] >= 1
    failure = task_results(runner, 'Stop when the watch saw errors or a failed health')[FRAGRANCE]
    assert failure['msg'].startswith(f'{FRAGRANCE}: The watch of {URL}/health failed: health failed 2 times in a row')
    assert 'error rate' in failure['msg'] and 'roll back (playbooks/rollback.yml)' in failure['msg']
    assert get('/version') == (200, {'version': 'v0.2.0'})  # the window itself had ended: flag off
