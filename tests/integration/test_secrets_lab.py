# SPDX-License-Identifier: GPL-3.0-or-later
"""No secret leaves where it belongs (issue #18): the drill, a backup and a compose
deploy run on the lab with -vvv and --diff through ansible-runner, and no secret value
appears in the runner's stdout, in any file of its artifacts directory, or on the
command line of any process on this machine (the lab hosts are containers, so their
processes are in /proc too) sampled every 0.2 s while the run goes. Afterwards no
staged or unpacked copy of the app's secrets is left under /backup on the api host."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ansible_runner

from .conftest import ROOT

# The lab's secrets, as inventories/lab sets them (lab values, baked into its images).
DB_PASSWORD = 'o4o-lab-password'
ADMIN_TOKEN = 'o4o-lab-admin-token'
LOGIN_PASSWORD = 'o4o-lab-1'
FRAGRANCE = 'fragrance-ai'
RUN_TIMEOUT = 900  # seconds; one playbook run, -vvv included
SAMPLE_EVERY = 0.2


class CmdlineSampler:
    """Reads /proc/*/cmdline every 0.2 s in a thread, and keeps every command line
    that holds one of the secrets (bounded: at most `limit` seconds, 50 findings)."""

    def __init__(self, needles: list[str], limit: float = RUN_TIMEOUT + 60) -> None:
        self._needles = [needle.encode() for needle in needles]
        self._limit, self._stop = limit, threading.Event()
        self.findings: list[str] = []
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self._limit
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.findings) < 50:
            for entry in os.scandir('/proc'):
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = Path(entry.path, 'cmdline').read_bytes()
                except OSError:
                    continue
                if any(needle in cmdline for needle in self._needles):
                    self.findings.append(cmdline.replace(b'\0', b' ').decode(errors='replace')[:300])
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY)

    def __enter__(self) -> CmdlineSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def leaks(runner: ansible_runner.Runner, needles: list[str]) -> list[str]:
    """Where a secret shows up: the stdout, then every file of the artifacts dir."""
    found = []
    stdout = Path(runner.config.artifact_dir, 'stdout').read_text(errors='replace')
    found += [f'stdout: {needle!r}' for needle in needles if needle in stdout]
    for path in Path(runner.config.artifact_dir).rglob('*'):
        if path.is_file():
            text = path.read_bytes().decode(errors='replace')
            found += [
                f'{path.relative_to(runner.config.artifact_dir)}: {needle!r}' for needle in needles if needle in text
            ]
    return found


def run_watched(
    lab, playbook: str, needles: list[str], *, extravars: dict | None = None, limit: str = ''
) -> ansible_runner.Runner:
    """Run a playbook with -vvv --diff, sampling command lines; assert no leak."""
    with CmdlineSampler(needles) as sampler:
        runner = ansible_runner.run(
            private_data_dir=str(lab.tmp),
            project_dir=str(ROOT),
            playbook=str(ROOT / 'playbooks' / playbook),
            inventory=str(ROOT / 'inventories/lab'),
            extravars=extravars or {},  # written to env/extravars, read with -e @file: never on argv
            cmdline=f'-vvv --diff {limit}'.strip(),
            quiet=True,
            timeout=RUN_TIMEOUT,
            envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH']},
        )
    tail = Path(runner.config.artifact_dir, 'stdout').read_text(errors='replace')[-3000:]
    assert runner.rc == 0, f'{playbook} failed (rc={runner.rc}, status={runner.status}):\n{tail}'
    assert sampler.samples > 3, f'the command lines were sampled only {sampler.samples} times'
    assert not sampler.findings, f'{playbook}: secrets on a command line:\n' + '\n'.join(sampler.findings)
    found = leaks(runner, needles)
    assert not found, f'{playbook}: secrets in the job output or artifacts:\n' + '\n'.join(found)
    return runner


@contextmanager
def fragrance_env_secret(lab) -> Iterator[str]:
    """A secret line in the Fragrance stack's .env for the duration of the test."""
    secret = f'sre-probe-{secrets.token_hex(12)}'
    script = f'cd ~/fragrance-ai && cp -p .env .env.sre-secrets-test && echo "API_SECRET={secret}" >> .env'
    lab.exec('compose', 'sh', '-c', script, user='ubuntu')
    try:
        yield secret
    finally:
        lab.exec('compose', 'sh', '-c', 'cd ~/fragrance-ai && mv .env.sre-secrets-test .env', user='ubuntu')


def test_the_drill_keeps_secrets_out_of_output_artifacts_and_command_lines(lab):
    """A recovery that goes through every stage (a forced full restore, so the verify
    stage's login check and load test run), its load test authenticated with the admin
    token (which ab would have put on its command line)."""
    assert lab.playbook('backup.yml', extravars={'pg_backup_force': True}).rc == 0
    load = {
        'url': 'http://172.30.53.11/api/health',
        'headers': {'Host': 'api.neture.co.kr', 'Authorization': f'Bearer {ADMIN_TOKEN}'},
        'requests': 200,
        'concurrency': 10,
    }
    runner = run_watched(
        lab,
        'disaster_recovery.yml',
        [DB_PASSWORD, ADMIN_TOKEN, LOGIN_PASSWORD],
        extravars={'post_recovery_load_test': load, 'dr_scenario': 'full_restore'},
    )
    tasks = {event['event_data'].get('task') for event in runner.events if event['event'] == 'runner_on_ok'}
    assert 'Load | Send the load with its headers kept off every command line (not shown)' in tasks


def test_a_backup_leaves_no_staged_copy_of_the_app_secrets(lab):
    run_watched(lab, 'backup.yml', [DB_PASSWORD, ADMIN_TOKEN], extravars={'pg_backup_force': True})
    left = lab.exec('api', 'sh', '-c', "find /backup -name .app-files -o -name '.unpacked-*'").strip()
    assert not left, f'staged copies of the app secrets left on the api host: {left}'


def test_a_compose_deploy_with_diff_does_not_print_the_env_file(lab):
    with fragrance_env_secret(lab) as secret:
        for version in ('v0.1.0', 'v0.2.0'):
            run_watched(lab, 'redeploy.yml', [secret], extravars={'version': version}, limit=f'-l {FRAGRANCE}')
        env = lab.exec('compose', 'sh', '-c', 'stat -c %a ~/fragrance-ai/.env; cat ~/fragrance-ai/.env', user='ubuntu')
    assert env.splitlines()[0] == '600' and 'VERSION=v0.2.0' in env and secret in env
