# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side audit log: one JSON line per guard decision that needs a record
(policy overrides, production confirmations, lock takeovers).

The controller's disk may be thrown away after the run (AWX runs each job in a fresh
container), so every record is also returned as a job artifact: `audit_stats` gives
the `ansible_stats` of a task result, which Ansible adds to the run's custom stats as
set_stats does and AWX shows as the job's artifacts. The run_outputs role copies the
log itself into the configured output store."""

from __future__ import annotations

import datetime
import getpass
import json
import os
from typing import Any

DEFAULT_AUDIT_LOG = '~/.ansible/sre_runbooks_audit.log'


def audit_record(event: str, **fields: Any) -> dict[str, Any]:
    """One audit record: when, who, what."""
    return {
        'time': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'operator': getpass.getuser(),
        'event': event,
        **fields,
    }


def append_audit(path: str | None, record: dict[str, Any]) -> str:
    """Append record to the audit log at path (or the default) and return the file's path."""
    target = os.path.expanduser(path or DEFAULT_AUDIT_LOG)
    os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
    with open(target, 'a', encoding='utf-8') as handle:
        handle.write(json.dumps(record, sort_keys=True, default=str) + '\n')
    return target


def write_audit(path: str | None, event: str, **fields: Any) -> str:
    """Append one record to the audit log and return the file's path."""
    return append_audit(path, audit_record(event, **fields))


def audit_stats(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a job artifact (`sre_audit`, keyed so that records add up)."""
    key = f"{record['time']} {record['event']} {record.get('host') or record.get('target') or ''}".rstrip()
    return {'data': {'sre_audit': {key: record}}, 'per_host': False, 'aggregate': True}
