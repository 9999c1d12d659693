# SPDX-License-Identifier: GPL-3.0-or-later
"""One state-changing run at a time per target: a lock file on the target host.

The file is created with its content at once (a hard link of a written private
file, which fails when the lock exists), so of two runs that race only one gets it
and the other reads who. It holds the holder as JSON: run id (controller, process id and the
process's start time), operator, playbook and start time. The same run taking the
lock again (a playbook importing another) is a no-op; a different run is refused
unless it names that holder as stale (``takeover``), which the controller decides.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

DEFAULT_LOCK_DIR = '/var/lib/sre-runbooks/locks'


class LockHeld(Exception):
    """Another run holds the lock; ``holder`` says who."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__(holder.get('run_id', 'unknown'))
        self.holder = holder


def lock_path(lock_dir: str, name: str) -> str:
    safe = ''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in name)
    return os.path.join(lock_dir, f'{safe}.lock')


def read_holder(path: str) -> dict[str, Any] | None:
    """The holder recorded in path, None when there is no lock, a stub when unreadable."""
    try:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):
        # A lock being written this instant, or damaged: treat as held by someone unknown.
        holder = {'run_id': 'unreadable', 'started_at': os.stat(path).st_mtime}
    holder.setdefault('started_at', os.stat(path).st_mtime)
    return holder


def _create(path: str, holder: dict[str, Any]) -> bool:
    """Create path holding holder, all at once: False when it exists already.

    The holder is written to a private file first and hard-linked into place, so
    another run never sees the lock file without its holder (``O_EXCL`` on the lock
    itself would leave an empty file for an instant, and a refused run could not say
    who holds the lock).
    """
    partial = f'{path}.{os.getpid()}.{time.monotonic_ns()}.new'
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), 'w', encoding='utf-8') as handle:
        json.dump(holder, handle, sort_keys=True)
    try:
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(partial)
    return True


def acquire(path: str, holder: dict[str, Any], takeover: str | None = None) -> tuple[bool, dict[str, Any] | None]:
    """Take the lock for holder; (changed, the stale holder replaced or None).

    Raises LockHeld when another run holds it and ``takeover`` does not name that run.
    """
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    holder = {**holder, 'started_at': holder.get('started_at') or time.time()}
    for _attempt in range(3):
        if _create(path, holder):
            return True, None
        current = read_holder(path)
        if current is None:
            continue  # released between our two looks: try again
        if current.get('run_id') == holder['run_id']:
            return False, None
        if takeover and current.get('run_id') == takeover:
            # Replace atomically so no third run sees the lock missing.
            partial = f'{path}.{os.getpid()}.new'
            with open(partial, 'w', encoding='utf-8') as handle:
                json.dump(holder, handle, sort_keys=True)
            os.replace(partial, path)
            return True, current
        raise LockHeld(current)
    raise LockHeld(read_holder(path) or {'run_id': 'unknown'})


def check_mode_answer(state: str, current: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """What the real run would do with the lock, whatever keeps it (a file, a ConfigMap)."""
    mine = current is None or current.get('run_id') == run_id
    changed = current is None if state == 'present' else bool(current and mine)
    return {'changed': changed, 'holder': current, 'held_by_other': not mine}


def release(path: str, run_id: str) -> tuple[bool, dict[str, Any] | None]:
    """Remove the lock if run_id holds it; (changed, the holder seen)."""
    current = read_holder(path)
    if current is None or current.get('run_id') != run_id:
        return False, current
    os.unlink(path)
    return True, current
