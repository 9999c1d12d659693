# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup manifests: the JSON file written beside every backup by pg_backup, and
their verification (present, readable, for this database, checksum, validation).

A backup ``<dir>/<name>`` has ``<name>.sha256`` (sha256sum format) and
``<name>.manifest.json``::

    {"format_version": 1, "database": "o4o_platform", "file": "<name>",
     "format": "custom" | "o4o_archive", "sha256": "...", "size": 123,
     "created_at": "2026-11-22T03:30:00+00:00", "duration_s": 1.2,
     "server_version": "15.18", "tables": {"public.users": 2000},
     "validation": {"method": "pg_restore -l", "ok": true, "entries": 42},
     "app_files": {".db-password": "<sha256>"}}   # o4o_archive with app files only

pg_backup writes every file under a hidden temporary name first (``.<name>.partial``,
``.<name>.manifest.json.partial``, ...) and renames the checksum and manifest into
place before the backup itself, so no backup ever stands under its final name without
its manifest. What a dead run leaves behind are orphans (find_orphans).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import shutil
from typing import Any

MANIFEST_SUFFIX = '.manifest.json'
CHECKSUM_SUFFIX = '.sha256'
PARTIAL_SUFFIX = '.partial'
WORK_DIR_PREFIX = '.sre-backup-'
BACKUP_SUFFIXES = ('.dump', '.tar.gz', '.sql.gz', '.sql')
FORMAT_VERSION = 1


def sha256_of(path: str, chunk: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def parse_time(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def inspect_backup(
    manifest_path: str, database: str | None, verify_checksum: bool = True, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """Everything known about one backup; ``usable`` is true only if every check passed."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    directory = os.path.dirname(manifest_path)
    info: dict[str, Any] = {
        'manifest': manifest_path,
        'path': manifest_path[: -len(MANIFEST_SUFFIX)],
        'usable': False,
        'problems': [],
    }
    try:
        with open(manifest_path, encoding='utf-8') as handle:
            manifest = json.load(handle)
        if not isinstance(manifest, dict):
            raise ValueError('not a JSON object')
    except (OSError, ValueError) as err:
        info['problems'].append(f'manifest unreadable: {err}')
        return info
    info.update(
        database=manifest.get('database'),
        format=manifest.get('format'),
        sha256=manifest.get('sha256'),
        created_at=manifest.get('created_at'),
        size=manifest.get('size'),
        tables=manifest.get('tables') or {},
        server_version=manifest.get('server_version'),
        app_files=manifest.get('app_files') or {},
    )
    info['path'] = os.path.join(directory, os.path.basename(str(manifest.get('file') or '')))
    problems = info['problems']
    problems += _manifest_problems(manifest, database, now, info)
    problems += _file_problems(info['path'], manifest, verify_checksum, info)
    info['usable'] = not problems
    return info


def _manifest_problems(
    manifest: dict[str, Any], database: str | None, now: datetime.datetime, info: dict[str, Any]
) -> list[str]:
    """What the manifest says is wrong: format, database, creation time (its age goes to
    info['age_minutes']), no validation when the backup was taken."""
    problems = []
    if manifest.get('format_version') != FORMAT_VERSION:
        problems.append(f"manifest format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    if database is not None and manifest.get('database') != database:
        problems.append(f"backup of database {manifest.get('database')!r}, not {database!r}")
    try:
        info['age_minutes'] = (now - parse_time(str(manifest['created_at']))).total_seconds() / 60
    except (KeyError, ValueError) as err:
        problems.append(f'created_at missing or invalid: {err}')
    if not (manifest.get('validation') or {}).get('ok'):
        problems.append('the backup was not validated when it was taken')
    return problems


def _file_problems(path: str, manifest: dict[str, Any], verify_checksum: bool, info: dict[str, Any]) -> list[str]:
    """The backup file against its manifest: there, of the size, of the checksum (the
    outcome goes to info['checksum_ok'])."""
    if not os.path.isfile(path):
        return [f'backup file {path} is missing']
    if os.path.getsize(path) != manifest.get('size'):
        return [f"size {os.path.getsize(path)} bytes, manifest says {manifest.get('size')} (truncated or replaced)"]
    if not verify_checksum:
        return []
    actual = sha256_of(path)
    info['checksum_ok'] = actual == manifest.get('sha256')
    if info['checksum_ok']:
        return []
    return [f"sha256 {actual[:12]}... does not match the manifest's {str(manifest.get('sha256'))[:12]}..."]


def list_backups(directory: str, database: str | None, verify_checksum: bool = True) -> list[dict[str, Any]]:
    """Backups in a directory, newest first, with backups that have no manifest
    reported as unusable (so a newer unverifiable file is never silently picked)."""
    names = sorted(os.listdir(directory))
    manifests = {name[: -len(MANIFEST_SUFFIX)] for name in names if name.endswith(MANIFEST_SUFFIX)}
    found = [
        inspect_backup(os.path.join(directory, name + MANIFEST_SUFFIX), database, verify_checksum) for name in manifests
    ]
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith(BACKUP_SUFFIXES) and name not in manifests and os.path.isfile(path):
            mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
            found.append(
                {
                    'path': path,
                    'manifest': None,
                    'usable': False,
                    'created_at': mtime.isoformat(),
                    'problems': ['manifest missing: not taken by pg_backup, or its manifest was lost'],
                }
            )
    return sorted(found, key=lambda item: str(item.get('created_at') or ''), reverse=True)


def pick_newest(backups: list[dict[str, Any]], verify: bool = False) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest usable backup of a newest-first list, and 'path: problems' for each
    unusable one before it (all of them when none is usable). With ``verify``, backups
    listed without their checksum get it read, newest first, until one passes: a run
    reads the file it restores from, not every backup of the directory."""
    skipped = []
    for backup in backups:
        if verify and backup['usable'] and 'checksum_ok' not in backup:
            backup.update(inspect_backup(backup['manifest'], backup.get('database'), verify_checksum=True))
        if backup['usable']:
            return backup, skipped
        skipped.append(f"{backup['path']}: {'; '.join(backup['problems'])}")
    return None, skipped


def age_problem(
    backup: dict[str, Any],
    max_age_minutes: float,
    *,
    taken_before: str | None = None,
    variable: str = 'max_age_minutes',
    now: datetime.datetime | None = None,
) -> str | None:
    """Why a backup is too old to restore, or None. Without a compromise its age counts
    from now; with one (``taken_before``) it counts from the compromise, since every
    backup after it holds compromised data: the advice then never is a fresh backup."""
    if not max_age_minutes:
        return None
    taken = parse_time(str(backup.get('created_at')))
    if taken_before:
        compromise = parse_time(taken_before)
        age = (compromise - taken).total_seconds() / 60
        if age <= max_age_minutes:
            return None
        return (
            f"backup {backup['path']} was taken {age:.0f} minutes before the compromise at "
            f"{compromise.isoformat()}, over the limit of {max_age_minutes:.0f} minutes ({variable}). "
            f'Restore it only after checking that it is clean and that losing every change since it is '
            f'acceptable: raise {variable} explicitly to at least {math.ceil(age)}; or choose another '
            'clean backup taken before the compromise (an older clean backup, e.g. from the off-host store). '
            'A backup taken now would hold the compromised data'
        )
    age = ((now or datetime.datetime.now(datetime.timezone.utc)) - taken).total_seconds() / 60
    if age <= max_age_minutes:
        return None
    return (
        f"backup {backup['path']} is {age:.0f} minutes old, over the limit of {max_age_minutes:.0f} minutes "
        f'({variable}). Choose a newer verified backup, or, after checking that this one is the right one, '
        f'raise {variable} explicitly to at least {math.ceil(age)} (every change since it is lost). '
        'If the data may be compromised, give the compromise time instead of backing it up'
    )


def pick_clean(
    backups: list[dict[str, Any]], taken_before: str, max_age_minutes: float = 0, verify: bool = False
) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest usable backup of a newest-first list taken strictly before a moment
    (when a compromise began) and, with ``max_age_minutes``, at most that long before
    it; and why each newer one was passed over."""
    limit = parse_time(taken_before)
    skipped, older = [], []
    for backup in backups:
        try:
            taken = parse_time(str(backup.get('created_at')))
        except ValueError:
            skipped.append(f"{backup['path']}: its time is unknown ({backup.get('created_at')!r})")
            continue
        if taken >= limit:
            skipped.append(f"{backup['path']}: taken {taken.isoformat()}, not before {limit.isoformat()}")
        else:
            backup['minutes_before_compromise'] = round((limit - taken).total_seconds() / 60, 1)
            older.append(backup)
    newest, unusable = pick_newest(older, verify=verify)
    if newest is not None:
        too_old = age_problem(newest, max_age_minutes, taken_before=taken_before)
        if too_old:
            return None, [*skipped, *unusable, f"{newest['path']}: {too_old}"]
    return newest, skipped + unusable


def find_orphans(directory: str) -> list[dict[str, Any]]:
    """Files of backups that are not whole: partial files and work directories of a
    run that died (``removable``), manifests whose backup file is missing
    (``removable``), and backup files without a manifest (reported only: a person may
    have put them there). Each: path, problem, mtime (epoch seconds), removable."""
    orphans = []
    names = sorted(os.listdir(directory))
    present = set(names)
    for name in names:
        path = os.path.join(directory, name)
        mtime = os.lstat(path).st_mtime
        if name.startswith('.') and (name.endswith(PARTIAL_SUFFIX) or name.startswith(WORK_DIR_PREFIX)):
            problem, removable = 'partial file of a backup run that did not finish', True
        elif name.endswith((MANIFEST_SUFFIX, CHECKSUM_SUFFIX)):
            base = name[: -len(MANIFEST_SUFFIX if name.endswith(MANIFEST_SUFFIX) else CHECKSUM_SUFFIX)]
            if base in present:
                continue
            problem, removable = f'the backup file is missing ({base})', True
        elif name.endswith(BACKUP_SUFFIXES) and name + MANIFEST_SUFFIX not in present and os.path.isfile(path):
            problem, removable = 'backup file with no manifest: not taken by pg_backup, or its manifest was lost', False
        else:
            continue
        orphans.append({'path': path, 'problem': problem, 'mtime': mtime, 'removable': removable})
    return orphans


def remove_orphans(orphans: list[dict[str, Any]], older_than: float) -> list[str]:
    """Remove the removable orphans last modified before ``older_than`` (epoch seconds)."""
    removed = []
    for orphan in orphans:
        if not orphan['removable'] or orphan['mtime'] >= older_than:
            continue
        if os.path.isdir(orphan['path']) and not os.path.islink(orphan['path']):
            shutil.rmtree(orphan['path'])
        else:
            os.remove(orphan['path'])
        removed.append(orphan['path'])
    return removed


def build_manifest(
    path: str,
    database: str,
    backup_format: str,
    *,
    tables: dict[str, int],
    validation: dict[str, Any],
    server_version: str,
    duration_s: float,
    created_at: datetime.datetime | None = None,
    sha256: str | None = None,
    app_files: dict[str, str] | None = None,
    file_name: str | None = None,
) -> dict[str, Any]:
    """The manifest of a finished backup file (``file_name``: the name it will have,
    when ``path`` is still its temporary name)."""
    created = created_at or datetime.datetime.now(datetime.timezone.utc)
    manifest = {
        'format_version': FORMAT_VERSION,
        'database': database,
        'file': file_name or os.path.basename(path),
        'format': backup_format,
        'sha256': sha256 or sha256_of(path),
        'size': os.path.getsize(path),
        'created_at': created.isoformat(timespec='seconds'),
        'duration_s': round(duration_s, 3),
        'server_version': server_version,
        'tables': tables,
        'validation': validation,
    }
    if app_files:
        manifest['app_files'] = app_files
    return manifest


def manifest_texts(manifest: dict[str, Any]) -> dict[str, str]:
    """Contents of the checksum and manifest files, by suffix."""
    return {
        CHECKSUM_SUFFIX: f"{manifest['sha256']}  {manifest['file']}\n",
        MANIFEST_SUFFIX: json.dumps(manifest, indent=2, sort_keys=True) + '\n',
    }


def write_durably(path: str, text: str, mode: int) -> None:
    """Write a file under ``.<name>.partial``, flush it to disk, then rename it into
    place; on any error the partial file is removed and the error raised."""
    partial = os.path.join(os.path.dirname(path), '.' + os.path.basename(path) + PARTIAL_SUFFIX)
    try:
        with open(partial, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def write_manifest(path: str, database: str, backup_format: str, **facts: Any) -> dict[str, Any]:
    """Write ``<path>.sha256`` and ``<path>.manifest.json`` for a finished backup file
    (``sha256``: the file's digest when the caller hashed it while writing it)."""
    manifest = build_manifest(path, database, backup_format, **facts)
    mode = os.stat(path).st_mode & 0o777
    for suffix, text in manifest_texts(manifest).items():
        write_durably(path + suffix, text, mode)
    return manifest
