# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers the stand-in's controllers share: typed handles, creating objects as the API would,
pod readiness, conditions and core/v1 Events."""

from __future__ import annotations

import copy
import hashlib

from .defaults import apply_defaults
from .resources import by_rid
from .store import now

DEPLOY, RS, STS = by_rid('deployments.apps'), by_rid('replicasets.apps'), by_rid('statefulsets.apps')
PODS, EVENTS, JOBS = by_rid('pods'), by_rid('events'), by_rid('jobs.batch')


def make(state, res, obj: dict, ns: str) -> dict:
    """Create obj as a controller would through the API (defaults applied)."""
    return state.store.put(res, apply_defaults(state.store.prepare_create(res, obj, ns)))


def save(state, res, obj: dict) -> dict:
    return state.store.put(res, obj)


def is_ready(pod: dict) -> bool:
    conditions = pod.get('status', {}).get('conditions', [])
    return any(c['type'] == 'Ready' and c['status'] == 'True' for c in conditions)


def pod_from_template(template: dict, name: str, owner: dict) -> dict:
    meta = copy.deepcopy(template.get('metadata') or {})
    return {
        'apiVersion': 'v1',
        'kind': 'Pod',
        'metadata': {
            'name': name,
            'labels': meta.get('labels', {}),
            'annotations': meta.get('annotations', {}),
            'ownerReferences': [owner],
        },
        'spec': copy.deepcopy(template.get('spec') or {}),
    }


def set_condition(
    conditions: list[dict],
    kind: str,
    status: str,
    reason: str,
    message: str,
    *,
    touch: bool = False,
    stamp_key: str = 'lastUpdateTime',
) -> list[dict]:
    """conditions with kind set; times move only when something changed (or touch, for progress)."""
    stamp = now()
    old = next((c for c in conditions if c['type'] == kind), None)
    new = {'type': kind, 'status': status, 'reason': reason, 'message': message}
    if old is not None and {k: old.get(k) for k in new} == new and not touch:
        return conditions
    new[stamp_key] = stamp
    new['lastTransitionTime'] = old['lastTransitionTime'] if old and old['status'] == status else stamp
    return [c for c in conditions if c['type'] != kind] + [new]


def emit_event(state, involved: dict, reason: str, message: str, kind: str = 'Normal'):
    """Create or bump a core/v1 Event about involved."""
    meta = involved['metadata']
    ns = meta.get('namespace', 'default')
    digest = hashlib.sha256(f'{meta["uid"]}/{reason}'.encode()).hexdigest()[:16]
    name = f'{meta["name"]}.{digest}'
    stamp = now()
    old = state.store.find(EVENTS, ns, name)
    if old is not None:
        event = copy.deepcopy(old)
        event.update(count=event.get('count', 1) + 1, lastTimestamp=stamp, message=message)
        save(state, EVENTS, event)
        return
    make(
        state,
        EVENTS,
        {
            'metadata': {'name': name},
            'involvedObject': {
                'apiVersion': involved['apiVersion'],
                'kind': involved['kind'],
                'name': meta['name'],
                'namespace': ns,
                'uid': meta['uid'],
                'resourceVersion': meta.get('resourceVersion'),
            },
            'reason': reason,
            'message': message,
            'type': kind,
            'count': 1,
            'firstTimestamp': stamp,
            'lastTimestamp': stamp,
            'source': {'component': 'standin'},
            'reportingComponent': 'standin',
        },
        ns,
    )
