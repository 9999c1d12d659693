# SPDX-License-Identifier: GPL-3.0-or-later
"""A chat-webhook receiver for tests: a real HTTP server that answers POSTs the way Discord,
Slack and Mattermost incoming webhooks do and records every request as one JSON line.

Run it as a process (tests/support/webhooks.py does that):

    python webhook_receiver.py --record FILE --ready FILE [--host H] [--port P]
                               [--status N] [--delay S]

Every POST on any path is recorded in FILE as
``{"at", "path", "body", "text", "mentions", "status"}``: ``body`` is the parsed JSON (None when
the body is not JSON), ``text`` the message's text (Discord ``content``, Slack and Mattermost
``text``), ``mentions`` the ``@name`` words and Discord ``<@id>`` / ``<@&id>`` tags in the text.
Answers: 400 for a body that is not JSON (like the real services), else 204 for a Discord-shaped
body (``content``), 200 ``ok`` for Slack/Mattermost (``text``).

Fault mode, for tests of failed posts: ``--status 500`` answers every post with that status,
``--delay 5`` waits that long before answering. Both can be changed while it runs with
``POST /__receiver__/fault`` and a body ``{"status": 500|null, "delay": seconds}`` (not recorded).
Once it listens, the port is written to the ready file (so ``--port 0`` picks a free one).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTROL_PATH = '/__receiver__/fault'
# '@devops-oncall', '@ai-backend-lead', '@cto', '@here' ... but not the '@' of an address.
MENTION_WORD = re.compile(r'(?<![\w@<])@[A-Za-z0-9](?:[\w.-]*\w)?')
DISCORD_TAG = re.compile(r'<@[!&]?\d+>')


def message_text(body: Any) -> str | None:
    """The text a chat service would show: Discord 'content', Slack/Mattermost 'text'."""
    if not isinstance(body, dict):
        return None
    for key in ('content', 'text'):
        if isinstance(body.get(key), str):
            return body[key]
    return None


def mentions_in(text: str | None) -> list[str]:
    if not text:
        return []
    found = DISCORD_TAG.findall(text) + MENTION_WORD.findall(text)
    return list(dict.fromkeys(found))


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], record: str, status: int | None, delay: float) -> None:
        super().__init__(address, Handler)
        self.record = record
        self.fault_status = status
        self.fault_delay = delay
        self.lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        with self.lock, open(self.record, 'a', encoding='utf-8') as out:
            out.write(line + '\n')
            out.flush()
            os.fsync(out.fileno())


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = 'HTTP/1.1'

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f'{self.address_string()} {format % args}\n')

    def _answer(self, status: int, payload: bytes = b'', ctype: str = 'text/plain') -> None:
        self.send_response(status)
        if status != 204:
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        if status != 204 and payload:
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def do_GET(self) -> None:
        # Discord answers GET on a webhook with its description; a plain 200 is enough here.
        self._answer(200, b'{"receiver": "sre-test"}', 'application/json')

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.path == CONTROL_PATH:
            self._control(raw)
            return
        try:
            body = json.loads(raw.decode('utf-8')) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        text = message_text(body)
        server = self.server
        if server.fault_status is not None:
            status = server.fault_status
        elif body is None:
            status = 400
        elif isinstance(body, dict) and 'content' in body and 'wait=true' not in self.path:
            status = 204
        else:
            status = 200
        server.write(
            {
                'at': datetime.datetime.now(datetime.timezone.utc).isoformat(),
                'path': self.path,
                'body': body,
                'raw': None if body is not None else raw.decode('utf-8', 'replace'),
                'content_type': self.headers.get('Content-Type'),
                'text': text,
                'mentions': mentions_in(text),
                'status': status,
            }
        )
        if server.fault_delay:
            time.sleep(server.fault_delay)
        if status == 204:
            self._answer(204)
        elif status >= 400:
            self._answer(status, b'{"message": "test receiver fault"}', 'application/json')
        elif isinstance(body, dict) and 'content' in body:
            self._answer(200, json.dumps({'id': '1', 'content': text}).encode(), 'application/json')
        else:
            self._answer(200, b'ok')

    def _control(self, raw: bytes) -> None:
        try:
            wanted = json.loads(raw.decode('utf-8') or '{}')
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._answer(400, b'control body must be JSON')
            return
        self.server.fault_status = wanted.get('status')
        self.server.fault_delay = float(wanted.get('delay') or 0)
        self._answer(200, b'ok')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--record', required=True, help='JSON lines file, one line per request')
    parser.add_argument('--ready', required=True, help='file that gets the port once listening')
    parser.add_argument('--status', type=int, default=None, help='answer every post with this status')
    parser.add_argument('--delay', type=float, default=0.0, help='seconds to wait before answering')
    args = parser.parse_args(argv)

    server = Receiver((args.host, args.port), args.record, args.status, args.delay)
    open(args.record, 'a', encoding='utf-8').close()
    tmp = args.ready + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as ready:
        ready.write(str(server.server_address[1]))
    os.replace(tmp, args.ready)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
