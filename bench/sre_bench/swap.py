"""Measure 3: unavailability during the restore's rename swap, seen by a client that
queries every 10 ms and one that writes every 10 ms, through an SSH tunnel to the lab
api host's PostgreSQL (it listens on localhost only, as on the O4O host)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time

import psycopg2

from . import dataset
from .common import DATABASE_ONLY, lab_ssh, playbook, psql, say
from .pg import TABLES

PERIOD_S = 0.01


@contextlib.contextmanager
def tunnel():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    ssh = subprocess.Popen(lab_ssh('172.30.53.10', flags=('-N', '-L', f'127.0.0.1:{port}:127.0.0.1:5432')))
    try:
        for _attempt in range(50):
            with contextlib.suppress(OSError), socket.create_connection(('127.0.0.1', port), 0.2):
                break
            time.sleep(0.1)
        yield port
    finally:
        ssh.terminate()
        ssh.wait()


class Client(threading.Thread):
    """Runs `statement` every 10 ms on one connection, reconnecting after a failure;
    records (time, ok, n) for every attempt."""

    def __init__(self, dsn: str, statement: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.statement = dsn, statement
        self.log: list[tuple[float, bool, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn, n = None, 0
        while not self.stop.is_set():
            n += 1
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn, connect_timeout=1)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(self.statement, {'n': n})
                self.log.append((time.monotonic(), True, n))
            except psycopg2.Error:
                self.log.append((time.monotonic(), False, n))
                with contextlib.suppress(Exception):
                    conn.close()  # type: ignore[union-attr]
                conn = None
            time.sleep(PERIOD_S)


def longest_outage(log: list[tuple[float, bool, int]]) -> tuple[float, int]:
    """Seconds from the first failure of the longest run of failures to the next success."""
    worst, failed, start = 0.0, 0, None
    for moment, ok, _n in log:
        if not ok:
            failed += 1
            start = start if start is not None else moment
        elif start is not None:
            worst, start = max(worst, moment - start), None
    return round(worst, 3), failed


def measure(db: str = 'bench_100mb', scale: float = 0.1) -> dict:
    dataset.ensure(db, scale)
    dataset.drop_leftovers(db)
    psql("DO $$ BEGIN CREATE ROLE bench LOGIN PASSWORD 'bench'; EXCEPTION WHEN duplicate_object THEN END $$")
    psql('TRUNCATE bench_writes; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO bench', database=db)
    backup_dir = f'/backup/{db}/swap'
    playbook('playbooks/backup.yml', '-e', f'pg_backup_database={db}', '-e', f'pg_backup_dir={backup_dir}',
             '-e', 'pg_backup_layout=custom', '-e', 'pg_backup_force=true', '-e', 'pg_backup_keep=1',
             '-e', DATABASE_ONLY)  # fmt: skip
    with tunnel() as port:
        dsn = f'host=127.0.0.1 port={port} dbname={db} user=bench password=bench'
        reader = Client(dsn, 'SELECT email FROM accounts WHERE id = 1')
        writer = Client(dsn, 'INSERT INTO bench_writes (id) VALUES (%(n)s)')
        reader.start()
        writer.start()
        time.sleep(1)
        say('restoring with the role while a reader and a writer run every 10 ms')
        run = playbook('playbooks/restore_database.yml', '-e', f'pg_restore_database={db}',
                       '-e', f'pg_restore_backup_dir={backup_dir}',
                       '-e', json.dumps({'pg_restore_required_tables': TABLES}))  # fmt: skip
        time.sleep(1)
        reader.stop.set()
        writer.stop.set()
        reader.join()
        writer.join()
    acked = {n for _moment, ok, n in writer.log if ok}
    live = {int(x) for x in psql('SELECT id FROM bench_writes', database=db).split()}
    broken = psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{db}\\_broken\\_%' ORDER BY 1 DESC LIMIT 1")
    kept = {int(x) for x in psql('SELECT id FROM bench_writes', database=broken).split()}
    dataset.drop_leftovers(db)
    read_window, read_failures = longest_outage(reader.log)
    write_window, write_failures = longest_outage(writer.log)
    return {
        'restore_s': run['seconds'],
        'reads': len(reader.log),
        'read_failures': read_failures,
        'longest_read_outage_s': read_window,
        'writes_acknowledged': len(acked),
        'write_failures': write_failures,
        'longest_write_outage_s': write_window,
        'acknowledged_in_kept_database': len(acked & kept),
        'acknowledged_in_live_database': len(acked & live),
        'acknowledged_lost': len(acked - kept - live),
    }
