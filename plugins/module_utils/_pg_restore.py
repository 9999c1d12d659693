# SPDX-License-Identifier: GPL-3.0-or-later
"""Rehearsed restore and crash-safe rename swap (runbooks O6, Q8, F7).

rehearse(): restore a verified backup into ``<db>_restore`` (never into ``<db>``),
check the restore's exit status, every table's row count against the manifest and
the required tables, then mark the rehearsal database with a comment that names the
backup's sha256. swap(): put the rehearsal in place of ``<db>``, keeping the old one
as ``<db>_broken_<ts>``. Nothing is ever dropped except a stale ``<db>_restore``.

"Already restored" is never taken on the mark alone: live_differences() checks that no
table of the backup is missing or holds fewer rows than it (more rows are the writes
made since the restore); a marked but damaged database is restored again.

Crash safety: both renames happen in ONE transaction, so no moment exists in which
``<db>`` is missing. Every other step is idempotent and the plan is written into the
rehearsal database's comment before the swap starts, so a re-run after a crash at any
point either finds the swap committed (and finishes: connections back on, marker) or
not committed (and redoes it from the start). A swap that fails (an error, not a
crash) after blocking connections lets clients in again on whichever database is
live before it raises SwapStopped, whose message names the state it left; reopen()
does the same for the role's rescue after a crash. Identifiers and literals reach SQL only
through psql variables (``:"name"``, ``:'value'``), which libpq quotes.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import io
import json
import os
import subprocess
import tarfile
from typing import Any

from ansible_collections.sre.runbooks.plugins.module_utils._postgres import (
    COUNT_ROWS_SQL,
    PostgresError,
    Target,
    count_rows,
    table_counts,
)

MARKER = 'sre.runbooks'
CHUNK = 1024 * 1024
# Test hooks: a crash (os._exit) or a failure (an error, as from a lost session)
# right after the named swap step.
CRASH_AFTER = os.environ.get('SRE_RUNBOOKS_SWAP_CRASH_AFTER')
FAIL_AFTER = os.environ.get('SRE_RUNBOOKS_SWAP_FAIL_AFTER')
# Settings of the restoring sessions only. Asynchronous commit is safe here: the
# rehearsal is verified and marked afterwards by a synchronous commit, whose WAL flush
# makes every earlier commit durable too; a crash before that means a new rehearsal.
RESTORE_PGOPTIONS = '-c synchronous_commit=off -c maintenance_work_mem=256MB'
SWAP_STEPS = ('plan', 'block_connections', 'terminate_sessions', 'rename', 'allow_connections', 'mark')


class RestoreError(RuntimeError):
    """The restore or its verification failed; the live database was not touched."""


class SwapStopped(RestoreError):
    """The swap failed after it began; the message says what state it left."""


def database_state(target: Target, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """For each given name: exists, allow_connections, comment (parsed marker or None)."""
    rows = target.script(
        """
        SELECT d.datname, d.datallowconn, coalesce(shobj_description(d.oid, 'pg_database'), '')
        FROM pg_database d WHERE d.datname IN (:'a', :'b', :'c');
    """,
        {'a': names.get('live', ''), 'b': names.get('restore', ''), 'c': names.get('broken', '')},
    )
    found = {row[0]: row for row in rows}
    state = {}
    for role, name in names.items():
        row = found.get(name)
        marker = None
        if row and row[2].startswith(MARKER + ' '):
            try:
                marker = json.loads(row[2][len(MARKER) + 1 :])
            except ValueError:
                marker = None
        state[role] = {
            'name': name,
            'exists': row is not None,
            'allow_connections': bool(row and row[1] == 't'),
            'marker': marker,
        }
    return state


def live_differences(target: Target, database: str, tables: dict[str, int]) -> list[str]:
    """Why the live database is not (any more) the restore whose counts are `tables`:
    each table it lacks or holds fewer rows of. More rows are writes since the restore."""
    counts = table_counts(target.script(COUNT_ROWS_SQL, {}, database=database))
    found = []
    for name, rows in sorted(tables.items()):
        if name not in counts:
            found.append(f'{name} is missing, the backup has {rows} rows')
        elif counts[name] < rows:
            found.append(f'{name} has {counts[name]} rows, the backup {rows}')
    return found


def describe_state(target: Target, database: str, sha256: str, broken: str | None) -> str:
    """Which database is live, which names exist, whether connections are allowed."""
    restore = f'{database}_restore'
    state = database_state(target, {'live': database, 'restore': restore, 'broken': broken or ''})
    live, marker = state['live'], state['live']['marker'] or {}
    if not live['exists']:
        return f'{database} does not exist; {restore} ' + ('exists' if state['restore']['exists'] else 'does not exist')
    restored = marker.get('sha256') == sha256 and marker.get('broken') == broken
    parts = [
        f"{database} serves the restore of {marker.get('backup')}"
        if restored
        else f'{database} still serves the database from before the swap',
        f'{database} accepts connections'
        if live['allow_connections']
        else f'{database} REFUSES connections (ALTER DATABASE ... ALLOW_CONNECTIONS true lets them in)',
        f'{restore} holds the verified rehearsal' if state['restore']['exists'] else f'{restore} does not exist',
    ]
    if broken:
        parts.append(
            f'the old database is kept as {broken}' if state['broken']['exists'] else f'{broken} does not exist'
        )
    again = 'finishes the swap' if restored else 'redoes the swap from the rehearsal'
    return 'State now: ' + '; '.join(parts) + f'. It is safe to run again: the re-run {again}.'


def reopen(target: Target, database: str) -> dict[str, Any]:
    """Allow connections again to <db> and to the copy a swap set aside (after a swap
    that died); changes nothing else. Returns changed and the state as text."""
    restore = f'{database}_restore'
    state = database_state(target, {'live': database, 'restore': restore})
    plan = state['restore']['marker'] or state['live']['marker'] or {}
    broken = plan.get('broken')
    changed = False
    if state['live']['exists'] and not state['live']['allow_connections']:
        target.script('ALTER DATABASE :"live" ALLOW_CONNECTIONS true;', {'live': database})
        changed = True
    if broken:
        copy = database_state(target, {'broken': broken})['broken']
        if copy['exists'] and not copy['allow_connections']:
            target.script('ALTER DATABASE :"broken" ALLOW_CONNECTIONS true;', {'broken': broken})
            changed = True
    return {
        'changed': changed,
        'broken': broken,
        'state': describe_state(target, database, plan.get('sha256', ''), broken),
    }


def _stopped(target: Target, database: str, sha256: str, broken: str | None, err: Exception) -> SwapStopped:
    """After a failed step: connections back on, then an error that names the state."""
    try:
        reopen(target, database)
        state = describe_state(target, database, sha256, broken)
    except PostgresError as again:
        state = (
            f'Letting clients in again failed too ({again}): {database} may refuse connections; '
            f'when the server answers, run again (it finishes or redoes the swap and lets them in)'
        )
    return SwapStopped(f'the swap of {database} stopped: {err}. {state}')


def database_owner(target: Target, database: str) -> str:
    rows = target.script("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db';", {'db': database})
    return rows[0][0] if rows else 'postgres'


def _comment(marker: dict[str, Any]) -> str:
    return f'{MARKER} {json.dumps(marker, sort_keys=True)}'


def _load_backup(target: Target, backup: dict[str, Any], database: str, jobs: int) -> None:
    path = backup['path']
    target = dataclasses.replace(target, env={'PGOPTIONS': RESTORE_PGOPTIONS, **target.env})
    if backup['format'] == 'custom':
        if target.container:
            with open(path, 'rb') as handle:
                target.run(
                    target.argv('pg_restore', '--no-owner', '--exit-on-error', database=database, stdin=True),
                    stdin=handle.read(),
                )
        else:
            target.run(
                target.argv('pg_restore', '--no-owner', '--exit-on-error', f'--jobs={jobs}', path, database=database)
            )
        return
    # O4O archive: stream db/o4o_db_*.sql.gz out of the tar, through gunzip, into psql.
    argv = target.argv('psql', '-Xq', '-v', 'ON_ERROR_STOP=1', '-f', '-', database=database, stdin=True)
    with tarfile.open(path, 'r:gz') as archive:
        member = next(m for m in archive.getmembers() if m.name.startswith('db/o4o_db_'))
        extracted = archive.extractfile(member)
        if extracted is None:
            raise RestoreError(f'{member.name} in {path} is not a file')
        # Popen, not run_command: the dump is streamed, never held in memory.
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **target.env},
        )
        if proc.stdin is None or proc.stderr is None:
            raise RestoreError('could not start psql')
        try:
            with gzip.open(io.BufferedReader(extracted)) as sql:
                for block in iter(lambda: sql.read(CHUNK), b''):
                    proc.stdin.write(block)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()
        err = proc.stderr.read().decode(errors='replace').strip()
        if proc.wait() != 0:
            raise PostgresError(f'psql exited {proc.returncode}: {err[-800:]}')


def rehearse(
    target: Target,
    database: str,
    backup: dict[str, Any],
    *,
    owner: str | None,
    required_tables: list[str],
    jobs: int = 2,
) -> dict[str, Any]:
    """Restore into <db>_restore and verify it; returns counts and what was checked."""
    restore = f'{database}_restore'
    names = {'live': database, 'restore': restore}
    variables = {'restore': restore, 'owner': owner or 'postgres'}
    target.script('DROP DATABASE IF EXISTS :"restore";', variables)
    target.script('CREATE DATABASE :"restore" OWNER :"owner" TEMPLATE template0;', variables)
    try:
        _load_backup(target, backup, restore, jobs)
        counts = count_rows(target, restore, workers=jobs)
    except PostgresError as err:
        raise RestoreError(f"restoring {backup['path']} into {restore} failed: {err}") from err
    expected = backup.get('tables') or {}
    wrong = {name: (counts.get(name), rows) for name, rows in expected.items() if counts.get(name) != rows}
    missing = [name for name in required_tables if name not in counts]
    if wrong or missing:
        problems = [f'{n}: {got} rows, manifest says {want}' for n, (got, want) in sorted(wrong.items())]
        problems += [f'required table {name} is missing' for name in missing]
        raise RestoreError(f"the rehearsal in {restore} does not match {backup['path']}: {'; '.join(problems)}")
    marker = {
        'state': 'verified',
        'sha256': backup['sha256'],
        'backup': os.path.basename(backup['path']),
        'tables': counts,
    }
    target.script('COMMENT ON DATABASE :"restore" IS :\'comment\';', {**variables, 'comment': _comment(marker)})
    return {'database': restore, 'tables': counts, 'state': database_state(target, names)['restore']}


def _crash_point(step: str) -> None:
    if step == CRASH_AFTER:
        os._exit(137)  # the test's stand-in for a killed process or a lost host
    if step == FAIL_AFTER:
        raise PostgresError(f'injected failure after {step}')


def swap(
    target: Target,
    database: str,
    sha256: str,
    now: datetime.datetime | None = None,
    allow_missing_live: bool = False,
) -> dict[str, Any]:
    """Rename <db>_restore into place of <db>, crash-safely (see the module docstring)."""
    restore = f'{database}_restore'
    state = database_state(target, {'live': database, 'restore': restore})
    live, rehearsal = state['live'], state['restore']
    if live['exists'] and (live['marker'] or {}).get('sha256') == sha256 and not rehearsal['exists']:
        broken = live['marker'].get('broken')
        if not live['allow_connections'] or live['marker'].get('state') != 'restored':
            try:
                _finish(target, database, live['marker'])  # the last run died after its rename
            except PostgresError as err:
                raise _stopped(target, database, sha256, broken, err) from err
            return {'changed': True, 'resumed': True, 'broken': broken}
        wrong = live_differences(target, database, live['marker'].get('tables') or {})
        if wrong:
            raise RestoreError(
                f"{database} carries the mark of {live['marker'].get('backup')} but {'; '.join(wrong)}: "
                'run the rehearsal again, then the swap'
            )
        return {'changed': False, 'broken': broken}
    if not rehearsal['exists'] or (rehearsal['marker'] or {}).get('sha256') != sha256:
        raise RestoreError(f'{restore} is not a verified rehearsal of this backup; run the rehearsal first')
    if not live['exists'] and not allow_missing_live:
        raise RestoreError(
            f'{database} does not exist; nothing to swap (check the name, or restore it '
            f'with pg_restore_allow_missing_live)'
        )
    plan = rehearsal['marker']
    if not live['exists']:  # a new host: the rehearsal becomes the database, nothing is set aside
        target.script('ALTER DATABASE :"restore" RENAME TO :"live";', {'live': database, 'restore': restore})
        _finish(target, database, {**plan, 'broken': None})
        return {'changed': True, 'resumed': False, 'broken': None}
    if plan.get('state') != 'swapping':
        plan = {**plan, 'state': 'swapping', 'broken': _free_broken_name(target, database, now)}
        target.script(
            'COMMENT ON DATABASE :"restore" IS :\'comment\';', {'restore': restore, 'comment': _comment(plan)}
        )
    _crash_point('plan')
    variables = {'live': database, 'restore': restore, 'broken': plan['broken']}
    try:
        target.script('ALTER DATABASE :"live" ALLOW_CONNECTIONS false;', variables)
        _crash_point('block_connections')
        target.script(
            """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname IN (:'live', :'restore') AND pid <> pg_backend_pid();
        """,
            variables,
        )
        _crash_point('terminate_sessions')
        target.script(
            """
            BEGIN;
            ALTER DATABASE :"live" RENAME TO :"broken";
            ALTER DATABASE :"restore" RENAME TO :"live";
            COMMIT;
        """,
            variables,
        )
        _crash_point('rename')
        _finish(target, database, plan)
    except PostgresError as err:
        raise _stopped(target, database, sha256, plan['broken'], err) from err
    return {'changed': True, 'resumed': False, 'broken': plan['broken']}


def _free_broken_name(target: Target, database: str, now: datetime.datetime | None) -> str:
    """<db>_broken_<UTC timestamp>, with a suffix when a swap in the same second took it."""
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime('%Y%m%dT%H%M%SZ')
    name, number = f'{database}_broken_{stamp}', 1
    while database_state(target, {'broken': name})['broken']['exists']:
        number += 1
        name = f'{database}_broken_{stamp}_{number}'
    return name


def _finish(target: Target, database: str, plan: dict[str, Any]) -> None:
    """Connections back on (both databases), then the marker that makes re-runs no-ops."""
    variables = {'live': database, 'broken': plan['broken']}
    target.script('ALTER DATABASE :"live" ALLOW_CONNECTIONS true;', variables)
    if plan['broken'] and database_state(target, {'broken': plan['broken']})['broken']['exists']:
        target.script('ALTER DATABASE :"broken" ALLOW_CONNECTIONS true;', variables)
    _crash_point('allow_connections')
    marker = {**plan, 'state': 'restored'}
    target.script('COMMENT ON DATABASE :"live" IS :\'comment\';', {**variables, 'comment': _comment(marker)})
    _crash_point('mark')
