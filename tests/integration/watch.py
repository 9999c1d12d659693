# SPDX-License-Identifier: GPL-3.0-or-later
"""A playbook run through ansible-runner with -vvv and --diff, watched for secrets: in
the runner's stdout, in any file of its artifacts directory, and on the command line
of any process on this machine (the lab hosts are containers, so their processes are
in /proc too), sampled every 0.2 s while the run goes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import ansible_runner

from .conftest import ROOT

# The lab's secrets, as inventories/lab sets them (lab values, baked into its images).
DB_PASSWORD = 'o4o-lab-password'
ADMIN_TOKEN = 'o4o-lab-admin-token'
LOGIN_PASSWORD = 'o4o-lab-1'
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
