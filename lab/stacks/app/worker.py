"""Lab stand-in for a queue worker (Fragrance worker-llm/worker-rl, QA-Arena celery
worker): takes jobs from the Redis list jobs:<kind>, records each done job in the
database, and keeps a heartbeat key worker:<kind>:<host> alive while it runs.
A job whose payload is "fail" fails (logged as ERROR, counted in jobs:failed:<kind>).
WORKER_KIND=monitor only watches the other workers' heartbeats."""

import os
import signal
import socket
import sys
import time

import psycopg2
from resp import Redis

KIND = os.environ.get('WORKER_KIND', 'llm')
HOST = socket.gethostname()


def log(level, message):
    print(f'{time.strftime("%Y-%m-%dT%H:%M:%S")} {level} {HOST} {message}', flush=True)


def work(redis):
    redis.call('SET', f'worker:{KIND}:{HOST}', int(time.time()), 'EX', 5)
    if KIND == 'monitor':
        time.sleep(2)
        alive = len(redis.call('KEYS', 'worker:*:*')) - 1
        log('INFO', f'workers alive: {alive}')
        return
    job = redis.call('BLPOP', f'jobs:{KIND}', 1, timeout=5)
    if not job:
        return
    payload = job[1]
    if payload == 'fail':
        redis.call('INCR', f'jobs:failed:{KIND}')
        log('ERROR', f'job failed: {payload}')
        return
    connection = psycopg2.connect(host=os.environ.get('PGHOST', 'postgres'), connect_timeout=3)
    with connection as conn, conn.cursor() as cur:
        cur.execute('INSERT INTO jobs_done (kind, payload) VALUES (%s, %s)', (KIND, payload))
    connection.close()
    redis.call('INCR', f'jobs:done:{KIND}')
    log('INFO', f'job done: {payload}')


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1: stop at once (server.py)
    redis = Redis()
    log('INFO', f'worker {KIND} registered')
    while True:
        try:
            work(redis)
        except (OSError, RuntimeError, psycopg2.Error) as err:
            log('ERROR', f'worker {KIND}: {str(err).strip()}')
            redis.close()
            time.sleep(1)
