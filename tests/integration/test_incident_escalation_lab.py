# SPDX-License-Identifier: GPL-3.0-or-later
"""Incident log and escalation on the lab (runbooks R5, F10, O11): Re-Fit incidents opened
with playbooks/incident.yml (backdated, as an operator backfilling one), escalated by
playbooks/escalate.yml as a schedule would run it, each level posted once to a real
webhook receiver, the log kept on the lab's backup host, and the post-mortem reading it.

The tests run in file order and share the incidents they open, holding the lab's lock
(/tmp/sre-lab.lock) from the first to the last; the log goes to a store directory of this
module on the backup host, removed before and after."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import Lab, task_results
from tests.support.webhooks import WebhookReceiver, webhook_receiver

STORE_PATH = '/srv/sre-store/test-incident-escalation'
STORE = {'sre_incident_store': {'kind': 'ssh', 'host': 'backup', 'path': STORE_PATH}}
LEVELS = [('L1', '@devops-oncall'), ('L2', '@ai-backend-lead'), ('L3', '@cto')]


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """The lab is shared between test runs: one at a time."""
    with open('/tmp/sre-lab.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ago(minutes: int) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


class Incidents:
    """The module's lab, receiver and the incidents it opened."""

    def __init__(self, lab: Lab, rx: WebhookReceiver, tmp: Path) -> None:
        self.lab, self.rx, self.tmp, self.ids, self._seen = lab, rx, tmp, {}, 0

    def run(self, playbook: str, cmdline: str = '', **extravars):
        return self.lab.playbook(playbook, extravars={**STORE, **extravars}, cmdline=cmdline, env=self.env)

    @property
    def env(self) -> dict:
        return {'SRE_NOTIFY_WEBHOOK_URL': self.rx.url('/discord/16/incident-token'), 'SRE_REPORT_DIR': str(self.tmp)}

    def incident(self, action: str, **extravars):
        return self.run('incident.yml', incident_action=action, **extravars)

    def escalate(self, cmdline: str = '', **extravars):
        return self.run('escalate.yml', cmdline=cmdline, escalate_hosts='refit', **extravars)

    def new_messages(self) -> list[dict]:
        """The messages that reached the receiver since the last call (posts it refused left out)."""
        messages = self.rx.messages()
        fresh, self._seen = messages[self._seen :], len(messages)
        return [message for message in fresh if message['status'] < 300]

    def log(self) -> list[dict]:
        text = Lab.exec('backup', 'sh', '-c', f'cat {STORE_PATH}/incidents/incident_*.log 2>/dev/null || true')
        return [json.loads(line) for line in text.splitlines()]

    def events(self, key: str) -> list[tuple[str, str]]:
        return [(line['event'], line['level']) for line in self.log() if line['id'] == self.ids[key]]


def unchanged(runner) -> bool:
    return runner.status == 'successful' and not any(runner.stats.get('changed', {}).values())


def result(runner, task: str) -> dict:
    (found,) = [res for res in task_results(runner, task).values() if 'ansible_facts' in res]
    return found['ansible_facts']


@pytest.fixture(scope='module')
def incidents(lab, tmp_path_factory) -> Iterator[Incidents]:
    with lab_lock():
        Lab.exec('backup', 'rm', '-rf', STORE_PATH)
        with webhook_receiver() as rx:
            yield Incidents(lab, rx, tmp_path_factory.mktemp('reports'))
        Lab.exec('backup', 'rm', '-rf', STORE_PATH)


def test_open_records_and_notifies_once_per_incident(incidents):
    summary = 'refit-api health check failing (v1.2.0)'
    opened = incidents.incident(
        'open', incident_team='refit', incident_severity='P0', incident_summary=summary, incident_opened_at=ago(40)
    )
    assert opened.status == 'successful'
    incident = result(opened, 'Open | Publish the incident as incident_result')['incident_result']
    assert incident['id'].startswith('refit-') and incident['new'] and incident['severity'] == 'P0'
    incidents.ids['A'] = incident['id']
    (message,) = incidents.new_messages()
    assert 'Incident opened' in message['text'] and incident['id'] in message['text']
    assert '@devops-oncall' in message['mentions']

    again = incidents.incident(
        'open',
        incident_id=incident['id'],
        incident_severity='P0',
        incident_summary=summary,
        incident_opened_at=incident['opened_at'],
    )
    assert unchanged(again), 'opening the same incident again is a no-op'
    assert result(again, 'Open | Publish the incident as incident_result')['incident_result']['new'] is False
    assert incidents.new_messages() == []
    assert incidents.events('A') == [('open', '')]


def test_a_resolved_incident_is_never_escalated(incidents):
    # B: 20 minutes old, its third level (30 min) not due yet. C: 41 minutes old, resolved at once.
    for key, minutes in (('B', 20), ('C', 41)):
        run = incidents.incident(
            'open',
            incident_team='refit',
            incident_severity='P1',
            incident_summary=f'incident {key}',
            incident_opened_at=ago(minutes),
        )
        incidents.ids[key] = result(run, 'Open | Publish the incident as incident_result')['incident_result']['id']
    resolved = incidents.incident('resolve', incident_id=incidents.ids['C'], incident_summary='false alarm')
    assert resolved.status == 'successful'
    texts = [message['text'] for message in incidents.new_messages()]
    assert len(texts) == 3 and 'Incident resolved' in texts[2] and incidents.ids['C'] in texts[2]
    again = incidents.incident('resolve', incident_id=incidents.ids['C'])
    assert unchanged(again) and incidents.new_messages() == []


def test_escalation_in_check_mode_posts_and_records_nothing(incidents):
    checked = incidents.escalate(cmdline='--check')
    assert checked.status == 'successful'
    assert incidents.new_messages() == []
    assert [line for line in incidents.log() if line['event'] == 'escalate'] == []


def test_a_post_no_webhook_took_is_not_recorded_and_fails_the_run(incidents):
    incidents.rx.fault(status=500)
    try:
        failed = incidents.escalate(notify_retries=0)
    finally:
        incidents.rx.fault(None)
    assert failed.status == 'failed'
    assert incidents.new_messages() == []
    assert [line for line in incidents.log() if line['event'] == 'escalate'] == [], 'retried by the next run'


def test_two_overlapping_runs_notify_each_due_level_once_in_order(incidents):
    with ThreadPoolExecutor(2) as pool:
        env = incidents.env
        runs = [
            pool.submit(incidents.lab.playbook, 'escalate.yml', extravars={**STORE, 'escalate_hosts': 'refit'}, env=env)
            for _run in range(2)
        ]
        statuses = [run.result().status for run in runs]
    assert statuses == ['successful', 'successful']
    got = [(message['text'], message['mentions']) for message in incidents.new_messages()]
    expected = [(key, level, mention) for key in 'AB' for level, mention in LEVELS if (key, level) != ('B', 'L3')]
    assert len(got) == len(expected), got
    for (text, mentions), (key, level, mention) in zip(got, expected):
        assert 'Incident escalated' in text and incidents.ids[key] in text and level in text
        assert mentions == [mention], 'only the level is mentioned'
    assert incidents.events('A') == [('open', ''), ('escalate', 'L1'), ('escalate', 'L2'), ('escalate', 'L3')]
    assert incidents.events('B') == [('open', ''), ('escalate', 'L1'), ('escalate', 'L2')]
    assert incidents.events('C') == [('open', ''), ('resolve', '')]


def test_running_it_again_sends_nothing_new(incidents):
    again = incidents.escalate()
    assert unchanged(again)
    assert incidents.new_messages() == []


def test_resolving_stops_escalation_and_the_post_mortem_has_the_timeline(incidents):
    resolved = incidents.incident('resolve', incident_id=incidents.ids['A'], incident_summary='rolled back to v1.1.0')
    assert resolved.status == 'successful'
    (message,) = incidents.new_messages()
    assert 'Incident resolved' in message['text']
    assert incidents.events('A')[-1] == ('resolve', '')

    report = incidents.incident('report', incident_id=incidents.ids['A'])
    assert report.status == 'successful'
    (path,) = incidents.tmp.glob(f"{incidents.ids['A']}_*.md")
    text = path.read_text()
    assert f"## Incident {incidents.ids['A']} (incident log)" in text
    assert 'P0 incident of refit: refit-api health check failing (v1.2.0).' in text
    rows = [line for line in text.splitlines() if line.startswith('| 20')]
    assert [row.split(' | ')[1] for row in rows] == ['open', 'escalate', 'escalate', 'escalate', 'resolve']
    assert '| L3 | @cto |' in text and 'rolled back to v1.1.0' in text
    assert '| L3 | CTO | 30 min |' in text, "the escalation path is the team's"
