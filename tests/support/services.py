# SPDX-License-Identifier: GPL-3.0-or-later
"""Real throwaway services on loopback for tests: Redis and PostgreSQL.

Each starts its own server process on a free port in a temporary directory and
stops it again; nothing here is a mock. scripts/setup.sh installs the servers.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_BIN = Path('/usr/lib/postgresql/15/bin')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_port(port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'nothing listens on 127.0.0.1:{port} after {seconds} s')


def require(binary: str | Path) -> str:
    found = shutil.which(str(binary))
    if not found:
        raise RuntimeError(f'{binary} is not installed: run scripts/setup.sh host')
    return found


@contextmanager
def redis_server(tmp: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [require('redis-server'), '--port', str(port), '--bind', '127.0.0.1', '--save', '', '--dir', str(tmp)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _as_postgres() -> list[str]:
    """Prefix that runs a command as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam('postgres')
    return ['runuser', '-u', 'postgres', '--']


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster that a test may stop and start again."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix='sre-pg-'))
        self.port, self.data = free_port(), self.dir / 'pgdata'
        self._prefix = _as_postgres()

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        options = f'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off'
        subprocess.run(
            [
                *self._prefix,
                str(PG_BIN / 'pg_ctl'),
                '-D',
                str(self.data),
                '-o',
                options,
                '-l',
                str(self.dir / 'log'),
                *args,
            ],
            check=check,
            stdout=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, 'postgres')
            shutil.chown(self.data, 'postgres')
        subprocess.run(
            [*self._prefix, require(PG_BIN / 'initdb'), '-D', str(self.data), '-A', 'trust', '-U', 'postgres'],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._pg_ctl('-w', 'start')

    def stop(self, mode: str = 'fast', check: bool = True) -> None:
        """Stop the server; mode immediate is a crash as far as clients can tell."""
        self._pg_ctl('-m', mode, '-w', 'stop', check=check)

    def remove(self) -> None:
        self.stop(check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A fresh PostgreSQL 15 cluster with trust auth for local connections, started.

    Its directory sits in /tmp itself (pytest's tmp_path is private to root, and
    PostgreSQL refuses to run as root, so the cluster belongs to user postgres).
    """
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[int]:
    """The port of a fresh, started PostgreSQL 15 cluster (see postgres_cluster)."""
    with postgres_cluster() as cluster:
        yield cluster.port


def when_active(target: Any, application: str, act: Any, found: list[int]) -> threading.Thread:
    """Calls act() once a backend of `application` is running a query; `found` gets an
    entry then. The watch gives up after 60 s."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not found:
            rows = target.script(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :'app' AND state = 'active'",
                {'app': application},
                database='postgres',
            )
            if rows and rows[0][0] != '0':
                act()
                found.append(1)
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# The watch runs in the server, every 5 ms, in one psql session: a psql started per look
# (tens of ms each, more on a busy machine) could miss a restore that ends in a second.
TERMINATE_WHEN_BUSY = """
SELECT set_config('sre.watch_db', :'db', false), set_config('sre.watch_app', :'app', false);
DO $$
DECLARE
    ended int := 0;
    busy record;
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
    WHILE ended = 0 AND clock_timestamp() < deadline LOOP
        PERFORM pg_stat_clear_snapshot();
        FOR busy IN SELECT pid FROM pg_stat_activity
                    WHERE datname = current_setting('sre.watch_db')
                      AND application_name = current_setting('sre.watch_app') AND state = 'active'
        LOOP
            IF pg_terminate_backend(busy.pid) THEN
                ended := ended + 1;
            END IF;
        END LOOP;
        PERFORM pg_sleep(0.005);
    END LOOP;
    PERFORM set_config('sre.watch_ended', ended::text, false);
END $$;
SELECT current_setting('sre.watch_ended');
"""


def terminate_when_busy(target: Any, database: str, application: str, found: list[int]) -> threading.Thread:
    """Ends the first active backend of `application` on `database` from another
    connection: a lost server, as far as the client can tell. `found` gets an entry
    when one was ended; the watch gives up after 60 s."""

    def watch() -> None:
        rows = target.script(TERMINATE_WHEN_BUSY, {'db': database, 'app': application}, database='postgres')
        found.extend([1] * int(rows[-1][0]))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
