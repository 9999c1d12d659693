# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/disaster_recovery.yml on the lab: each failure the runbook names, made
real (a dead API, PostgreSQL down, a broken nginx config, a failed deploy, an intact
database declared corrupted), recovered or refused with a clear message, and a
re-run on the healthy system that changes nothing."""

from __future__ import annotations

import pytest

from .conftest import api_health, task_results

REPO = '/home/ubuntu/o4o-platform'


def changed_per_host(runner) -> dict[str, int]:
    stats = runner.stats or {}
    return {host: stats.get('changed', {}).get(host, 0) for host in ('api', 'web')}


def pm2(lab, *args: str) -> str:
    return lab.exec('api', 'env', 'PM2_HOME=/home/ubuntu/.pm2', 'pm2', *args, user='ubuntu')


def test_dead_api_is_restarted_and_a_rerun_changes_nothing(lab):
    pm2(lab, 'stop', 'api-server')
    first = lab.playbook('disaster_recovery.yml')
    assert first.rc == 0
    plan = task_results(first, 'Assess | Join the hosts\' findings and pick the recovery path')
    assert plan, 'the assessment published no plan'
    assert api_health()['status'] == 'ok'
    again = lab.playbook('disaster_recovery.yml')
    assert again.rc == 0
    assert changed_per_host(again) == {'api': 0, 'web': 0}


def test_stopped_postgresql_is_restarted(lab):
    lab.exec('api', 'systemctl', 'stop', 'postgresql@15-main')
    runner = lab.playbook('disaster_recovery.yml')
    assert runner.rc == 0
    assert task_results(runner, 'Respond | Restart PostgreSQL, which does not answer (O3)')['api']['changed']
    assert api_health()['database'] == 'up'


def test_broken_nginx_config_is_refused_then_recovered(lab):
    lab.exec('web', 'systemctl', 'stop', 'nginx')
    lab.exec('web', 'sh', '-c', 'echo "server { retrun 404; }" > /etc/nginx/conf.d/broken.conf')
    try:
        refused = lab.playbook('disaster_recovery.yml')
        assert refused.rc != 0
        gate = task_results(refused, 'Service | Test the configuration and make nginx started')['web']
        assert 'rejected the configuration' in gate['msg'] and 'retrun' in gate['msg']
        assert lab.exec('web', 'sh', '-c', 'systemctl is-active nginx || true').strip() == 'inactive'
    finally:
        lab.exec('web', 'rm', '-f', '/etc/nginx/conf.d/broken.conf')
    recovered = lab.playbook('disaster_recovery.yml')
    assert recovered.rc == 0
    assert api_health()['status'] == 'ok'


@pytest.fixture
def bad_deploy(lab):
    """A release whose server crashes at start, built and running under pm2."""
    lab.exec('api', 'git', '-C', REPO, 'switch', '-q', '-c', 'bad-deploy', user='ubuntu')
    lab.exec(
        'api',
        'sh',
        '-c',
        f'echo "throw new Error(\'bad deploy\');" >> {REPO}/apps/api-server/src/server.js',
        user='ubuntu',
    )
    lab.exec('api', 'git', '-C', REPO, 'commit', '-qam', 'a release that crashes', user='ubuntu')
    lab.exec('api', 'npm', '--prefix', f'{REPO}/apps/api-server', 'run', 'build', user='ubuntu')
    lab.exec('api', 'env', 'PM2_HOME=/home/ubuntu/.pm2', 'pm2', 'restart', 'api-server', user='ubuntu')
    yield lab
    lab.exec('api', 'git', '-C', REPO, 'switch', '-q', 'main', user='ubuntu')
    lab.exec('api', 'git', '-C', REPO, 'branch', '-qD', 'bad-deploy', user='ubuntu')
    lab.exec('api', 'npm', '--prefix', f'{REPO}/apps/api-server', 'run', 'build', user='ubuntu')
    pm2(lab, 'restart', 'api-server')


def test_failed_deploy_is_rolled_back_to_the_stable_release(bad_deploy):
    runner = bad_deploy.playbook(
        'disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure', 'dr_stable_ref': 'v1.1.0'}
    )
    assert runner.rc == 0
    assert api_health()['version'] == '1.1.0'
    again = bad_deploy.playbook(
        'disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure', 'dr_stable_ref': 'v1.1.0'}
    )
    assert again.rc == 0 and changed_per_host(again) == {'api': 0, 'web': 0}
    back = bad_deploy.playbook(
        'disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure', 'dr_stable_ref': 'v1.2.0'}
    )
    assert back.rc == 0 and api_health()['version'] == '1.2.0'


def test_unknown_release_and_missing_release_are_refused(lab):
    missing = lab.playbook('disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure'})
    assert missing.rc != 0
    assert (
        'dr_stable_ref'
        in task_results(missing, 'Start | Require the last stable release for a failed deploy')['localhost']['msg']
    )
    unknown = lab.playbook(
        'disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure', 'dr_stable_ref': 'v9.9.9'}
    )
    assert unknown.rc != 0
    assert api_health()['version'] == '1.2.0'


def test_db_corruption_on_an_intact_database_is_refused(lab):
    runner = lab.playbook('disaster_recovery.yml', extravars={'dr_scenario': 'db_corruption'})
    assert runner.rc != 0
    refusal = task_results(runner, 'Assess | Stop when the scenario does not match what was found')['api']
    assert 'finds the database intact' in refusal['msg'] and 'dr_force_restore=true' in refusal['msg']
    assert changed_per_host(runner) == {'api': 0, 'web': 0}


def test_production_inventory_recovery_is_only_listed(lab):
    runner = lab.playbook('disaster_recovery.yml', inventory='inventories/o4o', cmdline='--list-tasks')
    assert runner.rc == 0
    listing = runner.stdout.read()
    for stage in (
        'Stage 1 | Assess',
        'Stage 3 | Restore',
        'Stage 5 | Turn monitoring',
        'Report | Write the post-mortem',
    ):
        assert stage in listing
