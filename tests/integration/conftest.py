# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end tests against the lab (make lab), driven through ansible-runner the
way AWX drives a job: real SSH to the api and web hosts, real services."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import ansible_runner
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / 'collections'), str(ROOT)]


class Lab:
    """Runs playbooks and commands against the lab; never against production."""

    def __init__(self, tmp: Path) -> None:
        self._tmp, self._runs = tmp, 0

    @property
    def tmp(self) -> Path:
        """A fresh private data dir per run: ansible-runner keeps state in it."""
        self._runs += 1
        return Path(tempfile.mkdtemp(prefix=f'run{self._runs}-', dir=self._tmp))

    def playbook(
        self,
        name: str,
        *,
        inventory: str = 'inventories/lab',
        extravars: dict | None = None,
        cmdline: str = '',
        env: dict | None = None,
    ) -> ansible_runner.Runner:
        production = ('inventories/o4o', 'inventories/qa_arena', 'inventories/fragrance', 'inventories/refit')
        assert not inventory.startswith(production) or cmdline, 'production inventories are only parsed, never run'
        return ansible_runner.run(
            private_data_dir=str(self.tmp),
            project_dir=str(ROOT),
            playbook=str(ROOT / 'playbooks' / name),
            inventory=str(ROOT / inventory),
            extravars=extravars or {},
            cmdline=cmdline,
            quiet=True,
            envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH'], **(env or {})},
        )

    def module(self, module: str, args: str = '', pattern: str = 'all') -> ansible_runner.Runner:
        return ansible_runner.run(
            private_data_dir=str(self.tmp),
            host_pattern=pattern,
            module=module,
            module_args=args,
            inventory=str(ROOT / 'inventories/lab'),
            quiet=True,
            envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH']},
        )

    @staticmethod
    def exec(host: str, *argv: str, user: str = 'root') -> str:
        return subprocess.run(
            ['docker', 'exec', '-u', user, f'sre-lab-{host}', *argv], capture_output=True, text=True, check=True
        ).stdout


# The lab's hosts are shared, so tests run by the hosts they touch: the O4O hosts'
# tests (`-m hosts_o4o`), the compose host's (`-m hosts_compose`) and the Re-Fit host's
# (`-m hosts_refit`) in three pytest runs side by side, then the tests that look at
# every host at once (`-m exclusive`), alone: scripts/integration.sh. Plain
# `pytest tests/integration` runs all in a row.
HOST_GROUPS = {
    'compose': (
        'test_compose_lab.py',
        'test_compose_health_lab.py',
        'test_compose_scale_lab.py',
        'test_compose_watch_lab.py',
        'test_deploy_guards_lab.py',
        'test_secrets_lab.py::test_a_compose_deploy_with_diff_does_not_print_the_env_file',
        'test_guarded_compose_lab.py',
    ),
    # The incident escalation tests stay with the O4O hosts: the incident log is on backup.
    'refit': (
        'test_refit_lab.py',
        'test_guarded_deploy_lab.py',
        'test_server_scripts_lab.py',
        'test_alert_loop_lab.py',
    ),
    'exclusive': ('test_guards_first_lab.py', 'test_safety_lab.py'),
}
MARKERS = {
    'hosts_o4o': 'touches the O4O hosts (api, web, spare, backup) only, or reads the Re-Fit host',
    'hosts_compose': 'touches the compose host only',
    'hosts_refit': 'touches the Re-Fit host only',
    'exclusive': 'looks at every lab host; runs alone, after the others',
}


def host_group(nodeid: str) -> str:
    """'compose', 'refit', 'exclusive', or 'o4o' for a test, by its file (or file::test)."""
    name = nodeid.rsplit('/', maxsplit=1)[-1].split('[', maxsplit=1)[0]
    for group, members in HOST_GROUPS.items():
        if any(name == member or name.split('::')[0] == member for member in members):
            return group
    return 'o4o'


def pytest_configure(config: pytest.Config) -> None:
    for marker, meaning in MARKERS.items():
        config.addinivalue_line('markers', f'{marker}: {meaning}')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = host_group(item.nodeid)
        item.add_marker(getattr(pytest.mark, group if group == 'exclusive' else f'hosts_{group}'))


def bring_the_lab_up() -> None:
    """`lab.sh up`, one at a time across pytest runs and workers side by side. Skipped
    under scripts/integration.sh (SRE_LAB_READY=1), which brings the lab up once before
    its runs: an `up` of one run would check a compose stack another run is restarting."""
    if os.environ.get('SRE_LAB_READY') == '1':
        return
    (ROOT / '.cache/lab').mkdir(parents=True, exist_ok=True)
    with open(ROOT / '.cache/lab/up.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([str(ROOT / 'lab/lab.sh'), 'up'], check=True, cwd=ROOT)


@pytest.fixture(scope='session')
def lab(tmp_path_factory) -> Lab:
    bring_the_lab_up()
    return Lab(tmp_path_factory.mktemp('runner'))


def task_results(runner: ansible_runner.Runner, task: str) -> dict[str, dict]:
    """The result of `task` per host, from the runner's events."""
    return {
        event['event_data']['host']: event['event_data']['res']
        for event in runner.events
        if event['event'] in ('runner_on_ok', 'runner_on_failed') and event['event_data'].get('task') == task
    }


def artifacts(runner: ansible_runner.Runner) -> dict:
    """The job's artifacts (set_stats, and the guards' audit records), as AWX shows them."""
    (stats,) = [event for event in runner.events if event['event'] == 'playbook_on_stats']
    return stats['event_data'].get('artifact_data') or {}


API_THROUGH_NGINX = 'http://172.30.53.11/api/health'


def api_health() -> dict:
    """The O4O API's health, asked through the lab web host's nginx."""
    request = urllib.request.Request(API_THROUGH_NGINX, headers={'Host': 'api.neture.co.kr'})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)
