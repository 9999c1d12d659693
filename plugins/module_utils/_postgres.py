# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL client plumbing shared by the backup and restore modules.

Everything goes through the stock client programs (psql, pg_dump, pg_restore), run as
argument lists, either on the host or inside a container (``docker exec -i <ctr>``),
so the same code serves O4O (PostgreSQL on the api host) and QA-Arena or Fragrance
(PostgreSQL in a compose service).
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

SENTINEL = '__sre_runbooks_done__'

# One query, exact row counts of every ordinary table, in the caller's snapshot.
COUNT_ROWS_SQL = """
SELECT format('%s.%s', table_schema, table_name) || '|' ||
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
                                                   table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1;
"""


# The tables COUNT_ROWS_SQL counts, by oid with their size, for counting them in parallel.
LIST_TABLES_SQL = """
SELECT format('%I.%I', table_schema, table_name)::regclass::oid || '|' ||
       pg_relation_size(format('%I.%I', table_schema, table_name)::regclass)
FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema');
"""
COUNT_TABLES_SQL = """
SELECT format('%s.%s', n.nspname, c.relname) || '|' ||
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                                            false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY (string_to_array(:'oids', ',')::oid[]);
"""


class PostgresError(RuntimeError):
    """A client program failed; the message carries its stderr."""


@dataclass
class Target:
    """Where and how to reach the server: optional container, connection options."""

    container: str | None = None
    container_user: str | None = None
    host: str | None = None
    port: int = 5432
    user: str | None = None
    docker: str = 'docker'
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, program: str, *args: str, database: str | None = None, stdin: bool = False) -> list[str]:
        base: list[str] = []
        if self.container:
            user = ['-u', self.container_user] if self.container_user else []
            base = [self.docker, 'exec', *(['-i'] if stdin else []), *user, self.container]
        conn = ['-p', str(self.port)]
        if self.host:
            conn += ['-h', self.host]
        if self.user:
            conn += ['-U', self.user]
        if database is not None:
            conn += ['-d', database]
        return [*base, program, *conn, *args]

    def run(
        self,
        argv: list[str],
        stdin: bytes | None = None,
        stdout: IO[bytes] | int | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess:
        # subprocess, not run_command: module_utils also serve code outside a module.
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            argv,
            input=stdin,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise PostgresError(
                f"{' '.join(argv[:6])}... exited {proc.returncode}: "
                f"{proc.stderr.decode(errors='replace').strip()[-800:]}"
            )
        return proc

    def script(self, sql: str, variables: dict[str, str] | None = None, database: str = 'postgres') -> list[list[str]]:
        """Rows of an SQL script run by psql (unaligned, | separated). Values reach the
        SQL only as psql variables, :"name" for identifiers and :'name' for literals,
        which libpq quotes."""
        argv = self.argv(
            'psql',
            '-XAtq',
            '-v',
            'ON_ERROR_STOP=1',
            '-F',
            '|',
            *[f'--variable={name}={value}' for name, value in (variables or {}).items()],
            '-f',
            '-',
            database=database,
            stdin=True,
        )
        out = self.run(argv, stdin=sql.encode()).stdout.decode()
        return [line.split('|') for line in out.splitlines() if line]

    def server_version(self) -> str:
        return self.script('SHOW server_version;')[0][0].split()[0]


class Session:
    """A long-lived psql session, for work that must share one transaction (a
    snapshot exported for pg_dump and the row counts taken in it)."""

    def __init__(self, target: Target, database: str) -> None:
        argv = target.argv('psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-F', '|', database=database, stdin=True)
        # Popen, not run_command: the session stays open across several statements.
        self.proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **target.env},
            text=True,
            bufsize=1,
        )

    def execute(self, sql: str) -> list[list[str]]:
        if self.proc.stdin is None or self.proc.stdout is None:
            raise PostgresError('psql session is closed')
        self.proc.stdin.write(sql.rstrip().rstrip(';') + ';\n\\echo ' + SENTINEL + '\n')
        self.proc.stdin.flush()
        rows = []
        for raw in self.proc.stdout:
            line = raw.rstrip('\n')
            if line == SENTINEL:
                return rows
            if line:
                rows.append(line.split('|'))
        raise PostgresError(f'psql ended: {self.proc.stderr.read().strip() if self.proc.stderr else ""}')

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(30)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.close()


def table_counts(rows: list[list[str]]) -> dict[str, int]:
    return {name: int(count) for name, count in rows}


def count_rows(target: Target, database: str, workers: int = 1) -> dict[str, int]:
    """Row count of every base table of database (as COUNT_ROWS_SQL). With workers > 1 the
    tables are shared out by size among that many sessions counting at once, so a big
    database's count takes about as long as its biggest table's."""
    if workers <= 1:
        return table_counts(target.script(COUNT_ROWS_SQL, {}, database=database))
    groups: list[list[str]] = [[] for _worker in range(workers)]
    loads = [0] * workers
    for oid, size in sorted(target.script(LIST_TABLES_SQL, database=database), key=lambda row: -int(row[1])):
        lightest = loads.index(min(loads))
        groups[lightest].append(oid)
        loads[lightest] += int(size) + 1
    busy = [group for group in groups if group]
    if len(busy) < 2:
        return table_counts(target.script(COUNT_ROWS_SQL, {}, database=database))
    with ThreadPoolExecutor(max_workers=len(busy)) as pool:
        parts = pool.map(lambda oids: target.script(COUNT_TABLES_SQL, {'oids': ','.join(oids)}, database), busy)
        return dict(sorted(table_counts([row for part in parts for row in part]).items()))


def connection_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of doc fragment sre.runbooks.postgres, for a module's argument_spec."""
    return dict(
        container=dict(type='str'),
        container_user=dict(type='str'),
        host=dict(type='str'),
        port=dict(type='int', default=5432),
        user=dict(type='str'),
    )


def target_from_params(params: dict[str, Any], docker: str | None) -> Target:
    return Target(
        container=params['container'],
        container_user=params['container_user'],
        host=params['host'],
        port=params['port'],
        user=params['user'],
        docker=docker or 'docker',
    )
