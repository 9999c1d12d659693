# SPDX-License-Identifier: GPL-3.0-or-later
"""Runbook R2's guard on the lab's compose host (Fragrance AI): the releases, the lab-only
bad release, and the set-up that tests/integration/test_guarded_compose_lab.py and the
benchmark bench/sre_bench/deploy.py share."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

from tests.support.webhooks import WebhookReceiver, webhook_receiver

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


@contextlib.contextmanager
def bad_release_staged(lab) -> Iterator[WebhookReceiver]:
    """The bad image tagged and the guard's record gone, with a webhook receiver on loopback;
    afterwards the record gone, the stack back on GOOD (redeploy.yml when it is not) and the
    bad image untagged. `lab` is tests/integration/conftest.Lab."""
    docker('tag', 'sre-runbooks/lab-stack:latest', BAD_IMAGE)
    lab.exec('compose', 'rm', '-f', STATE)
    try:
        with webhook_receiver() as rx:
            yield rx
    finally:
        lab.exec('compose', 'rm', '-f', STATE)
        if version() != GOOD or not healthy():
            back = lab.playbook('redeploy.yml', extravars={'version': GOOD}, cmdline=f'-l {HOST}')
            assert back.rc == 0, failure(back)
        docker('rmi', BAD_IMAGE)
