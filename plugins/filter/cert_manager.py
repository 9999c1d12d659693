# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the cert-manager role (runbook P13): a Certificate as ``kubectl describe
certificate`` and ``cmctl status certificate`` show it, read from the object that
kubernetes.core.k8s_info returns, and where its issuance stands after a renewal was
triggered."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

STAMP = '%Y-%m-%dT%H:%M:%SZ'


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in status.get('conditions') or [] if c.get('type') == kind), {})


def _days_left(not_after: str | None, now: datetime.datetime) -> int | None:
    if not not_after:
        return None
    try:
        expires = datetime.datetime.strptime(not_after, STAMP).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return (expires - now).days


def _state(ready: Mapping[str, Any], issuing: Mapping[str, Any], revision: int, since: int | None) -> str:
    """issued | failed | issuing | idle: since is the revision a renewal was triggered at (None: no renewal)."""
    if issuing.get('status') == 'False' and issuing.get('reason') == 'Failed':
        return 'failed'
    if ready.get('status') == 'False' and ready.get('reason') not in (None, 'Issuing', 'InProgress', 'Pending'):
        return 'failed'
    if since is None:
        return 'issuing' if issuing.get('status') == 'True' else 'idle'
    if revision > since and ready.get('status') == 'True' and issuing.get('status') != 'True':
        return 'issued'
    return 'issuing'


def cert_status(cert: Mapping[str, Any], since_revision: int | None = None) -> dict[str, Any]:
    """The Certificate's status in one flat dict (see cert_status.yml)."""
    if not isinstance(cert, Mapping) or cert.get('kind') != 'Certificate':
        raise AnsibleFilterError('cert_status: expects a cert-manager.io Certificate (a k8s_info resource)')
    meta, spec, status = cert.get('metadata') or {}, cert.get('spec') or {}, cert.get('status') or {}
    ready, issuing = _condition(status, 'Ready'), _condition(status, 'Issuing')
    issuer = spec.get('issuerRef') or {}
    revision = int(status.get('revision') or 0)
    since = None if since_revision in (None, '') else int(since_revision)
    failure = issuing if issuing.get('status') == 'False' else ready
    return {
        'name': meta.get('name'),
        'namespace': meta.get('namespace'),
        'secret': spec.get('secretName'),
        'issuer': f'{issuer.get("kind", "Issuer")}/{issuer.get("name", "?")}',
        'dns_names': list(spec.get('dnsNames') or []),
        'ready': ready.get('status', 'Unknown'),
        'ready_reason': ready.get('reason', ''),
        'ready_message': ready.get('message', ''),
        'issuing': issuing.get('status') == 'True',
        'not_before': status.get('notBefore'),
        'not_after': status.get('notAfter'),
        'renewal_time': status.get('renewalTime'),
        'revision': revision,
        'days_left': _days_left(status.get('notAfter'), datetime.datetime.now(datetime.timezone.utc)),
        'last_failure_time': status.get('lastFailureTime'),
        'state': _state(ready, issuing, revision, since),
        'failure': failure.get('message', '') if failure.get('status') == 'False' else '',
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {'cert_status': cert_status}
