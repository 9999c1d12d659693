# SPDX-License-Identifier: GPL-3.0-or-later
"""The alert loop of issue #16 with real parts, on the lab: Prometheus scrapes refit-api on
refit-ai, the generated rules (playbooks/alert_rules.yml, the lab's short windows) fire
HighErrorRate (P0, remediation rollback) while release v1.3.0 answers 500 on /api/* with its
health UP, Alertmanager routes it to the incident_response rulebook (ansible-rulebook and the
event source sre.runbooks.alertmanager), which runs playbooks/remediate.yml once: the rollback
to v1.1.0 and one notification to the webhook receiver. Then the alert resolves.

Prometheus, Alertmanager, ansible-rulebook and the receiver run on this machine's loopback
(tests/support/monitoring.py); the remediation reaches refit-ai over SSH like any playbook.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.monitoring import alert_loop
from tests.support.webhooks import webhook_receiver

from .conftest import ROOT, task_results

REFIT = 'refit-ai'
APP = 'http://172.30.53.15:8080'
GOOD, BAD = 'v1.1.0', 'v1.3.0'
MAX_REQUESTS = 300
ALERT = 'HighErrorRate'
REMEDIATION_PLAY = 'PLAY [Remediation | Act on the alert'


def status_of(path: str) -> int:
    try:
        with urllib.request.urlopen(APP + path, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def health() -> str:
    try:
        with urllib.request.urlopen(APP + '/actuator/health', timeout=5) as answer:
            return json.load(answer).get('status', '')
    except (urllib.error.URLError, OSError, ValueError):
        return ''


def release(lab) -> str:
    """The tag checked out in the app's repository on refit-ai."""
    return lab.exec(
        'refit', 'git', '-C', '/home/ec2-user/refit-api', 'describe', '--tags', '--always', user='ec2-user'
    ).strip()


def cmdlines(pids: list[int]) -> str:
    found = []
    for pid in pids:
        path = Path(f'/proc/{pid}/cmdline')
        if path.exists():
            found.append(path.read_bytes().replace(b'\0', b' ').decode(errors='replace'))
    return '\n'.join(found)


def prepare(lab, rules: Path, env: dict[str, str]) -> None:
    """The team's rules with the lab's windows, and the bad release deployed (its health is UP)."""
    rendered = lab.playbook('alert_rules.yml', extravars={'alert_rules_dir': str(rules), 'teams': 'refit'}, env=env)
    assert rendered.rc == 0, rendered.stdout.read()
    assert list(rules.glob('*.yml')), f'no rule file in {rules}'
    deploy = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, 'retry_failed': True}, env=env)
    assert deploy.rc == 0, deploy.stdout.read()
    assert release(lab) == BAD and health() == 'UP', 'v1.3.0 should deploy with its health UP'
    assert status_of('/api/recommendations') == 500


def send_until_firing(loop) -> int:
    """Bounded traffic to the business endpoint until Prometheus fires the alert; none after
    that, so that the rollback's own health checks are the only other answers in the window."""
    sent, deadline = 0, time.monotonic() + 60
    while not loop.firing(ALERT):
        assert time.monotonic() < deadline, f'{ALERT} not firing within 60 s ({sent} requests): {loop.alerts()}'
        loop.check_alive()
        if sent < MAX_REQUESTS:
            status_of('/api/recommendations')
            sent += 1
        time.sleep(0.2)
    return sent


def assert_secrets_kept(loop, secrets: list[str]) -> None:
    """Neither the webhook URL's token nor Alertmanager's bearer token on a command line or in a log."""
    commands = cmdlines([service.process.pid for service in loop.services if service.process])
    logs = loop.logs()
    for secret in secrets:
        assert secret not in commands
        assert secret not in logs


def test_a_firing_alert_runs_one_rollback_and_sends_one_notification(lab):
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix='al-'))  # short: ansible-core's socket lives under TMPDIR
    rules = work / 'rules'
    with webhook_receiver() as rx:
        secret_path = '/discord/4242/eda-webhook-secret'
        env = {'SRE_NOTIFY_WEBHOOK_URL': rx.url(secret_path)}
        try:
            prepare(lab, rules, env)
            rx.clear()
            setup = time.monotonic() - started

            with alert_loop(
                work / 'loop',
                rule_files=[str(rules / '*.yml')],
                scrape_jobs=[{'name': 'refit', 'targets': ['172.30.53.15:8080'], 'labels': {}}],
                inventory=ROOT / 'inventories/lab',
                env=env,
            ) as loop:
                loop.wait_for(loop.targets_up, 20, 'refit-api scraped by Prometheus')
                loop_started = time.monotonic()

                sent = send_until_firing(loop)
                fired_in = time.monotonic() - loop_started
                loop.wait_for(rx.messages, 60, 'the remediation notice at the receiver')
                noticed_in = time.monotonic() - loop_started

                # The remediation's run ends after its notice: wait for its recap.
                loop.wait_for(
                    lambda: 'PLAY RECAP' in loop.rulebook.log().split(REMEDIATION_PLAY, 1)[-1],
                    30,
                    'the remediation run',
                )
                assert release(lab) == GOOD, loop.rulebook.log()[-6000:]
                assert health() == 'UP'
                assert status_of('/api/recommendations') == 200

                # No traffic now: the 500s leave the rate window, the alert resolves and Alertmanager
                # tells the rulebook.
                loop.wait_for(lambda: not loop.alerts(ALERT), 60, f'{ALERT} resolved in Prometheus')
                loop.wait_for(
                    lambda: f'{ALERT} resolved' in loop.rulebook.log(), 20, 'the resolved alert reaching the rulebook'
                )

                log = loop.rulebook.log()
                assert log.count(REMEDIATION_PLAY) == 1, log[-6000:]
                messages = rx.messages()
                assert len(messages) == 1, messages
                (message,) = messages
                text = message['text']
                assert message['path'] == secret_path
                assert 'Remediation' in text and 'P0' in text and ALERT in text, text
                assert f'to {GOOD}' in text and REFIT in text, text
                assert '@devops-oncall' in message['mentions'], message

                assert_secrets_kept(loop, ['eda-webhook-secret', (work / 'loop/webhook.token').read_text()])
                print(
                    f'alert loop: setup {setup:.0f} s, firing after {fired_in:.0f} s ({sent} requests), '
                    f'remediation notice after {noticed_in:.0f} s, total {time.monotonic() - started:.0f} s: {text}'
                )
        finally:
            if release(lab) != GOOD or health() != 'UP':
                back = lab.playbook('rollback_release.yml', extravars={'rollback_to': GOOD}, env=env)
                assert back.rc == 0, back.stdout.read()
            shutil.rmtree(work, ignore_errors=True)


def app_pid(lab) -> str:
    return lab.exec('refit', 'pm2', 'pid', 'refit-api', user='ec2-user').strip()


def remediate(lab, rx, **extravars):
    """playbooks/remediate.yml as the rulebook runs it, on refit-ai, with the lab said to be production."""
    rx.clear()
    variables = {'remediation_host': REFIT, 'remediation_severity': 'P0', 'remediation_alert': ALERT}
    return lab.playbook(
        'remediate.yml',
        extravars={**variables, 'sre_environment': 'production', **extravars},
        env={'SRE_NOTIFY_WEBHOOK_URL': rx.url('/discord/4242/eda-webhook-secret')},
    )


def test_on_production_an_unattended_remediation_runs_only_when_pre_approved(lab):
    """An EDA run cannot type the confirmation: without pre-approval a destructive remediation is
    refused before any change, with one notice saying what to do; pre-approved, it runs and the
    approval is recorded as the confirmation."""
    assert release(lab) == GOOD and health() == 'UP'
    pid = app_pid(lab)
    with webhook_receiver() as rx:
        refused = remediate(lab, rx, remediation='restart')
        assert refused.rc != 0
        (message,) = rx.wait_for(1, 10)
        assert 'restart FAILED' in message['text'] and 'sre_remediation_preapproved: [restart]' in message['text']
        assert app_pid(lab) == pid, 'a refused remediation restarted the app'

        approved = remediate(lab, rx, remediation='restart', remediation_preapproved=['restart'])
        assert approved.rc == 0, approved.stdout.read()
        (message,) = rx.wait_for(1, 10)
        assert 'restarted, healthy again' in message['text'], message['text']
        assert app_pid(lab) != pid and health() == 'UP'
        confirmed = task_results(
            approved, 'Remediation | Confirm on production - pre-approved, or typed with -e sre_confirm'
        )
        assert confirmed[REFIT]['confirmed'] is True, confirmed
