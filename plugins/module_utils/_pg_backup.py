# SPDX-License-Identifier: GPL-3.0-or-later
"""Take, validate and prune PostgreSQL backups (runbooks Q6, Q7, O5).

A backup is taken in one pass: a REPEATABLE READ transaction exports its snapshot,
the row counts of every table are read in that transaction, and pg_dump dumps the
same snapshot, so the manifest's counts are exactly what the dump holds. The dump is
written under a hidden temporary name (gzipped on the way for the O4O archive) and
validated; then its checksum and manifest are written (each under a temporary name,
flushed, renamed), and the dump is renamed into place last: no backup ever stands
under its final name without its manifest. Any failure (the server lost, the disk
full, the directory unwritable) removes what the run wrote and raises BackupError,
whose ``advice`` says what to do. Runs on one directory are serialised by a lock on it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import gzip
import hashlib
import io
import os
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from ansible_collections.sre.runbooks.plugins.module_utils._backup import (
    CHECKSUM_SUFFIX,
    MANIFEST_SUFFIX,
    PARTIAL_SUFFIX,
    WORK_DIR_PREFIX,
    build_manifest,
    list_backups,
    manifest_texts,
    pick_newest,
    sha256_of,
    write_durably,
)
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import (
    COUNT_ROWS_SQL,
    PostgresError,
    Session,
    Target,
    table_counts,
)

CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """The backup could not be taken or did not validate; nothing was kept.
    ``advice`` says what to do about it."""

    def __init__(self, problem: str, advice: str = '') -> None:
        super().__init__(problem)
        self.advice = advice


def advice_for(err: BaseException, backup_dir: str) -> str:
    """What an operator does about a failed backup, by the kind of failure."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f'Free space on the file system of {backup_dir} (df -h {backup_dir}; older backups can go by '
            'lowering pg_backup_keep), or point pg_backup_dir at a larger disk, then run again'
        )
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f'Make {backup_dir} writable by the user that runs the backup (owner pg_backup_owner, mode 0700) '
            'on a file system mounted read-write, then run again'
        )
    if isinstance(err, OSError):
        return f'Check {backup_dir} and its file system (dmesg, df -h), then run again'
    return (
        'Check that the server is up and answers (runbook O3: systemctl status postgresql, '
        'psql -c "SELECT 1"; its log says why the session ended), then run again'
    )


@contextlib.contextmanager
def directory_lock(backup_dir: str) -> Iterator[None]:
    """One pg_backup run at a time per directory (an flock on the directory itself),
    so that files found there while it is held are those of a run that died."""
    handle = os.open(backup_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BackupError(
                f'another pg_backup run is working in {backup_dir} (it holds the lock on the directory)',
                'Wait for it to finish, then run again',
            ) from err
        yield
    finally:
        os.close(handle)


def backup_name(layout: str, prefix: str, moment: datetime.datetime) -> str:
    stamp = moment.strftime('%Y%m%d_%H%M%S')
    return f'{prefix}_{stamp}.tar.gz' if layout == 'o4o_archive' else f'{prefix}_{stamp}.dump'


def _stream(argv: list[str], target: Target, sink: Any) -> None:
    """Run argv and copy its stdout into sink (a file-like object) chunk by chunk."""
    # Popen, not run_command: a dump is streamed to disk, never held in memory.
    proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **target.env}
    )
    if proc.stdout is None or proc.stderr is None:
        raise BackupError('could not read the output of pg_dump')
    try:
        for block in iter(lambda: proc.stdout.read(CHUNK), b''):
            sink.write(block)
    except BaseException:
        proc.kill()  # the sink failed (a full disk): pg_dump must not linger
        proc.communicate()
        raise
    err = proc.stderr.read().decode(errors='replace').strip()
    if proc.wait() != 0:
        raise BackupError(f'pg_dump failed (exit {proc.returncode}): {err[-800:]}')


class _HashingSink:
    """Writes to a file and hashes on the way, so the checksum costs no second read."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, block: bytes) -> None:
        self.digest.update(block)
        self.handle.write(block)


def _dump_custom(target: Target, database: str, snapshot: str, path: str, compress: int) -> str:
    """pg_dump -Fc into path; returns the file's sha256."""
    with open(path, 'wb') as handle:
        sink = _HashingSink(handle)
        _stream(
            target.argv('pg_dump', '-Fc', f'-Z{compress}', f'--snapshot={snapshot}', database=database), target, sink
        )
    return sink.digest.hexdigest()


def app_file_digests(app_files_dir: str | None) -> dict[str, str]:
    """sha256 of every file under app_files_dir, by its path relative to it."""
    if not app_files_dir:
        return {}
    digests = {}
    for root, _dirs, files in os.walk(app_files_dir):
        for name in files:
            path = os.path.join(root, name)
            digests[os.path.relpath(path, app_files_dir)] = sha256_of(path)
    return dict(sorted(digests.items()))


def _dump_o4o_archive(
    target: Target,
    database: str,
    snapshot: str,
    path: str,
    *,
    compress: int,
    moment: datetime.datetime,
    app_files_dir: str | None = None,
) -> None:
    """db/o4o_db_<stamp>.sql.gz inside a tar.gz, as the O4O runbook's backups are laid
    out, and the app's files (those not in git: secrets, uploads) under app/."""
    member = f"db/o4o_db_{moment.strftime('%Y%m%d_%H%M%S')}.sql.gz"
    with tempfile.TemporaryDirectory(prefix=WORK_DIR_PREFIX, dir=os.path.dirname(path)) as work:
        sql_gz = os.path.join(work, 'dump.sql.gz')
        with gzip.open(sql_gz, 'wb', compresslevel=compress or 6) as handle:
            _stream(target.argv('pg_dump', '-Fp', f'--snapshot={snapshot}', database=database), target, handle)
        # The member is gzipped already: the outer gzip only stores it (level 0), as
        # deflating compressed data again costs time and saves nothing.
        with tarfile.open(path, 'w:gz', compresslevel=0) as archive:
            archive.add(sql_gz, arcname=member)
            if app_files_dir:
                archive.add(app_files_dir, arcname='app')


def validate_custom(target: Target, path: str, tables: dict[str, int]) -> dict[str, Any]:
    """`pg_restore -l` reads the whole table of contents; every table must have data."""
    if target.container:
        with open(path, 'rb') as handle:
            listing = target.run(target.argv('pg_restore', '-l', stdin=True), stdin=handle.read()).stdout
    else:
        listing = target.run(target.argv('pg_restore', '-l', path)).stdout
    entries = [line for line in listing.decode(errors='replace').splitlines() if line and not line.startswith(';')]
    data = {' '.join(line.split()[-3:-1]) for line in entries if ' TABLE DATA ' in line}
    missing = [name for name in tables if name.replace('.', ' ', 1) not in data]
    if missing:
        raise BackupError(f"pg_restore -l lists no data for {', '.join(missing)}")
    return {'method': 'pg_restore -l', 'ok': True, 'entries': len(entries)}


def validate_o4o_archive(path: str, tables: dict[str, int], app_files: dict[str, str] | None = None) -> dict[str, Any]:
    """Read the archive and the gzip inside it to the end (CRCs checked), find a COPY
    block for every table and pg_dump's closing line, and every app file it should hold."""
    try:
        with tarfile.open(path, 'r:gz') as archive:
            members = [m for m in archive.getmembers() if re.fullmatch(r'db/o4o_db_\d{8}_\d{6}\.sql\.gz', m.name)]
            if len(members) != 1:
                raise BackupError(f'archive holds {len(members)} db/o4o_db_*.sql.gz members, expected 1')
            extracted = archive.extractfile(members[0])
            if extracted is None:
                raise BackupError(f'{members[0].name} in {path} is not a regular file')
            names = {m.name for m in archive.getmembers() if m.isfile()}
            lost = sorted(f'app/{name}' for name in app_files or {} if f'app/{name}' not in names)
            if lost:
                raise BackupError(f"archive lacks the app files {', '.join(lost)}")
            copies, complete = set(), False
            with gzip.open(io.BufferedReader(extracted), 'rt', encoding='utf-8', errors='replace') as sql:
                for line in sql:
                    if line.startswith('COPY '):
                        copies.add(line.split()[1].replace('"', ''))
                    elif line.startswith('-- PostgreSQL database dump complete'):
                        complete = True
    except (OSError, EOFError, tarfile.TarError) as err:
        raise BackupError(f'archive {path} is damaged: {err}') from err
    missing = [name for name in tables if name not in copies]
    if missing or not complete:
        raise BackupError(f"archive SQL lacks {'COPY for ' + ', '.join(missing) if missing else 'its closing line'}")
    return {
        'method': 'gzip -t + tar listing + COPY blocks',
        'ok': True,
        'entries': len(copies),
        'member': members[0].name,
    }


def _remove_backup(path: str) -> None:
    for suffix in ('', CHECKSUM_SUFFIX, MANIFEST_SUFFIX):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def plan_retention(backups: list[dict[str, Any]], keep: int, max_age_days: float, now: datetime.datetime) -> list[str]:
    """Backups (with manifests, of this database) to delete: beyond the newest `keep`
    usable ones, or older than max_age_days. The newest usable one is always kept."""
    usable = [b for b in backups if b['usable']]
    doomed = []
    for index, backup in enumerate(usable):
        if index == 0:
            continue
        age_days = (backup.get('age_minutes') or 0) / 1440
        if index >= keep or (max_age_days and age_days > max_age_days):
            doomed.append(backup['path'])
    return doomed


def take_backup(
    target: Target,
    database: str,
    backup_dir: str,
    *,
    layout: str,
    prefix: str,
    compress: int,
    mode: int,
    moment: datetime.datetime | None = None,
    app_files_dir: str | None = None,
) -> dict[str, Any]:
    """Dump, validate, write checksum and manifest, rename into place (see the module
    docstring); returns the manifest and path. Raises BackupError, having removed
    every file it wrote."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    final = os.path.join(backup_dir, backup_name(layout, prefix, moment))
    if os.path.exists(final):
        raise BackupError(f'{final} exists already', 'Wait a second and run again, or remove the stray file')
    partial = os.path.join(backup_dir, '.' + os.path.basename(final) + PARTIAL_SUFFIX)
    started = time.monotonic()
    sha256 = None
    written: list[str] = []
    old_umask = os.umask(0o077)
    try:
        with Session(target, database) as session:
            session.execute('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            server_version = session.execute('SHOW server_version')[0][0].split()[0]
            snapshot = session.execute('SELECT pg_export_snapshot()')[0][0]
            tables = table_counts(session.execute(COUNT_ROWS_SQL))
            app_files = app_file_digests(app_files_dir)
            if layout == 'o4o_archive':
                _dump_o4o_archive(
                    target, database, snapshot, partial, compress=compress, moment=moment, app_files_dir=app_files_dir
                )
            else:
                sha256 = _dump_custom(target, database, snapshot, partial, compress)
            session.execute('COMMIT')
        validation = (
            validate_o4o_archive(partial, tables, app_files)
            if layout == 'o4o_archive'
            else validate_custom(target, partial, tables)
        )
        with open(partial, 'rb') as handle:
            os.fsync(handle.fileno())
        os.chmod(partial, mode)
        manifest = build_manifest(
            partial,
            database,
            layout,
            tables=tables,
            validation=validation,
            server_version=server_version,
            duration_s=time.monotonic() - started,
            created_at=moment,
            sha256=sha256,
            app_files=app_files,
            file_name=os.path.basename(final),
        )
        for suffix, text in manifest_texts(manifest).items():
            write_durably(final + suffix, text, mode)
            written.append(final + suffix)
        os.replace(partial, final)  # the last step: the backup appears with its manifest
        _fsync_directory(backup_dir)
    except BaseException as err:
        for path in written:
            if os.path.exists(path):
                os.remove(path)
        if isinstance(err, BackupError):
            err.advice = err.advice or advice_for(err, backup_dir)
            raise
        if isinstance(err, (PostgresError, OSError, EOFError, tarfile.TarError)):
            where = f' (writing to {backup_dir})' if isinstance(err, OSError) else ''
            raise BackupError(f'{err}{where}', advice_for(err, backup_dir)) from err
        raise
    finally:
        os.umask(old_umask)
        if os.path.exists(partial):
            os.remove(partial)
    return manifest | {'path': final}


def _fsync_directory(directory: str) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fresh_backup(backup_dir: str, database: str, max_age_minutes: float) -> dict[str, Any] | None:
    if not max_age_minutes or not os.path.isdir(backup_dir):
        return None
    newest, _skipped = pick_newest(list_backups(backup_dir, database, verify_checksum=False), verify=True)
    return newest if newest and newest['age_minutes'] <= max_age_minutes else None


def predicted_backup(path: str, moment: datetime.datetime) -> dict[str, Any]:
    """The backup a check-mode run would take, as list_backups would report it, so
    that the predicted retention counts it."""
    return {'path': path, 'usable': True, 'age_minutes': 0.0, 'created_at': moment.isoformat(), 'problems': []}


def remove_backups(paths: list[str]) -> None:
    for path in paths:
        _remove_backup(path)
