# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose runbooks (QA-Arena Q1-Q11, Fragrance AI F1-F13) against the lab's real
stacks on the compose host: containers, health, Redis workers, PostgreSQL, nginx."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import artifacts, task_results

QA, FRAGRANCE = 'qa-arena', 'fragrance-ai'
QA_URL, FRAGRANCE_URL = 'http://172.30.53.21', 'http://172.30.53.20'
CERT = '/etc/letsencrypt/live/qa-arena.qalabs.kr/fullchain.pem'


def docker(*args: str) -> str:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=True).stdout.strip()


def fragrance_sql(database: str, sql: str) -> str:
    return docker('exec', 'fragrance-ai-postgres-1', 'psql', '-U', 'fragrance_user', '-d', database, '-Atc', sql)


def project_ids(project: str) -> dict[str, str]:
    names = docker('ps', '--filter', f'label=com.docker.compose.project={project}', '--format', '{{.Names}} {{.ID}}')
    return dict(line.split() for line in names.splitlines())


def get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = answer.read().decode()
            return answer.status, json.loads(body) if body.startswith('{') else body
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def on_compose_host(lab, script: str) -> str:
    return lab.exec('compose', 'sh', '-c', script, user='ubuntu')


def changed(runner, host: str) -> int:
    return runner.stats['changed'].get(host, 0)


@pytest.fixture(scope='module')
def stacks(lab):
    """A clean deploy history, the stacks at their first deploy."""
    on_compose_host(lab, 'rm -rf ~/.local/state/sre-runbooks')
    return lab


def test_status_lists_every_container_and_changes_nothing(stacks):
    runner = stacks.playbook('compose_status.yml')
    assert runner.rc == 0, runner.stdout.read()
    assert runner.stats['changed'] == {}
    status = {
        host: res['ansible_facts']['compose_status']
        for host, res in task_results(runner, 'Put the status together').items()
    }
    assert len(status[QA]['containers']) == 7 and status[QA]['ok']
    assert {c['name'] for c in status[FRAGRANCE]['checks']} >= {
        'api health',
        'postgres ready',
        'redis ping',
        'queue jobs:llm',
    }


def test_restart_of_one_service_leaves_the_other_containers_alone(stacks):
    before = project_ids('qa_labs')
    runner = stacks.playbook('compose_restart.yml', extravars={'service': 'qa_arena_backend_prod'}, cmdline=f'-l {QA}')
    assert runner.rc == 0, runner.stdout.read()
    assert changed(runner, QA) == 1
    after = project_ids('qa_labs')
    assert after == before  # a restart keeps every ID, and no other container was touched
    started = docker('inspect', '-f', '{{.State.StartedAt}}', *sorted(after))
    assert len(set(started.splitlines())) > 1  # the backend started later than the rest

    rebuilt = stacks.playbook(
        'compose_restart.yml', extravars={'service': 'backend', 'action': 'rebuilt'}, cmdline=f'-l {QA}'
    )
    assert rebuilt.rc == 0, rebuilt.stdout.read()
    rebuilt_ids = project_ids('qa_labs')
    del rebuilt_ids['qa_arena_backend_prod'], before['qa_arena_backend_prod']
    assert rebuilt_ids == before  # only the backend may have been recreated


def test_a_wrong_service_name_stops_with_the_known_names(stacks):
    runner = stacks.playbook('compose_restart.yml', extravars={'service': 'bakend'}, cmdline=f'-l {QA}')
    assert runner.rc != 0
    assert "no compose service or container named 'bakend'" in runner.stdout.read()


def test_scale_up_then_down_step_by_step(stacks):
    def workers() -> int:
        return len([n for n in project_ids('fragrance-ai') if 'worker-llm' in n])

    assert workers() == 1
    up = stacks.playbook('scale.yml', extravars={'service': 'worker-llm', 'replicas': 3}, cmdline=f'-l {FRAGRANCE}')
    assert up.rc == 0, up.stdout.read()
    assert workers() == 3
    # Heartbeats of workers removed earlier live 5 s more: wait for them to lapse.
    for _attempt in range(20):
        if get(f'{FRAGRANCE_URL}/health')[1]['services']['workers']['llm'] == 3:
            break
        time.sleep(0.5)
    assert get(f'{FRAGRANCE_URL}/health')[1]['services']['workers']['llm'] == 3

    down = stacks.playbook(
        'scale.yml', extravars={'service': 'worker-llm', 'replicas': 1, 'step_wait': 1}, cmdline=f'-l {FRAGRANCE}'
    )
    assert down.rc == 0, down.stdout.read()
    steps = [
        event['event_data']['task']
        for event in down.events
        if event['event'] == 'runner_on_ok' and event['event_data'].get('task', '').startswith('Scale the service to')
    ]
    assert steps == ['Scale the service to 2', 'Scale the service to 1']  # one step at a time, checked between
    assert workers() == 1

    again = stacks.playbook('scale.yml', extravars={'service': 'worker-llm', 'replicas': 1}, cmdline=f'-l {FRAGRANCE}')
    assert again.rc == 0 and changed(again, FRAGRANCE) == 0


def test_version_deploys_and_quick_rollback_by_version(stacks):
    for version in ('v0.1.0', 'v0.2.0'):
        runner = stacks.playbook('redeploy.yml', extravars={'version': version}, cmdline=f'-l {FRAGRANCE}')
        assert runner.rc == 0, runner.stdout.read()
        assert get(f'{FRAGRANCE_URL}/version')[1] == {'version': version}
    again = stacks.playbook('redeploy.yml', extravars={'version': 'v0.2.0'}, cmdline=f'-l {FRAGRANCE}')
    assert again.rc == 0 and changed(again, FRAGRANCE) == 0

    predicted = stacks.playbook('redeploy.yml', extravars={'version': 'v0.1.0'}, cmdline=f'-l {FRAGRANCE} --check')
    assert predicted.rc == 0, predicted.stdout.read()
    assert changed(predicted, FRAGRANCE) > 0
    assert get(f'{FRAGRANCE_URL}/version')[1] == {'version': 'v0.2.0'}  # check mode touched nothing

    healthy = stacks.playbook('rollback.yml', cmdline=f'-l {FRAGRANCE}')
    assert healthy.rc == 0 and changed(healthy, FRAGRANCE) == 0  # no symptom: no rollback

    rollback = stacks.playbook(
        'rollback.yml', extravars={'rollback_symptoms': {'error_5xx_ratio': 0.2}}, cmdline=f'-l {FRAGRANCE}'
    )
    assert rollback.rc == 0, rollback.stdout.read()
    assert get(f'{FRAGRANCE_URL}/version')[1] == {'version': 'v0.1.0'}
    assert 'VERSION=v0.1.0' in on_compose_host(stacks, 'cat ~/fragrance-ai/.env')

    back = stacks.playbook('redeploy.yml', extravars={'version': 'v0.2.0'}, cmdline=f'-l {FRAGRANCE}')
    assert back.rc == 0 and get(f'{FRAGRANCE_URL}/version')[1] == {'version': 'v0.2.0'}


def test_full_rollback_brings_a_dropped_table_back(stacks):
    backup = stacks.playbook('backup.yml', extravars={'sre_backup_hosts': FRAGRANCE, 'pg_backup_force': True})
    assert backup.rc == 0, backup.stdout.read()
    fragrance_sql('fragrance_ai', 'DROP TABLE items')
    assert get(f'{FRAGRANCE_URL}/api/items')[0] == 500

    runner = stacks.playbook(
        'rollback.yml', extravars={'rollback_symptoms': {'data_corruption': True}}, cmdline=f'-l {FRAGRANCE}'
    )
    assert runner.rc == 0, runner.stdout.read()
    decision = task_results(runner, 'Apply the decision tree to the symptoms')[FRAGRANCE]['ansible_facts'][
        'compose_rollback_plan'
    ]
    assert decision['kind'] == 'full' and decision['investigate']
    assert get(f'{FRAGRANCE_URL}/api/items') == (200, {'items': 500})
    assert get(f'{FRAGRANCE_URL}/version')[1] == {'version': 'v0.1.0'}
    kept = fragrance_sql('postgres', 'SELECT datname FROM pg_database')
    assert any(name.startswith('fragrance_ai_broken_') for name in kept.splitlines())  # the evidence is kept

    back = stacks.playbook('redeploy.yml', extravars={'version': 'v0.2.0'}, cmdline=f'-l {FRAGRANCE}')
    assert back.rc == 0


def test_git_redeploy_from_main_and_rollback_to_the_previous_good_commit(stacks):
    first = stacks.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert first.rc == 0, first.stdout.read()
    good = on_compose_host(stacks, 'cd ~/qa_labs && git rev-parse HEAD').strip()
    good_version = get(f'{QA_URL}/version')[1]['version']
    release = f'v0.3.{int(time.time())}'  # a new release on every run: the lab keeps its git history
    on_compose_host(
        stacks,
        'set -e; rm -rf /tmp/release && git clone -q /srv/git/qa_labs.git /tmp/release && cd /tmp/release'
        f' && echo {release} > backend/VERSION'
        f' && git -c user.name=dev -c user.email=dev@lab.invalid commit -qam "release {release}"'
        ' && git push -q origin main',
    )
    deploy = stacks.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert deploy.rc == 0, deploy.stdout.read()
    assert get(f'{QA_URL}/version')[1] == {'version': release}
    again = stacks.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert again.rc == 0 and changed(again, QA) == 0

    rollback = stacks.playbook('rollback.yml', extravars={'rollback_kind': 'quick'}, cmdline=f'-l {QA}')
    assert rollback.rc == 0, rollback.stdout.read()
    assert get(f'{QA_URL}/version')[1] == {'version': good_version}
    assert on_compose_host(stacks, 'cd ~/qa_labs && git rev-parse HEAD').strip() == good

    forward = stacks.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert forward.rc == 0 and get(f'{QA_URL}/version')[1] == {'version': release}


def test_local_changes_stop_a_redeploy_and_are_kept(stacks):
    previous = on_compose_host(stacks, 'cd ~/qa_labs && git rev-parse HEAD~1').strip()
    on_compose_host(stacks, 'echo hotfix >> ~/qa_labs/backend/server.py')
    try:
        runner = stacks.playbook('redeploy.yml', extravars={'ref': previous}, cmdline=f'-l {QA}')
        assert runner.rc != 0
        assert 'Local modifications exist' in runner.stdout.read()
        assert 'hotfix' in on_compose_host(stacks, 'tail -1 ~/qa_labs/backend/server.py')
    finally:
        on_compose_host(stacks, 'cd ~/qa_labs && git checkout -q -- backend/server.py')


def test_weekly_report_marks_a_certificate_expiring_in_5_days_critical(stacks):
    stacks.exec(
        'compose',
        'sh',
        '-c',
        f'cp {CERT} {CERT}.90d && openssl req -x509 -newkey rsa:2048 -nodes -days 5'
        f' -subj /CN=qa-arena.qalabs.kr -keyout /dev/null -out {CERT} 2>/dev/null',
    )
    try:
        runner = stacks.playbook('weekly_check.yml', cmdline=f'-l {QA}')
        assert runner.rc != 0  # a critical finding fails the run, after the report
        findings = task_results(runner, 'Put the findings together')[QA]['ansible_facts']['compose_checks_findings']
        assert {'severity': 'critical', 'service': 'tls', 'problem': f'{CERT} expires in 5 days (<= 7)'} in findings
        report = task_results(runner, 'Write the report')[QA]['dest']
        with open(report) as handle:
            text = handle.read()
        assert f'| critical | tls | {CERT} expires in 5 days (<= 7) |' in text
        # The failed job still returns its report and keeps it off the controller
        # (the lab's output store is a directory on the backup host).
        name = f'reports/{Path(report).name}'
        kept = artifacts(runner)['sre_outputs'][name]
        assert kept['stored_at'] == f'backup:/srv/sre-store/outputs/{name}'
        assert artifacts(runner)['sre_reports'][name] == text.rstrip('\n')
        assert stacks.exec('backup', 'cat', f'/srv/sre-store/outputs/{name}') == text
    finally:
        stacks.exec('compose', 'mv', f'{CERT}.90d', CERT)
    daily = stacks.playbook('daily_check.yml', cmdline=f'-l {QA}')
    assert daily.rc == 0, daily.stdout.read()
    assert changed(daily, QA) == 0


def test_maintenance_window_answers_503_then_200(stacks):
    runner = stacks.playbook('maintenance.yml', extravars={'drain_seconds': 1}, cmdline=f'-l {FRAGRANCE}')
    assert runner.rc == 0, runner.stdout.read()
    answers = [
        event['event_data']['res']['status']
        for event in runner.events
        if event['event'] == 'runner_on_ok'
        and event['event_data'].get('task') == 'Check the answer through the proxy (503 while on, 200 when off)'
    ]
    assert answers == [503, 200]
    assert get(f'{FRAGRANCE_URL}/version')[0] == 200


def test_logs_are_saved_per_service_and_filtered(stacks):
    for host, service, saved_as in (
        (FRAGRANCE, 'worker-llm', 'worker-llm'),
        (QA, 'qa_arena_celery_worker_prod', 'celery_worker'),
    ):
        runner = stacks.playbook(
            'compose_logs.yml', extravars={'level': 'registered', 'services': service}, cmdline=f'-l {host}'
        )
        assert runner.rc == 0, runner.stdout.read()
        assert runner.stats['changed'] == {}
        folder = Path(task_results(runner, 'Settle where the files go')[host]['ansible_facts']['compose_logs_saved_to'])
        assert [path.name for path in folder.iterdir()] == [f'{saved_as}.log']
        lines = (folder / f'{saved_as}.log').read_text().splitlines()
        assert lines and all('registered' in line for line in lines)
        kept = artifacts(runner)['sre_outputs'][f'logs/{folder.name}/{saved_as}.log']
        assert stacks.exec('backup', 'cat', kept['stored_at'].split(':', 1)[1]).splitlines() == lines


def test_down_with_volumes_is_refused_and_the_volume_survives(stacks):
    before = project_ids('qa_labs')
    runner = stacks.module(
        'sre.runbooks.compose',
        'project_src=/home/ubuntu/qa_labs files=docker-compose.prod.yml state=absent remove_volumes=true',
        pattern=QA,
    )
    assert runner.rc != 0
    assert 'compose_down_volumes' in runner.stdout.read()
    assert project_ids('qa_labs') == before
    assert 'qa_labs_postgres_data' in docker('volume', 'ls', '--format', '{{.Name}}').split()
    assert get(f'{QA_URL}/api/items') == (200, {'items': 500})
