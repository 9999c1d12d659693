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


@contextmanager
def postgres_server() -> Iterator[int]:
    """A fresh PostgreSQL 15 cluster with trust auth for local connections.

    Its directory sits in /tmp itself (pytest's tmp_path is private to root, and
    PostgreSQL refuses to run as root, so the cluster belongs to user postgres).
    """
    tmp = Path(tempfile.mkdtemp(prefix='sre-pg-'))
    port, data = free_port(), tmp / 'pgdata'
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, 'postgres')
        shutil.chown(data, 'postgres')
    prefix = _as_postgres()
    subprocess.run(
        [*prefix, require(PG_BIN / 'initdb'), '-D', str(data), '-A', 'trust', '-U', 'postgres'],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f'-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off'
    subprocess.run(
        [*prefix, str(PG_BIN / 'pg_ctl'), '-D', str(data), '-o', options, '-w', '-l', str(tmp / 'log'), 'start'],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        subprocess.run(
            [*prefix, str(PG_BIN / 'pg_ctl'), '-D', str(data), '-m', 'fast', 'stop'],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def terminate_when_busy(target: Any, database: str, application: str, found: list[int]) -> threading.Thread:
    """Ends the first active backend of `application` on `database` from another
    connection: a lost server, as far as the client can tell. `found` gets an entry
    when one was ended; the watch gives up after 60 s."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not found:
            rows = target.script(
                """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE datname = :'db' AND application_name = :'app' AND state = 'active'""",
                {'db': database, 'app': application},
                database='postgres',
            )
            found.extend(1 for row in rows if row[0] == 't')
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
