# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup directories for tests of the manifest checks: real files, real manifests."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from ansible_collections.sre.runbooks.plugins.module_utils._backup import write_manifest

NOW = datetime.datetime.now(datetime.timezone.utc)


def make_backup(
    directory: Path,
    name: str,
    *,
    database: str = 'o4o_platform',
    minutes_ago: float = 5,
    payload: bytes = b'PGDMP fake custom dump body\n' * 50,
    validated: bool = True,
) -> Path:
    path = directory / name
    path.write_bytes(payload)
    created = NOW - datetime.timedelta(minutes=minutes_ago)
    write_manifest(
        str(path),
        database,
        'custom',
        tables={'public.users': 2000},
        server_version='15.18',
        validation={'method': 'pg_restore -l', 'ok': validated, 'entries': 10},
        duration_s=0.5,
        created_at=created,
    )
    stamp = created.timestamp()
    os.utime(path, (stamp, stamp))
    return path
