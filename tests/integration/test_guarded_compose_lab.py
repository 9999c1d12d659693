# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard of runbook R2 around Fragrance AI's compose redeploy (F6/F8) on the lab's
compose host: a VERSION whose image does not serve the app is rolled back to the previous
VERSION automatically, with the notices posted to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.webhooks import WebhookReceiver, webhook_receiver

from .conftest import Lab

HOST = 'fragrance-ai'
URL = 'http://172.30.53.20'
GOOD = 'v0.2.0'
# Lab-only fault: a release image that is not the app (the lab's base image, whose command
# is a shell that exits at once), so the stack is not healthy at that VERSION.
BAD = 'v0.9.9'
BAD_IMAGE = f'sre-lab/fragrance-app:{BAD}'
STATE = '/home/ubuntu/.local/state/sre-runbooks/guarded-fragrance-ai.json'
FAST = {'health_retries': 6, 'health_delay': 4, 'sre_deploy_hosts': 'fragrance'}


def docker(*args: str) -> str:
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=True).stdout.strip()


def version() -> str:
    try:
        with urllib.request.urlopen(f'{URL}/version', timeout=5) as answer:
            return json.load(answer).get('version', '')
    except (urllib.error.URLError, ValueError):
        return ''


def healthy() -> bool:
    try:
        with urllib.request.urlopen(f'{URL}/health', timeout=5) as answer:
            return answer.status == 200
    except urllib.error.URLError:
        return False


def failure(runner) -> str:
    return ' '.join(
        str(event['event_data']['res'].get('msg', ''))
        for event in runner.events
        if event['event'] == 'runner_on_failed' and not event['event_data'].get('ignore_errors')
    )


@pytest.fixture
def stack(lab: Lab) -> Iterator[tuple[Lab, WebhookReceiver]]:
    """The bad image tagged for the test; afterwards untagged, the guard's record gone, the stack on v0.2.0."""
    docker('tag', 'sre-runbooks/lab-stack:latest', BAD_IMAGE)
    lab.exec('compose', 'rm', '-f', STATE)
    try:
        with webhook_receiver() as rx:
            yield lab, rx
    finally:
        lab.exec('compose', 'rm', '-f', STATE)
        if version() != GOOD or not healthy():
            back = lab.playbook('redeploy.yml', extravars={'version': GOOD}, cmdline=f'-l {HOST}')
            assert back.rc == 0, failure(back)
        docker('rmi', BAD_IMAGE)
        assert version() == GOOD and healthy()


def test_a_bad_version_of_the_compose_stack_is_rolled_back_automatically(stack):
    lab, rx = stack
    assert version() == GOOD
    env = {'SRE_NOTIFY_WEBHOOK_URL': rx.url('/discord/1234/lab-token')}
    predicted = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env, cmdline='--check')
    assert predicted.rc == 0 and version() == GOOD and rx.messages() == []
    said = ' '.join(str(e['event_data'].get('res', {}).get('msg', '')) for e in predicted.events if 'event_data' in e)
    assert f'would deploy VERSION={BAD}' in said and f'roll back to {GOOD}' in said

    bad = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env)
    assert bad.rc != 0
    assert 'rolled back: rollback done' in failure(bad)
    assert version() == GOOD and healthy()
    start, alarm, done = (message['text'] or '' for message in rx.messages())
    assert start.startswith('🚀') and BAD in start
    assert 'P0' in alarm and '@devops' in alarm and BAD in alarm  # Fragrance's P0 mentions (F10)
    assert 'rollback done' in done.lower() and GOOD in done

    again = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env)
    assert again.rc != 0 and again.stats['changed'].get(HOST, 0) == 0
    assert f'Not deploying {BAD}' in failure(again)
    assert len(rx.messages()) == 3
