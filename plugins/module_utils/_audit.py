# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side audit log: one JSON line per guard decision that needs a record
(policy overrides, production confirmations)."""

from __future__ import annotations

import datetime
import getpass
import json
import os
from typing import Any

DEFAULT_AUDIT_LOG = '~/.ansible/sre_runbooks_audit.log'


def write_audit(path: str | None, event: str, **fields: Any) -> str:
    """Append one record to the audit log and return the file's path."""
    target = os.path.expanduser(path or DEFAULT_AUDIT_LOG)
    os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
    record = {
        'time': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'operator': getpass.getuser(),
        'event': event,
        **fields,
    }
    with open(target, 'a', encoding='utf-8') as handle:
        handle.write(json.dumps(record, sort_keys=True) + '\n')
    return target
