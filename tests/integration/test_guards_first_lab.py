# SPDX-License-Identifier: GPL-3.0-or-later
"""Every destructive playbook, run on the lab as if it were production and without the
operator's confirmation, stops at its guard before its first change: the run fails,
no host reports a change, and the services are as they were. An inventory that does not
say which environment it is counts as production. Also: one state-changing run at a
time per host, and a playbook whose hosts match nothing fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest

from .conftest import ROOT, task_results

PRODUCTION = {'sre_environment': 'production'}


def remote_changes(runner) -> dict[str, int]:
    """Changes per remote host (localhost may write the run's report)."""
    return {host: count for host, count in runner.stats.get('changed', {}).items() if host != 'localhost' and count}


def refusals(runner, task: str = 'Guard |') -> list[str]:
    """The messages of the failed tasks whose name contains task."""
    return [
        event['event_data']['res'].get('msg', '')
        for event in runner.events
        if event['event'] == 'runner_on_failed' and task in event['event_data'].get('task', '')
    ]


def state(lab) -> dict[str, str]:
    """What a destructive playbook would change first, on every lab host."""
    compose = subprocess.run(
        ['docker', 'ps', '--format', '{{.Names}} {{.Status}}', '--filter', 'label=com.docker.compose.project'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        'users': lab.exec('api', 'psql', '-XAtc', 'SELECT count(*) FROM users', 'o4o_platform', user='postgres'),
        'databases': lab.exec(
            'api',
            'psql',
            '-XAtc',
            'SELECT string_agg(datname, \',\' ORDER BY datname) FROM pg_database',
            user='postgres',
        ),
        'pm2': lab.exec('api', 'env', 'PM2_HOME=/home/ubuntu/.pm2', 'pm2', 'pid', 'api-server', user='ubuntu'),
        'api_firewall': lab.exec('api', 'iptables', '-S'),
        'web_site': lab.exec('web', 'cat', '/etc/nginx/sites-available/o4o'),
        'containers': '\n'.join(
            sorted(
                line.split(' (')[0].split(' Up')[0] + (' up' if ' Up ' in line else ' down')
                for line in compose.splitlines()
            )
        ),
    }


CASES = [
    pytest.param('restore_database.yml', {}, '', ['o4o_platform'], id='restore'),
    pytest.param('isolate_host.yml', {}, '', ['api'], id='isolate'),
    pytest.param('disaster_recovery.yml', {'dr_scenario': 'full_restore'}, '', ['o4o_platform'], id='dr-in-place'),
    pytest.param(
        'rebuild_host.yml', {'dr_scenario': 'hardware_failure'}, '', ['o4o_platform'], id='rebuild-hardware-failure'
    ),
    pytest.param(
        'rollback.yml',
        {'rollback_kind': 'full'},
        '-l fragrance-ai',
        ['fragrance-ai', 'fragrance_ai'],
        id='rollback-full',
    ),
    pytest.param('maintenance.yml', {'drain_seconds': 1}, '-l fragrance-ai', ['fragrance-ai'], id='maintenance'),
]


@pytest.mark.parametrize(('playbook', 'extravars', 'cmdline', 'names'), CASES)
def test_production_without_confirmation_changes_nothing(lab, playbook, extravars, cmdline, names):
    before = state(lab)
    runner = lab.playbook(playbook, extravars={**extravars, **PRODUCTION}, cmdline=cmdline)
    assert runner.rc != 0
    messages = refusals(runner)
    assert messages, 'the run did not stop at a guard'
    assert all('in production without confirmation' in message for message in messages), messages
    assert f"-e sre_confirm={','.join(names)}" in messages[0]
    assert remote_changes(runner) == {}
    assert state(lab) == before


@pytest.fixture
def unlabelled_inventory(tmp_path) -> str:
    """The lab inventory without sre_environment."""
    copy = tmp_path / 'inventory'
    shutil.copytree(ROOT / 'inventories/lab', copy)
    variables = copy / 'group_vars/all.yml'
    variables.write_text(
        ''.join(line for line in variables.read_text().splitlines(True) if 'sre_environment' not in line)
    )
    return str(copy)


def test_an_inventory_without_sre_environment_counts_as_production(lab, unlabelled_inventory):
    before = state(lab)
    runner = lab.playbook('restore_database.yml', inventory=unlabelled_inventory)
    assert runner.rc != 0
    assert any(
        'refusing to replace with its rehearsed restore the database o4o_platform in production' in m
        for m in refusals(runner)
    )
    assert remote_changes(runner) == {}
    assert state(lab) == before


def plant_lock(host: str, holder: dict) -> None:
    """A lock file on the host as another run, elsewhere, would have left it."""
    subprocess.run(
        ['docker', 'exec', '-i', f'sre-lab-{host}', 'sh', '-c',
         f'mkdir -p /var/lib/sre-runbooks/locks && cat > /var/lib/sre-runbooks/locks/{host}.lock'],
        input=json.dumps(holder), text=True, check=True,
    )  # fmt: skip


def test_a_second_run_is_refused_at_once_naming_the_holder(lab):
    assert lab.playbook('backup.yml').rc == 0  # for the check-mode run below
    plant_lock(
        'api',
        {
            'run_id': 'awx-job-7:42:1',
            'controller': 'awx-job-7',
            'pid': 42,
            'operator': 'oncall',
            'play': 'Restore the database from a verified backup',
            'started_at': time.time(),
        },
    )
    try:
        before = state(lab)
        runner = lab.playbook('restore_database.yml')
        assert runner.rc != 0
        refusal = task_results(runner, 'Guard | Take the run lock of api')['api']['msg']
        assert 'api is locked by another run: oncall on awx-job-7 (process 42)' in refusal
        assert remote_changes(runner) == {} and state(lab) == before
        checked = lab.playbook('restore_database.yml', cmdline='--check')
        assert checked.rc == 0, 'check mode must not be blocked by a lock'
        health = lab.playbook('health_check.yml')
        assert health.rc == 0, 'a read-only playbook must not be blocked by a lock'
    finally:
        lab.exec('api', 'rm', '-f', '/var/lib/sre-runbooks/locks/api.lock')


def test_a_playbook_whose_hosts_match_nothing_fails(lab, tmp_path):
    empty = tmp_path / 'hosts.yml'
    empty.write_text('all:\n  children:\n    compose:\n      hosts: {}\n')
    runner = lab.playbook('health_check.yml', inventory=str(empty))
    assert runner.rc != 0
    assert any("No host of the inventory matches 'o4o_api:o4o_web'" in m for m in refusals(runner))
    runner = lab.playbook('backup.yml', inventory=str(empty))  # a wrong -i
    assert runner.rc != 0
    assert any("No host of the inventory matches 'o4o_api'" in m for m in refusals(runner))
    runner = lab.playbook('compose_status.yml', cmdline='-l api')  # a wrong -l
    assert runner.rc != 0
    assert any('No host of the inventory matches' in m for m in refusals(runner))


def test_two_restores_at_once_one_runs_the_other_is_refused(lab, tmp_path):
    """The race of issue #18 (two recoveries of one host at once, one failing half-way on
    a missing <db>_restore): now one takes the lock and the other stops before changing
    anything."""
    assert lab.playbook('backup.yml', extravars={'pg_backup_force': True}).rc == 0
    runners: dict[str, object] = {}

    def run(name: str) -> None:
        runners[name] = lab.playbook('restore_database.yml')

    threads = [threading.Thread(target=run, args=(name,)) for name in ('first', 'second')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    codes = sorted(runner.rc for runner in runners.values())
    assert codes[0] == 0 and codes[1] != 0, codes
    loser = next(runner for runner in runners.values() if runner.rc != 0)
    refusal = task_results(loser, 'Guard | Take the run lock of api')['api']['msg']
    assert 'api is locked by another run' in refusal and "play 'Restore the database" in refusal
    assert remote_changes(loser) == {}
    assert lab.playbook('restore_database.yml').rc == 0, 'the lock was not given back'


def test_isolation_check_mode_on_a_host_never_isolated_predicts_and_touches_nothing(lab):
    lab.exec('api', 'sh', '-c', 'rm -f /etc/iptables/sre-isolation.rules.v4 /etc/iptables/sre-isolation.boot.rules.v4')
    before = state(lab)
    runner = lab.playbook('isolate_host.yml', cmdline='--check')
    assert runner.rc == 0
    assert runner.stats['changed'].get('api', 0) > 0, 'check mode predicted nothing'
    assert state(lab) == before
    assert lab.exec('api', 'sh', '-c', 'ls /etc/iptables/sre-isolation* 2>/dev/null || true') == ''
