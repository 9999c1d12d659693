# SPDX-License-Identifier: GPL-3.0-or-later
"""The guards against real things: a compose project with a named volume."""

from __future__ import annotations

import subprocess

import ansible_runner
import pytest

from .conftest import ROOT, task_results

PROJECT = 'sre-guard'
VOLUME = f'{PROJECT}_data'
COMPOSE = """
services:
  store:
    image: sre-runbooks/lab-systemd:latest
    command: ["sleep", "infinity"]
    labels: {sre.runbooks.lab: guard}
    volumes: [data:/data]
volumes:
  data:
    labels: {sre.runbooks.lab: guard}
"""


def docker(*args: str) -> str:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def compose_project(tmp_path):
    (tmp_path / 'compose.yml').write_text(COMPOSE)
    subprocess.run(
        ['docker', 'compose', '-p', PROJECT, 'up', '-d', '--quiet-pull'], cwd=tmp_path, check=True, capture_output=True
    )
    docker('exec', f'{PROJECT}-store-1', 'sh', '-c', 'echo precious > /data/orders.csv')
    yield tmp_path
    subprocess.run(
        ['docker', 'compose', '-p', PROJECT, 'down', '--timeout', '1'], cwd=tmp_path, check=False, capture_output=True
    )
    subprocess.run(['docker', 'volume', 'rm', '-f', VOLUME], check=False, capture_output=True)


def test_down_v_is_refused_and_the_volume_keeps_its_data(lab, compose_project):
    runner = ansible_runner.run(
        private_data_dir=str(lab.tmp),
        project_dir=str(ROOT),
        quiet=True,
        inventory='localhost,',
        playbook=str(ROOT / 'tests/integration/playbooks/refuse_down_volumes.yml'),
        extravars={'project': PROJECT, 'project_dir': str(compose_project), 'ansible_connection': 'local'},
        envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')},
    )
    assert runner.rc != 0
    result = task_results(runner, 'Take the stack down with its volumes (must be refused)')['localhost']
    assert result['allowed'] is False and 'compose_down_volumes' in result['msg']
    assert docker('ps', '-q', '--filter', f'name={PROJECT}-store-1'), 'the stack was taken down'
    assert docker('volume', 'ls', '-q', '--filter', f'name={VOLUME}') == VOLUME
    assert docker('exec', f'{PROJECT}-store-1', 'cat', '/data/orders.csv') == 'precious'
