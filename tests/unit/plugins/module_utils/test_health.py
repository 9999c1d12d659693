# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import _health
from tests.support.services import free_port


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """What the module's run_command does, for tests outside a module."""
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    ('values', 'pct', 'expected'),
    [
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        (list(map(float, range(1, 101))), 95, 95.0),
        ([3.0, 1.0, 2.0], 100, 3.0),
    ],
)
def test_percentile_is_nearest_rank(values, pct, expected):
    assert _health.percentile(values, pct) == expected


@pytest.mark.parametrize(
    ('path', 'expected'),
    [('status', 'healthy'), ('services.workers.llm', 'ok'), ('items.1.id', 2)],
)
def test_lookup_follows_dotted_paths(path, expected):
    document = {'status': 'healthy', 'services': {'workers': {'llm': 'ok'}}, 'items': [{'id': 1}, {'id': 2}]}
    assert _health.lookup(document, path) == expected


@pytest.mark.parametrize('path', ['missing', 'services.workers.gpu', 'items.7', 'status.deeper'])
def test_lookup_raises_for_missing_paths(path):
    with pytest.raises(KeyError):
        _health.lookup({'status': 'healthy', 'services': {'workers': {}}, 'items': []}, path)


def test_http_healthy_json_and_timing(http_url):
    result = _health.probe_http(
        {
            'url': f'{http_url}/health',
            'samples': 5,
            'json': {'status': 'healthy', 'services.workers.llm': 'ok', 'version': None},
        }
    )
    assert result['ok'], result
    assert result['timing']['samples'] == 5
    assert result['fields'] == {'status': 'healthy', 'services.workers.llm': 'ok', 'version': '1.4.0'}


@pytest.mark.parametrize(
    ('spec', 'problem'),
    [
        ({'path': '/health', 'json': {'services.workers.rl': 'ok'}}, "services.workers.rl is 'down'"),
        ({'path': '/health', 'json': {'services.redis': None}}, 'services.redis missing'),
        ({'path': '/down'}, 'status 503'),
        ({'path': '/text', 'json': {'status': 'ok'}}, 'not JSON'),
        ({'path': '/slow', 'max_ms': 50}, 'over 50 ms'),
    ],
)
def test_http_unhealthy_cases_say_why(http_url, spec, problem):
    path = spec.pop('path')
    result = _health.probe_http({'url': f'{http_url}{path}', **spec})
    assert not result['ok']
    assert problem in result['detail']


def test_http_accepts_listed_status_and_sends_json_body(http_url):
    result = _health.probe_http(
        {
            'url': f'{http_url}/login',
            'method': 'POST',
            'status': [201],
            'body': {'email': 'a@b'},
            'headers': {'Authorization': 'Bearer t'},
            'json': {'echo.email': 'a@b', 'auth': 'Bearer t'},
        }
    )
    assert result['ok'], result


def test_http_connection_refused_is_a_result_not_an_error():
    result = _health.probe_http({'url': f'http://127.0.0.1:{free_port()}/health', 'timeout': 1})
    assert not result['ok']
    assert 'refused' in result['detail'].lower()


def test_tcp_open_and_closed(redis_port):
    assert _health.probe_tcp({'host': '127.0.0.1', 'port': redis_port})['ok']
    assert not _health.probe_tcp({'host': '127.0.0.1', 'port': free_port(), 'timeout': 1})['ok']


def test_redis_ping_against_real_server(redis_port):
    result = _health.probe_redis({'port': redis_port})
    assert result['ok'] and result['detail'] == 'PONG'


def test_redis_down_is_reported():
    result = _health.probe_redis({'port': free_port(), 'timeout': 1})
    assert not result['ok']


def test_postgres_pg_isready_against_real_server(postgres_port):
    params = {
        'postgres': [
            {'port': postgres_port, 'database': 'postgres', 'user': 'postgres'},
            {'name': 'gone', 'port': free_port(), 'timeout': 1},
        ]
    }
    up, down = _health.run_all(params, shutil.which, run)
    assert up['ok'] and 'accepting connections' in up['detail']
    assert not down['ok'] and down['name'] == 'gone'


def test_disk_threshold(tmp_path):
    assert _health.probe_disk({'path': str(tmp_path), 'max_percent': 100})['ok']
    assert not _health.probe_disk({'path': str(tmp_path), 'max_percent': 0})['ok']
    missing = _health.probe_disk({'path': str(tmp_path / 'nope')})
    assert not missing['ok']


def test_memory_threshold_from_meminfo(tmp_path):
    meminfo = tmp_path / 'meminfo'
    meminfo.write_text('MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 50 kB\n')
    result = _health.probe_memory(90, str(meminfo))
    assert not result['ok'] and result['used_percent'] == 95.0
    assert _health.probe_memory(96, str(meminfo))['ok']


def test_pm2_without_daemon_is_unhealthy_and_starts_nothing(tmp_path):
    result = _health.probe_pm2({'app': 'api-server', 'pm2_home': str(tmp_path)}, '/usr/bin/true', run)
    assert not result['ok'] and 'no pm2 daemon' in result['detail']
    assert list(tmp_path.iterdir()) == []


def test_pm2_missing_binary():
    assert 'not installed' in _health.probe_pm2({'app': 'x'}, None, run)['detail']


def test_run_all_runs_probes_at_once_and_keeps_their_order(tmp_path):
    """Three services of 0.5 s each take about 0.5 s together, and the results keep
    the order of the parameters, which callers may rely on."""

    def slow_run(argv, env):
        time.sleep(0.5)
        return 0, 'active', ''

    params = {'services': ['a', 'b', 'c'], 'disk': [{'path': str(tmp_path)}]}
    started = time.monotonic()
    results = _health.run_all(params, lambda name: None, slow_run)
    assert time.monotonic() - started < 1.2
    assert [r['name'] for r in results] == ['service a', 'service b', 'service c', f'disk {tmp_path}']


def test_components_run_in_one_pool_and_come_back_per_component(tmp_path):
    """Two components and a top-level check: all at once (0.5 s each, about 0.5 s in
    all), the top-level results as run_all, each component's in its own order and
    marked with its name; a tool is looked up once however many components use it."""
    looked_up: list[str] = []

    def which(name):
        looked_up.append(name)

    def slow_run(argv, env):
        time.sleep(0.5)
        return 0, 'active', ''

    params = {
        'services': ['top'],
        'components': [
            {'name': 'web', 'services': ['nginx'], 'disk': [{'path': str(tmp_path)}]},
            {'name': 'api', 'services': ['a', 'b']},
            {'name': 'empty'},
        ],
    }
    started = time.monotonic()
    top, components = _health.run_components(params, which, slow_run)
    assert time.monotonic() - started < 1.2
    assert [r['name'] for r in top] == ['service top'] and 'component' not in top[0]
    assert list(components) == ['web', 'api', 'empty']
    assert [r['name'] for r in components['web']] == ['service nginx', f'disk {tmp_path}']
    assert [r['name'] for r in components['api']] == ['service a', 'service b']
    assert components['empty'] == []
    assert {r['component'] for r in components['api']} == {'api'}
    assert looked_up == ['systemctl']


def test_components_keep_each_result_with_its_component(http_url):
    params = {
        'components': [
            {'name': 'up', 'http': [{'name': 'health', 'url': f'{http_url}/health'}]},
            {'name': 'down', 'http': [{'name': 'health', 'url': f'{http_url}/down'}]},
        ]
    }
    top, components = _health.run_components(params, shutil.which, run)
    assert top == []
    assert components['up'][0]['ok'] and not components['down'][0]['ok']
    assert 'status 503' in components['down'][0]['detail']


@pytest.mark.parametrize(
    ('url', 'shown'),
    [
        ('https://ops:s3cret@api.example/health', 'https://ops:***@api.example/health'),
        ('http://127.0.0.1:4000/api/health', 'http://127.0.0.1:4000/api/health'),
        ('http://host/path@v2', 'http://host/path@v2'),
        ('http://ghp_token@host/', 'http://***@host/'),
    ],
)
def test_urls_lose_their_password_in_reports(url, shown):
    assert _health.redact_url(url) == shown


def test_an_unreachable_url_with_a_password_is_reported_without_it():
    result = _health.probe_http({'url': f'http://ops:s3cret@127.0.0.1:{free_port()}/health', 'timeout': 1})
    assert not result['ok'] and 's3cret' not in repr(result), result


@pytest.fixture
def https_url(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate."""
    key, cert = tmp_path / 'key.pem', tmp_path / 'cert.pem'
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
         '-keyout', str(key), '-out', str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'https://localhost:{server.server_address[1]}/health'
    server.shutdown()


def test_tls_is_verified_unless_told_not_to_with_one_context_per_setting(https_url):
    """The TLS context is shared within a run (issue #20), per validate_certs: an
    unverified check never lends its context to a verified one."""
    _health._tls_context.cache_clear()
    relaxed = _health.probe_http({'url': https_url, 'validate_certs': False, 'json': {'status': 'ok'}})
    strict = _health.probe_http({'url': https_url})
    again = _health.probe_http({'url': https_url, 'validate_certs': False})
    assert relaxed['ok'] and again['ok'], (relaxed, again)
    assert not strict['ok'] and 'CERTIFICATE_VERIFY_FAILED' in strict['detail'], strict
    assert _health._tls_context.cache_info().currsize == 2
