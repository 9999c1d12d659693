# SPDX-License-Identifier: GPL-3.0-or-later
"""The Loki API stand-in for tests, run as its own process on a free loopback port:

    with loki_standin(workdir) as loki:
        loki.set_streams([{'stream': {'namespace': 'playcode', 'container': 'playcode-app'},
                           'lines': [{'age': 30, 'line': 'error: boom'}]}])
        loki.url; loki.requests(clear=True); loki.reset()

Not Loki: tests against it are API-contract tests."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.monitoring import Service

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 15


class LokiStandin:
    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header('Content-Type', 'application/json')
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b'null')

    def set_streams(self, streams: list[dict[str, Any]]) -> None:
        """Replace the log lines: {stream: labels, lines: [{age (s before now), line}]} or values [[ns, line]]."""
        self._call('PUT', '/_standin/streams', streams)

    def requests(self, clear: bool = False) -> list[dict[str, Any]]:
        """The Loki API requests so far: method, path, query parameters."""
        return self._call('GET', '/_standin/requests' + ('?clear=1' if clear else ''))

    def reset(self) -> None:
        self._call('POST', '/_standin/reset')


@contextlib.contextmanager
def loki_standin(workdir: Path) -> Iterator[LokiStandin]:
    """The stand-in as its own process (process group), stopped when the block ends."""
    ready = workdir / 'loki-standin.ready.json'
    argv = [sys.executable, '-m', 'tests.standin.loki_standin', '--port', '0', '--ready-file', str(ready)]
    service = Service('loki-standin', argv, workdir)
    service.start(cwd=ROOT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if not service.alive() or time.monotonic() > deadline:
                raise RuntimeError(f'the Loki API stand-in did not start within {START_TIMEOUT} s\n{service.tail()}')
            time.sleep(0.05)
        yield LokiStandin(json.loads(ready.read_text())['url'])
    finally:
        service.stop()
