# SPDX-License-Identifier: GPL-3.0-or-later
"""Runbook R4 on the lab's Re-Fit host: playbooks/server_scripts.yml installs
/opt/scripts/rollback.sh and discord-notify.sh and the root-only webhook env file (check mode
changes nothing, a second run changes nothing, -vvv --diff shows no token); discord-notify.sh
posts from the host to a real receiver on the lab network's gateway, with the token on no
process command line while it waits; rollback.sh rolls refit-api back with real git, npm, pm2
and health checks, notifies each step, and fails with "manual intervention needed" when the
release stays unhealthy. Every test leaves the host on v1.1.0."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.webhooks import WebhookReceiver, webhook_receiver

from .conftest import Lab

HOST = 'refit-ai'
CONTAINER = 'sre-lab-refit'
REPO = '/home/ec2-user/refit-api'
GATEWAY = '172.30.53.1'  # the lab network's address on this machine: the hosts reach it
TOKEN = 'lab-scripts-T0KEN'
SCRIPTS = ('/opt/scripts/rollback.sh', '/opt/scripts/discord-notify.sh')
ENV_FILE = '/etc/sre-runbooks/notify.env'
RELEASE = 'v1.1.0'


def on_host(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['docker', 'exec', CONTAINER, *argv], capture_output=True, text=True, check=check, timeout=120
    )


def running_release() -> str:
    return on_host('sudo', '-u', 'ec2-user', 'git', '-C', REPO, 'describe', '--tags', '--exact-match').stdout.strip()


def install(lab: Lab, rx: WebhookReceiver, cmdline: str = ''):
    env = {'SRE_NOTIFY_WEBHOOK_URL': rx.url(f'/api/webhooks/77/{TOKEN}'), 'SRE_NOTIFY_WEBHOOK_KIND': 'discord'}
    return lab.playbook('server_scripts.yml', cmdline=f'-l {HOST} {cmdline}'.strip(), env=env)


@pytest.fixture(scope='module')
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver(host=GATEWAY) as rx:
        yield rx


@pytest.fixture(scope='module')
def installed(lab: Lab, receiver: WebhookReceiver) -> None:
    """The scripts installed by the playbook (the first test checks how)."""
    runner = install(lab, receiver)
    assert runner.status == 'successful', runner.stdout.read()


@pytest.fixture
def on_release(lab: Lab, installed: None) -> Iterator[None]:
    """The host runs v1.1.0 before and after the test, whatever the test does."""
    try:
        if running_release() != RELEASE:
            on_host('/opt/scripts/rollback.sh', RELEASE)
        yield
    finally:
        if (
            running_release() != RELEASE
            or on_host('curl', '-fsS', 'http://localhost:8080/actuator/health', check=False).returncode
        ):
            on_host('/opt/scripts/rollback.sh', RELEASE)
        assert running_release() == RELEASE


def test_install_check_mode_idempotence_and_no_token_in_output(lab: Lab, receiver: WebhookReceiver):
    on_host('rm', '-f', *SCRIPTS, ENV_FILE)
    check = install(lab, receiver, '--check')
    assert check.status == 'successful', check.stdout.read()
    assert check.stats['changed'].get(HOST, 0) >= 2
    assert on_host('ls', *SCRIPTS, ENV_FILE, check=False).returncode != 0  # check mode wrote nothing

    first = install(lab, receiver, '--diff -vvv')
    output = first.stdout.read()
    assert first.status == 'successful', output
    assert first.stats['changed'].get(HOST, 0) >= 3
    assert TOKEN not in output and receiver.base_url not in output
    modes = on_host('stat', '-c', '%a %U %n', *SCRIPTS, ENV_FILE, '/etc/sre-runbooks').stdout.split('\n')
    assert modes[:4] == [
        f'755 root {SCRIPTS[0]}',
        f'755 root {SCRIPTS[1]}',
        f'600 root {ENV_FILE}',
        '700 root /etc/sre-runbooks',
    ]
    assert TOKEN in on_host('cat', ENV_FILE).stdout
    assert TOKEN not in on_host('cat', *SCRIPTS).stdout
    # The app user cannot read the webhook.
    assert on_host('sudo', '-u', 'ec2-user', 'cat', ENV_FILE, check=False).returncode != 0

    second = install(lab, receiver)
    assert second.status == 'successful' and second.stats['changed'].get(HOST, 0) == 0, second.stats
    again = install(lab, receiver, '--check')
    assert again.status == 'successful' and again.stats['changed'].get(HOST, 0) == 0, again.stats


def test_discord_notify_posts_from_the_host_without_the_token_on_a_command_line(installed, receiver):
    receiver.clear()
    receiver.fault(status=None, delay=3)
    try:
        posting = subprocess.Popen(
            ['docker', 'exec', CONTAINER, '/opt/scripts/discord-notify.sh', '-s', 'P0', '-e', '🚨', 'scripts test'],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        receiver.wait_for(1, timeout=15)  # arrived; the answer is held back for 3 s
        processes = on_host('ps', '-eo', 'args').stdout
        _out, err = posting.communicate(timeout=30)
    finally:
        receiver.fault(status=None, delay=0)
    assert posting.returncode == 0, err
    assert 'curl' in processes and 'discord-notify.sh' in processes
    assert TOKEN not in processes and receiver.base_url not in processes
    (message,) = receiver.messages()
    assert message['path'] == f'/api/webhooks/77/{TOKEN}'
    assert message['body'] == {
        'content': '🚨 [refit] P0 scripts test @devops-oncall',
        'allowed_mentions': {'parse': []},
    }


def test_rollback_sh_rolls_back_to_a_tag_and_notifies(on_release, receiver):
    dry = on_host('/opt/scripts/rollback.sh', '--dry-run')
    assert 'would roll refit-api back from v1.1.0 to v1.0.0' in dry.stdout, dry.stdout + dry.stderr
    assert running_release() == RELEASE
    receiver.clear()
    started = time.monotonic()
    done = on_host('/opt/scripts/rollback.sh', 'v1.0.0', check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert running_release() == 'v1.0.0'
    assert '"status":"UP"' in on_host('curl', '-fsS', 'http://localhost:8080/actuator/health').stdout
    texts = [m['text'] for m in receiver.wait_for(2)]
    assert texts[0].startswith('⏪ [refit] Rollback started: refit-api v1.1.0 → v1.0.0 on ')
    assert texts[1].startswith('✅ [refit] Rollback done: refit-api v1.1.0 → v1.0.0 on ')
    assert time.monotonic() - started < 60
    # Already there and healthy: nothing to do.
    again = on_host('/opt/scripts/rollback.sh', 'v1.0.0')
    assert 'nothing to roll back' in again.stdout


def test_rollback_sh_fails_loudly_when_the_release_stays_unhealthy(on_release, receiver):
    receiver.clear()
    failed = on_host(
        'env', 'SRE_HEALTH_RETRIES=3', 'SRE_HEALTH_DELAY=1', '/opt/scripts/rollback.sh', 'v1.2.0', check=False
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert 'FAILED' in failed.stdout
    texts = [m['text'] for m in receiver.wait_for(2)]
    assert texts[-1].startswith('🚨 [refit] P0 Rollback failed: manual intervention needed: refit-api v1.1.0 → v1.2.0')
    assert texts[-1].endswith('@devops-oncall')
