# SPDX-License-Identifier: GPL-3.0-or-later
"""A real chat-webhook receiver for tests (tests/support/webhook_receiver.py in its own process).

    with webhook_receiver() as rx:                      # loopback, free port
        url = rx.url('/discord/123/secret-token')       # give this to the role
        ...
        [message] = rx.wait_for(1, timeout=10)
        assert message['text'].startswith('🚀') and '@devops-oncall' in message['mentions']

``webhook_receiver(host='172.30.53.1')`` (the lab network's gateway) makes it reachable from the
lab hosts. ``status=500`` or ``delay=5`` start it in fault mode; ``rx.fault(...)`` changes that
while it runs. Each message is a dict: at, path, body (parsed JSON), text, mentions, status.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RECEIVER = Path(__file__).with_name('webhook_receiver.py')
CONTROL_PATH = '/__receiver__/fault'


class WebhookReceiver:
    """Handle on a running receiver process."""

    def __init__(self, host: str, port: int, record: Path, process: subprocess.Popen) -> None:
        self.host = host
        self.port = port
        self.record = record
        self.process = process

    @property
    def base_url(self) -> str:
        return f'http://{self.host}:{self.port}'

    def url(self, path: str = '/') -> str:
        return self.base_url + ('' if path.startswith('/') else '/') + path

    def messages(self) -> list[dict[str, Any]]:
        """Every request recorded so far, oldest first."""
        if not self.record.exists():
            return []
        lines = self.record.read_text(encoding='utf-8').splitlines()
        # A line being written is complete once it ends with a newline; skip a partial last one.
        out = []
        for line in lines:
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def texts(self) -> list[str | None]:
        return [message['text'] for message in self.messages()]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The messages once at least `count` arrived; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages()
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f'webhook receiver: expected {count} message(s) in {timeout} s, got {got!r}')
            if self.process.poll() is not None:
                raise AssertionError(f'webhook receiver exited ({self.process.returncode}); got {got!r}')
            time.sleep(0.05)

    def fault(self, status: int | None = None, delay: float = 0.0) -> None:
        """Answer posts with `status` (None = normal answers) after `delay` seconds."""
        request = urllib.request.Request(
            self.url(CONTROL_PATH),
            data=json.dumps({'status': status, 'delay': delay}).encode(),
            headers={'Content-Type': 'application/json'},
            method='POST',
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.record.write_text('', encoding='utf-8')


@contextlib.contextmanager
def webhook_receiver(
    host: str = '127.0.0.1', port: int = 0, status: int | None = None, delay: float = 0.0
) -> Iterator[WebhookReceiver]:
    """Start the receiver process, wait until it listens, yield its handle, stop it."""
    workdir = Path(tempfile.mkdtemp(prefix='whrx.'))
    record = workdir / 'messages.jsonl'
    ready = workdir / 'port'
    command = [sys.executable, str(RECEIVER), '--host', host, '--port', str(port)]
    command += ['--record', str(record), '--ready', str(ready)]
    if status is not None:
        command += ['--status', str(status)]
    if delay:
        command += ['--delay', str(delay)]
    log = open(workdir / 'receiver.log', 'wb')  # noqa: SIM115 - kept open for the process's life
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(
                    f'webhook receiver did not start on {host}: '
                    + (workdir / 'receiver.log').read_text(encoding='utf-8', errors='replace')
                )
            if time.monotonic() >= deadline:
                raise RuntimeError(f'webhook receiver did not listen on {host} within 10 s')
            time.sleep(0.02)
        yield WebhookReceiver(host, int(ready.read_text(encoding='utf-8')), record, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        for leftover in (record, ready, workdir / 'receiver.log'):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        with contextlib.suppress(OSError):
            workdir.rmdir()
