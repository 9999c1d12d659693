# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/disaster_recovery.yml on the lab: each failure the runbook names, made
real (a dead API, PostgreSQL down, a broken nginx config, a failed deploy, an intact
database declared corrupted), recovered or refused with a clear message, and a
re-run on the healthy system that changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import api_health, task_results
from .watch import ADMIN_TOKEN, DB_PASSWORD, LOGIN_PASSWORD, run_watched

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


HISTORY = '/home/ubuntu/.local/state/sre-runbooks/pm2-api-server.json'
APP_DIR = f'{REPO}/apps/api-server'


def crash_release(lab) -> None:
    """Build and run a release whose server crashes at start (branch bad-deploy), as a
    deploy by hand would: pm2_app never records it."""
    lab.exec('api', 'git', '-C', REPO, 'switch', '-q', '-C', 'bad-deploy', 'main', user='ubuntu')
    lab.exec('api', 'sh', '-c', f'echo "throw new Error(\'bad deploy\');" >> {APP_DIR}/src/server.js', user='ubuntu')
    lab.exec('api', 'git', '-C', REPO, 'commit', '-qam', 'a release that crashes', user='ubuntu')
    lab.exec('api', 'npm', '--prefix', APP_DIR, 'run', 'build', user='ubuntu')
    pm2(lab, 'restart', 'api-server')


@pytest.fixture
def bad_deploy(lab):
    """A release whose server crashes at start, built and running under pm2."""
    crash_release(lab)
    yield lab
    lab.exec('api', 'git', '-C', REPO, 'switch', '-q', 'main', user='ubuntu')
    lab.exec('api', 'git', '-C', REPO, 'branch', '-qD', 'bad-deploy', user='ubuntu')
    lab.exec('api', 'npm', '--prefix', APP_DIR, 'run', 'build', user='ubuntu')
    pm2(lab, 'restart', 'api-server')


def test_failed_deploy_is_rolled_back_to_the_stable_release(bad_deploy):
    """O9.4 with dr_stable_ref, then without: the release comes from the history that
    pm2_app records (healthy releases; the one rolled back from is marked bad)."""
    lab = bad_deploy
    lab.exec('api', 'rm', '-f', HISTORY)
    failure = {'dr_scenario': 'deploy_failure'}
    runner = lab.playbook('disaster_recovery.yml', extravars={**failure, 'dr_stable_ref': 'v1.1.0'})
    assert runner.rc == 0 and api_health()['version'] == '1.1.0'
    back = lab.playbook('disaster_recovery.yml', extravars={**failure, 'dr_stable_ref': 'v1.2.0'})
    assert back.rc == 0 and api_health()['version'] == '1.2.0'
    stable = lab.exec('api', 'git', '-C', REPO, 'rev-parse', 'HEAD', user='ubuntu').strip()
    crash_release(lab)
    chosen = lab.playbook('disaster_recovery.yml', extravars=failure)
    assert chosen.rc == 0
    reason = task_results(chosen, 'Last good | Say which release and why')['api']['msg']
    assert f'v1.2.0 ({stable[:12]})' in reason and 'never recorded as a healthy deploy' in reason
    assert api_health()['version'] == '1.2.0'
    assert lab.exec('api', 'git', '-C', REPO, 'rev-parse', 'HEAD', user='ubuntu').strip() == stable
    again = lab.playbook('disaster_recovery.yml', extravars=failure)
    assert again.rc == 0 and changed_per_host(again) == {'api': 0, 'web': 0}


def test_unknown_release_and_missing_release_are_refused(lab):
    lab.exec('api', 'rm', '-f', HISTORY)
    missing = lab.playbook('disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure'})
    assert missing.rc != 0
    refusal = task_results(missing, 'Last good | Choose the newest healthy release that is not the running commit')
    assert 'recorded: nothing' in refusal['api']['msg'] and 'dr_stable_ref' in refusal['api']['msg']
    assert changed_per_host(missing) == {'api': 0, 'web': 0}
    unknown = lab.playbook(
        'disaster_recovery.yml', extravars={'dr_scenario': 'deploy_failure', 'dr_stable_ref': 'v9.9.9'}
    )
    assert unknown.rc != 0
    assert api_health()['version'] == '1.2.0'


AUTHENTICATED_LOAD = {
    'url': 'http://172.30.53.11/api/health',
    'headers': {'Host': 'api.neture.co.kr', 'Authorization': f'Bearer {ADMIN_TOKEN}'},
    'requests': 200,
    'concurrency': 10,
}


def test_full_restore_in_place_brings_back_the_database_and_the_app_files(lab):
    """O5 on the existing host: the newest backup's database and app files, then a
    restart onto them, health and data verified; a re-run changes nothing. The run
    keeps every secret out of its output, artifacts and command lines (issue #18)."""
    token = f'{APP_DIR}/.admin-token'
    assert lab.playbook('backup.yml', extravars={'pg_backup_force': True}).rc == 0
    original = lab.exec('api', 'cat', token)
    lab.exec('api', 'sh', '-c', f'echo tampered > {token}')
    sql = 'DELETE FROM orders WHERE id > 1'
    lab.exec('api', 'psql', '-d', 'o4o_platform', '-c', sql, user='postgres')
    error_log = f'{APP_DIR}/logs/error.log'
    write_error = f'mkdir -p {APP_DIR}/logs && echo "ERROR lost the orders" >> {error_log}'
    lab.exec('api', 'sh', '-c', write_error, user='ubuntu')
    try:
        # Watched for secrets (-vvv --diff): the one drill here that goes through every
        # stage, its load test authenticated with the admin token.
        runner = run_watched(
            lab,
            'disaster_recovery.yml',
            [DB_PASSWORD, ADMIN_TOKEN, LOGIN_PASSWORD],
            extravars={'dr_scenario': 'full_restore', 'post_recovery_load_test': AUTHENTICATED_LOAD},
        )
    finally:
        lab.exec('api', 'rm', '-f', error_log)
    load_sent = 'Load | Send the load with its headers kept off every command line (not shown)'
    assert task_results(runner, load_sent), 'the authenticated load test did not run'
    report = task_results(runner, 'Report | Say where the report is')['localhost']['msg'].split()[-1]
    text = Path(report).read_text()
    assert 'Logs read at the assessment' in text and 'ERROR lost the orders' in text
    assert lab.exec('api', 'cat', token) == original
    restart = task_results(runner, 'Restore | Restart the API onto the restored files (O5)')
    assert restart, 'the API was not restarted onto the restored files'
    rows = lab.exec('api', 'psql', '-Atd', 'o4o_platform', '-c', 'SELECT count(*) FROM orders', user='postgres')
    assert int(rows) > 1
    assert api_health()['status'] == 'ok'
    again = lab.playbook('disaster_recovery.yml', extravars={'dr_scenario': 'full_restore'})
    assert again.rc == 0 and changed_per_host(again) == {'api': 0, 'web': 0}


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
