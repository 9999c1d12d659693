# SPDX-License-Identifier: GPL-3.0-or-later
"""Runbook R2 (CD with a guard) on the lab's Re-Fit host: real pm2, real git releases
(v1.0.0 and v1.1.0 good, v1.2.0 whose health answers 503, v1.3.0 answering 500 on /api),
the notices posted by the notify role to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.webhooks import WebhookReceiver, webhook_receiver

from .conftest import Lab

HOST = 'refit-ai'
APP = 'http://172.30.53.15:8080'
REPO = '/home/ec2-user/refit-api'
STATE = '/home/ec2-user/.local/state/sre-runbooks/guarded-refit-api.json'
# Short health waits keep the failing runs bounded (3 tries, 2 s apart).
FAST = {'health_retries': 3, 'health_delay': 2}
# Lab-only fault: git's post-checkout hook fails the checkout of v1.1.0, so a rollback to it
# cannot succeed (the checkout moves, nothing is built, the bad build keeps running).
HOOK = f'{REPO}/.git/hooks/post-checkout'
FAULT = (
    '#!/bin/sh\n'
    '[ "$(git rev-parse HEAD)" = "$(git rev-parse v1.1.0^{commit})" ] || exit 0\n'
    'echo "lab fault: the checkout of v1.1.0 is refused" >&2\n'
    'exit 1\n'
)


def get(path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(APP + path, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b'{}')


def running_version() -> str:
    return get('/actuator/info')[1]['app']['version']


def healthy_at(version: str) -> bool:
    return get('/actuator/health')[0] == 200 and running_version() == version.lstrip('v')


def changed(runner) -> int:
    return runner.stats['changed'].get(HOST, 0)


def failure(runner) -> str:
    """The message of the failed task of the run (the guard's refusal or outcome)."""
    return ' '.join(
        str(event['event_data']['res'].get('msg', ''))
        for event in runner.events
        if event['event'] == 'runner_on_failed' and not event['event_data'].get('ignore_errors')
    )


def texts(rx: WebhookReceiver) -> list[str]:
    return [message['text'] or '' for message in rx.messages()]


@pytest.fixture(scope='module')
def rx() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:  # the notify role posts from the controller
        yield receiver


@pytest.fixture(scope='module')
def refit(lab: Lab, rx: WebhookReceiver) -> Iterator[Lab]:
    """The guard's record cleared; afterwards refit-ai back on v1.1.0 and healthy, whatever happened."""
    lab.exec('refit', 'rm', '-f', STATE, HOOK)
    try:
        yield lab
    finally:
        lab.exec('refit', 'rm', '-f', HOOK)
        if not healthy_at('v1.1.0'):
            lab.exec('refit', 'rm', '-f', STATE)
            back = deploy(lab, rx, 'v1.1.0')
            assert back.rc == 0, failure(back)
        lab.exec('refit', 'rm', '-f', STATE)
        assert healthy_at('v1.1.0')


def deploy(lab: Lab, rx: WebhookReceiver, version: str, cmdline: str = '', **extra) -> object:
    return lab.playbook(
        'guarded_deploy.yml',
        extravars={'version': version, **FAST, **extra},
        cmdline=cmdline,
        env={'SRE_NOTIFY_WEBHOOK_URL': rx.url('/discord/1234/lab-token')},
    )


def rollback(lab: Lab, rx: WebhookReceiver, **extra) -> object:
    return lab.playbook(
        'rollback_release.yml',
        extravars={**FAST, **extra},
        env={'SRE_NOTIFY_WEBHOOK_URL': rx.url('/discord/1234/lab-token')},
    )


def test_check_mode_predicts_the_deploy_and_sends_nothing(refit, rx):
    rx.clear()
    predicted = deploy(refit, rx, 'v1.2.0', cmdline='--check')
    assert predicted.rc == 0
    said = ' '.join(str(e['event_data'].get('res', {}).get('msg', '')) for e in predicted.events if 'event_data' in e)
    assert 'would deploy v1.2.0' in said and 'roll back to v1.1.0' in said
    assert rx.messages() == []
    assert healthy_at('v1.1.0')


def test_a_good_release_deploys_and_a_second_run_changes_nothing(refit, rx):
    rx.clear()
    older = deploy(refit, rx, 'v1.0.0')
    assert older.rc == 0, failure(older)
    assert healthy_at('v1.0.0')
    back = deploy(refit, rx, 'v1.1.0')
    assert back.rc == 0, failure(back)
    assert healthy_at('v1.1.0')
    sent = texts(rx)
    assert len(sent) == 4 and sent[0].startswith('🚀') and 'Deploy done' in sent[1], sent
    assert 'v1.1.0' in sent[2] and 'Deploy done' in sent[3]

    again = deploy(refit, rx, 'v1.1.0')
    assert again.rc == 0 and changed(again) == 0, failure(again)
    assert len(rx.messages()) == 4  # nothing deployed, nothing sent


def test_a_release_failing_its_health_check_is_rolled_back_automatically(refit, rx):
    rx.clear()
    bad = deploy(refit, rx, 'v1.2.0', cmdline='-vvv')
    assert bad.rc != 0
    assert 'lab-token' not in Path(bad.config.artifact_dir, 'stdout').read_text(encoding='utf-8')  # no URL in -vvv
    assert 'rolled back: rollback done' in failure(bad)
    assert healthy_at('v1.1.0')
    start, alarm, done = texts(rx)
    assert start.startswith('🚀') and 'v1.2.0' in start
    assert 'P0' in alarm and 'Health check failed' in alarm and '@devops-oncall' in alarm and '503' in alarm
    assert 'rollback done' in done.lower() and 'v1.1.0' in done

    # The same deploy again: refused from what runs (v1.1.0) and the guard's record of v1.2.0.
    again = deploy(refit, rx, 'v1.2.0')
    assert again.rc != 0 and changed(again) == 0
    assert 'Not deploying v1.2.0' in failure(again) and 'retry_failed=true' in failure(again)
    assert len(rx.messages()) == 3 and healthy_at('v1.1.0')

    # Nothing left to roll back: the last rollback's target runs healthy.
    nothing = rollback(refit, rx)
    assert nothing.rc == 0 and changed(nothing) == 0, failure(nothing)
    assert len(rx.messages()) == 3


def test_the_rollback_entry_point_leaves_a_release_that_answers_500(refit, rx):
    forward = deploy(refit, rx, 'v1.3.0')  # its health answers UP: the deploy passes
    assert forward.rc == 0 and healthy_at('v1.3.0'), failure(forward)
    rx.clear()
    back = rollback(refit, rx, reason='HighErrorRate firing')
    assert back.rc == 0, failure(back)
    assert healthy_at('v1.1.0')
    start, done = texts(rx)
    assert 'Rollback started' in start and 'HighErrorRate' in start and 'v1.3.0' in start
    assert 'rollback done' in done.lower() and 'v1.1.0' in done
    again = rollback(refit, rx, reason='HighErrorRate firing')
    assert again.rc == 0 and changed(again) == 0
    assert len(rx.messages()) == 2


def test_a_rollback_does_not_go_past_the_release_the_last_one_went_back_to(refit, rx):
    # After the rollback above, v1.1.0 runs; now it is down for a cause that is not the release.
    # A repeated alert must not walk back to v1.0.0 (and mark v1.1.0 failed): it asks for a human.
    pm2 = ['env', 'PM2_HOME=/home/ec2-user/.pm2', 'pm2']
    head = ['git', '-C', REPO, 'rev-parse', 'HEAD']
    before = refit.exec('refit', *head, user='ec2-user')
    refit.exec('refit', *pm2, 'stop', 'refit-api', user='ec2-user')
    try:
        rx.clear()
        refused = rollback(refit, rx, reason='HealthCheckFailing firing')
        assert refused.rc != 0 and changed(refused) == 0
        assert 'the cause is not the release' in failure(refused) and 'rollback_to' in failure(refused)
        assert refit.exec('refit', *head, user='ec2-user') == before
        assert rx.messages() == []
    finally:
        refit.exec('refit', *pm2, 'restart', 'refit-api', user='ec2-user')
    for _attempt in range(40):  # pm2 starts it again: refused connections until it listens
        try:
            if healthy_at('v1.1.0'):
                break
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    assert healthy_at('v1.1.0')


def test_a_rollback_that_cannot_succeed_asks_for_manual_intervention(refit, rx):
    refit.exec('refit', 'sh', '-c', f'printf "%s" "$1" > {HOOK} && chmod 0755 {HOOK}', 'fault', FAULT, user='ec2-user')
    try:
        rx.clear()
        started = time.monotonic()
        run = deploy(refit, rx, 'v1.2.0', retry_failed=True)
        assert run.rc != 0
        assert 'rollback failed: manual intervention needed' in failure(run)
        sent = texts(rx)
        assert sent[0].startswith('🚀') and 'P0' in sent[1]
        assert 'P0' in sent[-1] and 'manual intervention needed' in sent[-1] and '@devops-oncall' in sent[-1]
        assert 'v1.1.0' in sent[-1] and 'lab fault' in sent[-1]
        assert time.monotonic() - started < 90
    finally:
        refit.exec('refit', 'rm', '-f', HOOK)
