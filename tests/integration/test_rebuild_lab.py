# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/rebuild_host.yml on the lab (runbook O9 scenarios 2 and 3): the bare spare
host is provisioned into an api host, fully restored from the off-host store (a
directory on the lab's backup host, reached over SSH: nothing on the controller), verified
and put behind the web host's nginx; for ransomware the api host is isolated first and
the backup taken before the compromise is chosen. Every test leaves api and web as the
other tests expect them (api serving, web pointing at it)."""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, api_health, task_results

MARK = ' [ENCRYPTED]'


def psql(lab, host: str, sql: str) -> str:
    return lab.exec(host, 'su', 'postgres', '-c', f'psql -XAtq -d o4o_platform -c "{sql}"').strip()


def changed(runner, *hosts: str) -> dict[str, int]:
    stats = runner.stats or {}
    return {host: stats.get('changed', {}).get(host, 0) for host in hosts}


def port_open_from_web(port: int) -> bool:
    probe = f'</dev/tcp/172.30.53.10/{port}'
    return (
        subprocess.run(['docker', 'exec', 'sre-lab-web', 'timeout', '3', 'bash', '-c', probe], check=False).returncode
        == 0
    )


def wait_for(check, seconds: int = 60) -> None:
    for _second in range(seconds):
        try:
            if check():
                return
        except (OSError, subprocess.CalledProcessError):
            pass
        time.sleep(1)
    raise AssertionError(f'{check.__name__} did not become true within {seconds} s')


def bring_the_api_host_back(lab) -> None:
    """api running, not isolated, its app serving and its data unmarked (the web host is
    pointed back at it by the caller)."""
    subprocess.run(['docker', 'start', 'sre-lab-api'], check=True, capture_output=True)
    wait_for(lambda: lab.exec('api', 'systemctl', 'is-system-running').strip() in ('running', 'degraded'))
    lab.exec(
        'api',
        'sh',
        '-c',
        'systemctl disable --now sre-isolation.service 2>/dev/null;'
        ' iptables -P INPUT ACCEPT; iptables -P OUTPUT ACCEPT; iptables -P FORWARD ACCEPT; iptables -F',
    )
    # pm2 resurrects the app as it was saved: stopped by the isolation. Start it.
    lab.exec('api', 'env', 'PM2_HOME=/home/ubuntu/.pm2', 'pm2', 'start', 'api-server', user='ubuntu')
    wait_for(lambda: '"ok"' in lab.exec('api', 'curl', '-s', 'http://127.0.0.1:4000/api/health'))
    psql(lab, 'api', f"UPDATE users SET name = replace(name, '{MARK}', '')")


@pytest.fixture(scope='module')
def rebuild(lab):
    """A bare spare host and a private backup store on the backup host; afterwards api
    serves again and web points at it, whatever the tests did."""
    subprocess.run([str(ROOT / 'lab/lab.sh'), 'reset', 'spare'], check=True, cwd=ROOT)
    store = f'/srv/sre-store/test-rebuild-{uuid.uuid4().hex[:8]}'
    yield {'o4o_backup_store': {'kind': 'ssh', 'host': 'backup', 'path': store}}
    lab.exec('backup', 'rm', '-rf', store)
    bring_the_api_host_back(lab)
    back = lab.playbook(
        'rebuild_host.yml',
        extravars={'dr_scenario': 'hardware_failure', 'o4o_api_upstream': '172.30.53.10:4000'},
        cmdline='--tags switch',
    )
    assert back.rc == 0, 'could not point the web host back at the api host'
    wait_for(lambda: api_health()['status'] == 'ok')


def backup(lab, store: dict, env: dict | None = None) -> str:
    runner = lab.playbook('backup.yml', extravars={'pg_backup_force': True, **store}, env=env)
    assert runner.rc == 0
    return Path(
        task_results(runner, 'Backup | Dump, validate, checksum and prune backups of o4o_platform')['api']['backup'][
            'path'
        ]
    ).name


def restored_backup(lab) -> str:
    comment = psql(
        lab, 'spare', "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'o4o_platform'"
    )
    return json.loads(comment.split(' ', 1)[1])['backup']


@pytest.fixture
def controller_tmp():
    """An empty TMPDIR for the controller, with a short path: ansible-core puts its local
    RPC server's unix socket there, and a socket's path is limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix='sre-ctl-', dir='/tmp'))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_hardware_failure_rebuilds_the_api_host_on_the_spare_with_nothing_on_the_controller(
    lab, rebuild, controller_tmp
):
    """The backups live on the backup host only: the controller's old store directory is
    gone and the controller's temporary directory keeps nothing of a run (as in AWX,
    whose job container is thrown away)."""
    shutil.rmtree(ROOT / '.cache/lab/backup-store', ignore_errors=True)  # the store before issue #17
    taken = backup(lab, rebuild, env={'TMPDIR': str(controller_tmp)})
    assert taken in lab.exec('backup', 'ls', rebuild['o4o_backup_store']['path'])
    rows = {table: psql(lab, 'api', f'SELECT count(*) FROM {table}') for table in ('users', 'products', 'orders')}
    subprocess.run(['docker', 'stop', 'sre-lab-api'], check=True, capture_output=True)  # the hardware fails

    scenario, env = {'dr_scenario': 'hardware_failure', **rebuild}, {'TMPDIR': str(controller_tmp)}
    first = lab.playbook('rebuild_host.yml', extravars=scenario, env=env)
    assert first.rc == 0
    assert restored_backup(lab) == taken
    assert not (ROOT / '.cache/lab/backup-store').exists()
    assert list(controller_tmp.iterdir()) == [], 'the backup stayed on the controller'
    assert {table: psql(lab, 'spare', f'SELECT count(*) FROM {table}') for table in rows} == rows
    assert lab.exec(
        'spare', 'stat', '-c', '%U %a', '/home/ubuntu/o4o-platform/apps/api-server/.db-password'
    ).split() == ['ubuntu', '600']
    assert '172.30.53.13:4000' in lab.exec('web', 'cat', '/etc/nginx/sites-available/o4o')
    health = api_health()  # api is down: the spare answers through nginx
    assert (health['status'], health['database']) == ('ok', 'up')

    again = lab.playbook('rebuild_host.yml', extravars={'dr_scenario': 'hardware_failure', **rebuild})
    assert again.rc == 0
    assert changed(again, 'localhost', 'spare', 'web') == {'localhost': 0, 'spare': 0, 'web': 0}

    subprocess.run(['docker', 'restart', 'sre-lab-spare'], check=True, capture_output=True)  # pm2 comes back at boot
    wait_for(lambda: api_health()['status'] == 'ok')


# What a check run leaves on a host it does not change: Ansible's remote temporary
# directory, sudo's first-use note, and apt's binary cache (the apt module reads the lists).
RUN_TRACES = {
    '/home/ubuntu/.sudo_as_admin_successful',
    '/var/cache',
    '/var/cache/apt',
    '/var/cache/apt/pkgcache.bin',
    '/var/cache/apt/srcpkgcache.bin',
}


def filesystem_changes(host: str) -> set[str]:
    """The container's changes to its image (docker diff), without a run's traces."""
    lines = subprocess.run(
        ['docker', 'diff', f'sre-lab-{host}'], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return {line for line in lines if not (line[2:] in RUN_TRACES or line[2:].startswith('/home/ubuntu/.ansible'))}


def report_lines(runner, task: str, host: str) -> list[str]:
    return task_results(runner, task)[host]['msg']


def test_check_mode_on_a_bare_host_predicts_without_touching_it(lab, rebuild):
    """The assessment node of the production rebuild workflow (AWX check job): the whole
    rebuild in check mode on a bare spare passes, changes nothing on spare nor web, and
    reports each check that needs what it would install as not checked, never as passed."""
    store = rebuild['o4o_backup_store']['path']
    if not lab.exec('backup', 'sh', '-c', f'ls {store} 2>/dev/null || true').strip():
        backup(lab, rebuild)  # run alone: the hardware-failure test took none yet
    subprocess.run([str(ROOT / 'lab/lab.sh'), 'reset', 'spare'], check=True, cwd=ROOT)
    untouched, site = filesystem_changes('spare'), lab.exec('web', 'cat', '/etc/nginx/sites-available/o4o')

    runner = lab.playbook(
        'rebuild_host.yml', extravars={'dr_scenario': 'hardware_failure', **rebuild}, cmdline='--check'
    )
    assert runner.rc == 0
    assert filesystem_changes('spare') == untouched
    assert lab.exec('web', 'cat', '/etc/nginx/sites-available/o4o') == site
    assert subprocess.run(['docker', 'exec', 'sre-lab-spare', 'which', 'psql', 'node'], check=False).returncode != 0
    health = report_lines(runner, 'Report | Show each check, and fail when one is unhealthy', 'spare')
    assert '---- | postgresql | not checked: PostgreSQL 15 would be installed by this run' in health
    assert '---- | pm2 api-server | not checked: api-server would be installed by this run' in health
    assert [line for line in health if line.startswith('OK')] == [
        line for line in health if line.startswith(('OK   | disk', 'OK   | memory'))
    ]
    web = report_lines(runner, 'Report | Show each check, and fail when one is unhealthy', 'web')
    assert '---- | api through nginx | not checked: api-server on spare would be installed by this run' in web
    findings = report_lines(runner, 'Report | Show the findings', 'spare')
    assert 'o4o_platform: not checked: PostgreSQL 15 would be installed by this run' in findings

    # A real run checks everything and fails closed, whatever check-mode facts say.
    real = lab.playbook(
        '../tests/integration/playbooks/verify_replacement.yml',
        extravars={'provision_postgres_predicted': True, 'provision_node_app_predicted': True},
    )
    assert real.rc != 0
    failure = task_results(real, 'Report | Show each check, and fail when one is unhealthy')['spare']['msg']
    assert 'spare is unhealthy: api health, api products, postgresql, service postgresql, pm2 api-server' in failure
    assert 'not checked' not in failure


def test_ransomware_isolates_picks_the_backup_before_the_compromise_and_rolls_back_a_bad_firewall(lab, rebuild):
    subprocess.run(['docker', 'start', 'sre-lab-api'], check=True, capture_output=True)
    wait_for(lambda: lab.exec('api', 'systemctl', 'is-system-running').strip() in ('running', 'degraded'))
    clean = backup(lab, rebuild)
    time.sleep(1.1)
    compromised_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    time.sleep(1.1)
    psql(lab, 'api', f"UPDATE users SET name = name || '{MARK}' WHERE id <= 50")
    infected = backup(lab, rebuild)
    assert infected != clean
    scenario = {'dr_scenario': 'ransomware', 'dr_compromised_at': compromised_at, **rebuild}

    first = lab.playbook('rebuild_host.yml', extravars=scenario)
    assert first.rc == 0
    assert restored_backup(lab) == clean
    assert psql(lab, 'spare', f"SELECT count(*) FROM users WHERE name LIKE '%{MARK}'") == '0'
    assert api_health()['status'] == 'ok'  # through nginx, from the spare
    # The isolated host: SSH from the controller only; nothing else reaches it.
    assert lab.module('ansible.builtin.ping', pattern='api').rc == 0
    assert not port_open_from_web(22)
    assert not port_open_from_web(4000)
    assert psql(lab, 'api', f"SELECT count(*) FROM users WHERE name LIKE '%{MARK}'") == '50'  # evidence kept

    again = lab.playbook('rebuild_host.yml', extravars=scenario)
    assert again.rc == 0
    assert changed(again, 'api', 'localhost', 'spare', 'web') == {'api': 0, 'localhost': 0, 'spare': 0, 'web': 0}

    # A reboot does not lift the isolation: sre-isolation.service restores the ruleset.
    subprocess.run(['docker', 'restart', 'sre-lab-api'], check=True, capture_output=True)
    wait_for(lambda: lab.exec('api', 'systemctl', 'is-system-running').strip() in ('running', 'degraded'))
    assert 'sre.runbooks isolation' in lab.exec('api', 'iptables', '-S', 'INPUT')
    assert lab.module('ansible.builtin.ping', pattern='api').rc == 0
    assert not port_open_from_web(22)

    # A firewall change that would lock the controller out is rolled back by the host.
    locked_out = lab.playbook('isolate_host.yml', extravars={'host_isolation_allowed_sources': ['192.0.2.1/32']})
    assert locked_out.rc != 0
    failure = task_results(locked_out, 'Firewall | Stop, the host has put its previous rules back')['api']
    assert 'rolled back' in failure['msg']
    assert lab.module('ansible.builtin.ping', pattern='api').rc == 0


def test_ransomware_refuses_when_no_backup_predates_the_compromise(lab, rebuild):
    runner = lab.playbook(
        'rebuild_host.yml',
        extravars={'dr_scenario': 'ransomware', 'dr_compromised_at': '2001-01-01T00:00:00Z', **rebuild},
        cmdline='--tags restore',
    )
    assert runner.rc != 0
    refusal = task_results(runner, 'Select | Refuse when no clean backup exists')
    assert 'No verified backup of o4o_platform' in next(iter(refusal.values()))['msg']
