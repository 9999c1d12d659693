"""Lab stand-in for the Fragrance AI / QA-Arena API: /health (runbook F1), /version,
/docs, /metrics (with a summary of the request durations of the last 10 minutes, the
p95 that rollback.yml's F8 decision compares with a baseline), /api/items (rows of the
database) and POST /api/jobs/<kind> (queues a job for a worker). APP_ROLE=frontend serves only a page and /health."""

import json
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
from resp import Redis


def read_version():
    with open('/app/VERSION') as handle:
        return handle.read().strip()


VERSION = os.environ.get('APP_VERSION') or read_version()
WORKER_KINDS = [k for k in os.environ.get('WORKER_KINDS', 'llm,rl').split(',') if k]
ROLE = os.environ.get('APP_ROLE', 'api')
PORT = int(os.environ.get('PORT', '8000'))


# (finished at, seconds taken) of the last requests: a Prometheus summary's sliding window.
DURATIONS = deque(maxlen=2000)
DURATIONS_LOCK = threading.Lock()
TOTALS = {'count': 0, 'sum': 0.0}
WINDOW_SECONDS = 600


def record(seconds):
    with DURATIONS_LOCK:
        DURATIONS.append((time.monotonic(), seconds))
        TOTALS['count'] += 1
        TOTALS['sum'] += seconds


def duration_lines():
    """http_request_duration_seconds as a summary: quantiles over the window, totals."""
    with DURATIONS_LOCK:
        since = time.monotonic() - WINDOW_SECONDS
        recent = sorted(took for at, took in DURATIONS if at >= since)
        totals = dict(TOTALS)
    lines = ['# TYPE http_request_duration_seconds summary']
    for quantile in (0.5, 0.95, 0.99):
        if recent:
            value = recent[max(0, min(len(recent) - 1, -(-len(recent) * int(quantile * 100) // 100) - 1))]
            lines.append(f'http_request_duration_seconds{{quantile="{quantile}"}} {value:.6f}')
    lines.append(f'http_request_duration_seconds_count {totals["count"]}')
    lines.append(f'http_request_duration_seconds_sum {totals["sum"]:.6f}')
    return lines


def log(level, message):
    print(f'{time.strftime("%Y-%m-%dT%H:%M:%S")} {level} {socket.gethostname()} {message}', flush=True)


def database():
    return psycopg2.connect(host=os.environ.get('PGHOST', 'postgres'), connect_timeout=3)


def service_states():
    states = {}
    try:
        with database() as conn, conn.cursor() as cur:
            cur.execute('SELECT 1')
        states['database'] = 'healthy'
    except psycopg2.Error as err:
        log('ERROR', f'database check failed: {str(err).strip()}')
        states['database'] = 'unhealthy'
    redis = Redis()
    try:
        redis.call('PING')
        states['redis'] = 'healthy'
        states['workers'] = {kind: len(redis.call('KEYS', f'worker:{kind}:*')) for kind in WORKER_KINDS}
        states['queues'] = {kind: redis.call('LLEN', f'jobs:{kind}') for kind in WORKER_KINDS}
    except (OSError, RuntimeError) as err:
        log('ERROR', f'redis check failed: {err}')
        states['redis'] = 'unhealthy'
    finally:
        redis.close()
    return states


class Handler(BaseHTTPRequestHandler):
    def handle_one_request(self):
        started = time.monotonic()
        super().handle_one_request()
        if getattr(self, 'command', None) and self.path != '/metrics':
            record(time.monotonic() - started)

    def reply(self, status, body, content_type='application/json'):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == '/health':
            if ROLE == 'frontend':
                return self.reply(200, {'status': 'healthy', 'version': VERSION})
            states = service_states()
            healthy = states['database'] == 'healthy' and states['redis'] == 'healthy'
            body = {'status': 'healthy' if healthy else 'unhealthy', 'version': VERSION, 'services': states}
            return self.reply(200 if healthy else 503, body)
        if self.path == '/version':
            return self.reply(200, {'version': VERSION})
        if ROLE == 'frontend':
            return self.reply(200, b'<html><body>QA-Arena</body></html>', 'text/html')
        if self.path == '/docs':
            return self.reply(200, b'<html><body>API docs</body></html>', 'text/html')
        if self.path == '/metrics':
            states = service_states()
            lines = [f'app_up{{version="{VERSION}"}} 1']
            lines += [f'queue_length{{queue="{k}"}} {v}' for k, v in states.get('queues', {}).items()]
            lines += duration_lines()
            return self.reply(200, ('\n'.join(lines) + '\n').encode(), 'text/plain')
        if self.path == '/api/items':
            try:
                with database() as conn, conn.cursor() as cur:
                    cur.execute('SELECT count(*) FROM items')
                    return self.reply(200, {'items': cur.fetchone()[0]})
            except psycopg2.Error as err:
                log('ERROR', f'GET /api/items: {str(err).strip()}')
                return self.reply(500, {'error': 'database error'})
        return self.reply(404, {'error': 'not found'})

    def do_POST(self):
        kind = self.path.rsplit('/', 1)[-1]
        if not self.path.startswith('/api/jobs/') or kind not in WORKER_KINDS:
            return self.reply(404, {'error': 'not found'})
        length = int(self.headers.get('Content-Length') or 0)
        payload = self.rfile.read(length).decode() or 'job'
        redis = Redis()
        try:
            return self.reply(202, {'queued': redis.call('RPUSH', f'jobs:{kind}', payload)})
        finally:
            redis.close()

    def log_message(self, fmt, *args):
        log('INFO', fmt % args)


if __name__ == '__main__':
    # PID 1 ignores SIGTERM without a handler: docker would wait 10 s and kill it at every
    # stop; a real server stops at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log('INFO', f'{ROLE} {VERSION} listening on {PORT}')
    sys.stdout.flush()
    ThreadingHTTPServer(('0.0.0.0', PORT), Handler).serve_forever()
