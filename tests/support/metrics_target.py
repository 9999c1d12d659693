# SPDX-License-Identifier: GPL-3.0-or-later
"""A scrape target for a real Prometheus: a small HTTP server process whose /metrics page (Prometheus
text format 0.0.4) carries PlayCode's metrics with rates the test chooses (runbook P9):

- ``http_requests_total{method="GET", status_code="..."}``: counters growing by ``requests`` per second,
  per status code (the label the runbook's query reads, ``status_code``);
- ``http_request_duration_seconds``: a histogram whose observations per second fall into the buckets
  ``latency`` names by their upper bound (``le``);
- ``websocket_connections_active{pod="..."}``: gauges, ``websocket`` per pod.

A scenario such as ``{"requests": {"200": 90, "500": 10}, "latency": {"0.1": 90, "0.5": 8, "2.5": 2},
"websocket": {"playcode-app-a": 20}}`` gives a 5xx ratio of 10 % and a p99 of 1.75 s once Prometheus has
two scrapes. An empty part leaves its metric out (no series). Counters follow the clock, not the scrapes,
so a reader other than Prometheus changes no rate; ``PUT /scenario`` changes the rates from then on
(the counters keep counting up).

    python -m tests.support.metrics_target --port 0 --ready-file PATH --scenario JSON

    with metrics_target(workdir, scenario) as target:   # its own process group, stopped after
        target.url, target.set_scenario({...})
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.monitoring import Service

ROOT = Path(__file__).resolve().parents[2]
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float('inf'))
START_TIMEOUT = 15


def _bound(text: str) -> float:
    value = float(text)
    if value not in BOUNDS:
        raise ValueError(f'latency bucket {text!r} is not one of {BOUNDS}')
    return value


def _le(bound: float) -> str:
    return '+Inf' if bound == float('inf') else f'{bound:g}'


class Metrics:
    """Counters as base + rate * seconds since the last scenario change; thread-safe."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.since = time.monotonic()
        self.base: dict[str, dict[str, float]] = {'requests': {}, 'latency': {}}
        self.scenario: dict[str, Any] = {}
        self.set(scenario)

    def _counts(self, part: str, now: float) -> dict[str, float]:
        rates = self.scenario.get(part) or {}
        keys = set(rates) | set(self.base[part])
        return {key: self.base[part].get(key, 0.0) + rates.get(key, 0) * (now - self.since) for key in keys}

    def set(self, scenario: dict[str, Any]) -> None:
        for bound in scenario.get('latency') or {}:
            _bound(bound)
        with self.lock:
            now = time.monotonic()
            if self.scenario:
                self.base = {part: self._counts(part, now) for part in ('requests', 'latency')}
            self.scenario, self.since = dict(scenario), now

    def text(self) -> str:
        with self.lock:
            now = time.monotonic()
            requests, latency = self._counts('requests', now), self._counts('latency', now)
            websocket = dict(self.scenario.get('websocket') or {})
        lines: list[str] = []
        if requests:
            lines += ['# HELP http_requests_total HTTP requests.', '# TYPE http_requests_total counter']
            lines += [
                f'http_requests_total{{method="GET",status_code="{code}"}} {count:.3f}'
                for code, count in sorted(requests.items())
            ]
        if latency:
            lines += self._histogram(latency)
        if websocket:
            lines += ['# HELP websocket_connections_active Open WebSocket connections.']
            lines += ['# TYPE websocket_connections_active gauge']
            lines += [
                f'websocket_connections_active{{pod="{pod}"}} {value}' for pod, value in sorted(websocket.items())
            ]
        return '\n'.join(lines) + '\n'

    @staticmethod
    def _histogram(latency: dict[str, float]) -> list[str]:
        observed = {_bound(key): count for key, count in latency.items()}
        lines = ['# HELP http_request_duration_seconds HTTP request duration.']
        lines.append('# TYPE http_request_duration_seconds histogram')
        cumulative = 0.0
        for bound in BOUNDS:
            cumulative += observed.get(bound, 0.0)
            lines.append(f'http_request_duration_seconds_bucket{{le="{_le(bound)}"}} {cumulative:.3f}')
        total = sum(count * (bound if bound != float('inf') else 20.0) for bound, count in observed.items())
        lines.append(f'http_request_duration_seconds_sum {total:.3f}')
        lines.append(f'http_request_duration_seconds_count {cumulative:.3f}')
        return lines


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: str, kind: str = 'text/plain; version=0.0.4; charset=utf-8') -> None:
            payload = body.encode()
            self.send_response(code)
            self.send_header('Content-Type', kind)
            self.send_header('Content-Length', str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.split('?')[0] == '/metrics':
                self._answer(200, metrics.text())
            else:
                self._answer(404, 'not found\n')

        def do_PUT(self) -> None:
            if self.path != '/scenario':
                self._answer(404, 'not found\n')
                return
            try:
                metrics.set(json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))) or b'{}'))
            except ValueError as err:
                self._answer(400, f'{err}\n')
                return
            self._answer(200, '{}', 'application/json')

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--scenario', default='{}', help='JSON: requests, latency, websocket')
    parser.add_argument('--ready-file', help='written as JSON {url, port, pid} once it listens')
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), _handler(Metrics(json.loads(args.scenario))))
    port = server.server_address[1]
    if args.ready_file:
        partial = Path(args.ready_file + '.partial')
        partial.write_text(json.dumps({'url': f'http://{args.host}:{port}', 'port': port, 'pid': os.getpid()}))
        partial.replace(args.ready_file)
    server.serve_forever()


class MetricsTarget:
    """A running target: its URL and host:port (for a scrape job), and its scenario."""

    def __init__(self, url: str, port: int) -> None:
        self.url, self.port = url, port
        self.address = f'127.0.0.1:{port}'

    def set_scenario(self, scenario: dict[str, Any]) -> None:
        request = urllib.request.Request(f'{self.url}/scenario', data=json.dumps(scenario).encode(), method='PUT')
        with urllib.request.urlopen(request, timeout=5):
            pass

    def metrics(self) -> str:
        with urllib.request.urlopen(f'{self.url}/metrics', timeout=5) as answer:
            return answer.read().decode()


@contextlib.contextmanager
def metrics_target(workdir: Path, scenario: dict[str, Any], name: str = 'metrics-target') -> Iterator[MetricsTarget]:
    """The target as its own process (process group), stopped when the block ends."""
    ready = workdir / f'{name}.ready.json'
    argv = [sys.executable, '-m', 'tests.support.metrics_target', '--port', '0', '--ready-file', str(ready)]
    service = Service(name, [*argv, '--scenario', json.dumps(scenario)], workdir)
    service.start(cwd=ROOT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if not service.alive() or time.monotonic() > deadline:
                raise RuntimeError(f'the metrics target did not start within {START_TIMEOUT} s\n{service.tail()}')
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        yield MetricsTarget(info['url'], info['port'])
    finally:
        service.stop()


if __name__ == '__main__':
    main()
