# SPDX-License-Identifier: GPL-3.0-or-later
"""Makes ``ansible_collections.sre.runbooks`` importable from the checkout and
provides real services (HTTP, Redis, PostgreSQL) on loopback."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / 'collections'), str(ROOT)]

from tests.support import services
from tests.support.k8s import k8s_standin, kubectl_binary


class _Handler(BaseHTTPRequestHandler):
    """/health answers like the Fragrance API (F1); /down answers 503; /slow sleeps."""

    def do_GET(self) -> None:
        routes = {
            '/health': (
                200,
                {
                    'status': 'healthy',
                    'version': '1.4.0',
                    'services': {'database': 'ok', 'workers': {'llm': 'ok', 'rl': 'down'}},
                },
            ),
            '/down': (503, {'status': 'error'}),
            '/text': (200, 'not json'),
        }
        if self.path == '/slow':
            threading.Event().wait(0.3)
        code, body = routes.get(self.path, (200, {'status': 'ok'}))
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get('Content-Length', 0))
        echo = json.loads(self.rfile.read(length) or b'{}')
        payload = json.dumps({'echo': echo, 'auth': self.headers.get('Authorization')}).encode()
        self.send_response(201)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope='session')
def http_url():
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


@pytest.fixture(scope='session')
def redis_port(tmp_path_factory):
    with services.redis_server(tmp_path_factory.mktemp('redis')) as port:
        yield port


@pytest.fixture(scope='session')
def postgres_port():
    with services.postgres_server() as port:
        yield port


@pytest.fixture(scope='module')
def k8s_server():
    """A Kubernetes API stand-in for one test module (API-contract tests, tests/standin)."""
    with k8s_standin() as running:
        yield running


@pytest.fixture
def k8s(k8s_server):
    """The module's stand-in back at its seed; fails (not skips) when kubectl 1.31 is missing."""
    kubectl_binary()
    k8s_server.reset()
    return k8s_server
