# SPDX-License-Identifier: GPL-3.0-or-later
"""run_outputs through ansible-runner, as AWX runs a job: the files a run wrote on the
controller come back as the job's artifacts and are kept in the output store (a
directory store here; the ssh and S3 stores are tested with the offsite_store role), and
a second run changes nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[3]


def run(tmp: Path, store) -> ansible_runner.Runner:
    report = tmp / 'out' / 'drill_20261205T000000Z.md'
    play = [
        {
            'hosts': 'localhost',
            'gather_facts': False,
            'tasks': [
                {
                    'name': 'Write a report on the controller',
                    'ansible.builtin.copy': {'content': '# Drill\nall green\n', 'dest': str(report), 'mode': '0640'},
                },
                {
                    'name': 'Return it and keep it',
                    'ansible.builtin.include_role': {'name': 'sre.runbooks.run_outputs'},
                    'vars': {
                        'run_outputs_files': [str(report)],
                        'run_outputs_inline': True,
                        'run_outputs_store': store,
                        'run_outputs_audit_log': str(tmp / 'audit.log'),
                    },
                },
            ],
        }
    ]
    (tmp / 'out').mkdir(exist_ok=True)
    (tmp / 'play.yml').write_text(yaml.safe_dump(play))
    private = tmp / f'runner{len(list(tmp.glob("runner*")))}'
    private.mkdir()
    return ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(tmp / 'play.yml'),
        inventory='localhost ansible_connection=local',
        quiet=True,
        envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH']},
    )


def artifacts(runner: ansible_runner.Runner) -> dict:
    (stats,) = [event for event in runner.events if event['event'] == 'playbook_on_stats']
    return stats['event_data']['artifact_data']


def test_outputs_reach_the_artifacts_and_the_store_and_a_rerun_changes_nothing(tmp_path):
    (tmp_path / 'audit.log').write_text('{"event": "production_confirmed"}\n')
    store = tmp_path / 'store'
    first = run(tmp_path, {'kind': 'dir', 'path': str(store)})
    assert first.status == 'successful', first.stdout.read()
    data = artifacts(first)
    entry = data['sre_outputs']['reports/drill_20261205T000000Z.md']
    assert entry['stored_at'] == f'{store}/reports/drill_20261205T000000Z.md'
    assert data['sre_reports']['reports/drill_20261205T000000Z.md'] == '# Drill\nall green'
    assert Path(entry['stored_at']).read_text() == '# Drill\nall green\n'
    audit = store / 'audit' / socket.gethostname() / 'audit.log'
    assert audit.read_text() == (tmp_path / 'audit.log').read_text()
    second = run(tmp_path, {'kind': 'dir', 'path': str(store)})
    assert second.status == 'successful' and second.stats['changed'] == {}, second.stats


def test_without_a_store_the_outputs_are_still_artifacts_and_a_warning_says_where(tmp_path):
    runner = run(tmp_path, {})
    assert runner.status == 'successful'
    assert artifacts(runner)['sre_outputs']['reports/drill_20261205T000000Z.md']['stored_at'] is None
    assert 'No output store is configured (sre_output_store)' in runner.stdout.read()
