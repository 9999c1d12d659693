# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident_response rulebook in a real ansible-rulebook (Drools on OpenJDK 17), fed by
its real event source over HTTP: which alerts run which remediation, with which variables,
and how often. Only the remediation playbook is a stand-in (it records its extra variables
in a file): playbooks/remediate.yml itself is tested against the lab
(tests/integration/test_alert_loop_lab.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[3]
RULEBOOK = ROOT / 'extensions/eda/rulebooks/incident_response.yml'
JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64'
STAND_IN = """
- name: Stand-in remediation
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record the extra variables of the run
      ansible.builtin.copy:
        dest: "{{ record_dir }}/{{ 1000000 | random }}.json"
        content: "{{ {'remediation': remediation, 'severity': remediation_severity, 'alert': remediation_alert,
                      'team': remediation_team, 'instance': remediation_instance,
                      'preapproved': remediation_preapproved,
                      'event': ansible_eda.event.alert.fingerprint} | to_json }}"
        mode: '0600'
"""


def alert(name: str, severity: str, remediation: str, instance: str = '172.30.53.15:8080', **more: Any) -> dict:
    labels = {'alertname': name, 'severity': severity, 'team': 'refit', 'instance': instance}
    return {
        'status': more.get('status', 'firing'),
        'labels': {**labels, **more.get('labels', {})},
        'annotations': {'remediation': remediation, 'summary': f'{name} {severity}'},
        'fingerprint': f'{name}-{severity}-{instance}',
    }


@pytest.fixture
def rulebook(tmp_path):
    """ansible-rulebook with the rulebook, in a project whose playbooks/remediate.yml records runs."""
    (tmp_path / 'playbooks').mkdir()
    (tmp_path / 'runs').mkdir()
    (tmp_path / 'playbooks/remediate.yml').write_text(STAND_IN.replace('{{ record_dir }}', str(tmp_path / 'runs')))
    (tmp_path / 'inventory.yml').write_text('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n')
    port, token = free_port(), 'unit-token'
    variables = {'alertmanager_webhook_port': port, 'alertmanager_webhook_token': token}
    (tmp_path / 'vars.yml').write_text(yaml.safe_dump({**variables, 'sre_remediation_preapproved': ['rollback']}))
    bindir = Path(sys.executable).parent
    env = dict(
        os.environ,
        PATH=f'{bindir}:{os.environ["PATH"]}',
        JAVA_HOME=os.environ.get('JAVA_HOME', JAVA_HOME),
        ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),  # finds sre.runbooks (the event source) in the checkout
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    argv = [str(bindir / 'ansible-rulebook'), '-r', str(RULEBOOK), '-i', 'inventory.yml', '--vars', 'vars.yml', '-v']
    log = tmp_path / 'rulebook.log'
    with open(log, 'wb') as out:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def post(*alerts: dict) -> int:
            body = json.dumps({'version': '4', 'receiver': 'eda', 'status': 'firing', 'alerts': list(alerts)})
            request = urllib.request.Request(
                f'http://127.0.0.1:{port}/alerts',
                data=body.encode(),
                headers={'Content-Type': 'application/json', 'Authorization': f'Bearer {token}'},
            )
            deadline = time.monotonic() + 60  # the JVM starts
            while True:
                try:
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        return answer.status
                except OSError:
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, f'the rulebook did not listen within 60 s\n{log.read_text()}'
                    time.sleep(0.2)

        def runs(count: int, settle: float = 3) -> list[dict]:
            """The recorded runs once `count` are there and no more came for `settle` s."""
            deadline = time.monotonic() + 60
            while len(list((tmp_path / 'runs').iterdir())) < count:
                assert time.monotonic() < deadline, f'fewer than {count} runs in 60 s\n{log.read_text()}'
                time.sleep(0.2)
            time.sleep(settle)
            return [json.loads(path.read_text()) for path in sorted((tmp_path / 'runs').iterdir())]

        yield post, runs, log
    finally:
        process.terminate()
        process.wait(15)


def test_one_remediation_per_alert_and_instance_and_diagnosis_for_the_rest(rulebook):
    post, runs, log = rulebook
    p0 = alert('HighErrorRate', 'P0', 'rollback')
    assert post(p0) == 202
    assert post(p0, p0) == 202  # Alertmanager repeating itself: throttled, not passed to another rule
    assert post(alert('HighErrorRate', 'P0', 'rollback', instance='10.0.0.9:8080')) == 202  # another target
    assert post(alert('HighErrorRate', 'P2', 'rollback', instance='10.0.0.8:8080')) == 202  # P2: monitor, not act
    assert post({'status': 'firing', 'labels': {'alertname': 'Unowned', 'severity': 'P0'}, 'annotations': {}}) == 202
    assert post(alert('HighErrorRate', 'P0', 'rollback', status='resolved')) == 202
    recorded = runs(3)
    by_instance = {run['instance']: run for run in recorded}
    assert len(recorded) == 3, recorded
    assert by_instance['172.30.53.15:8080'] == {
        'remediation': 'rollback',
        'severity': 'P0',
        'alert': 'HighErrorRate',
        'team': 'refit',
        'instance': '172.30.53.15:8080',
        'preapproved': ['rollback'],
        'event': 'HighErrorRate-P0-172.30.53.15:8080',
    }
    assert by_instance['10.0.0.9:8080']['remediation'] == 'rollback'
    assert by_instance['10.0.0.8:8080']['remediation'] == 'diagnose'
    assert by_instance['10.0.0.8:8080']['preapproved'] == []
    text = log.read_text()
    assert 'Unowned fired without the labels team and instance' in text
    assert 'HighErrorRate resolved' in text
    assert 'unit-token' not in text
