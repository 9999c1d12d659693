# SPDX-License-Identifier: GPL-3.0-or-later
"""The object store of the Kubernetes API stand-in: objects by type, namespace and name, one global
resourceVersion counter, and an event history that watches replay and follow."""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import json
import secrets
import uuid

from .errors import already_exists, not_found
from .resources import Resource, by_rid

HISTORY = 20000
SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def random_suffix(length: int = 5) -> str:
    return ''.join(secrets.choice(SAFE_ALPHABET) for _index in range(length))


def prune(value):
    """The value without nulls, as the stand-in stores objects (the API drops unset optional fields)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value if v is not None]
    return value


def canonical(value):
    """The value without nulls, empty maps or empty lists: what templates are compared and hashed by."""
    if isinstance(value, dict):
        pairs = ((k, canonical(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, {}, [])}
    if isinstance(value, list):
        return [canonical(v) for v in value if canonical(v) not in (None, {}, [])]
    return value


def owner_uid(obj: dict) -> str | None:
    for ref in obj.get('metadata', {}).get('ownerReferences', []):
        if ref.get('controller'):
            return ref.get('uid')
    return None


def owner_ref(res: Resource, owner: dict) -> dict:
    meta = owner['metadata']
    return {
        'apiVersion': res.api_version,
        'kind': res.kind,
        'name': meta['name'],
        'uid': meta['uid'],
        'controller': True,
        'blockOwnerDeletion': True,
    }


class Store:
    """Objects keyed by (rid, namespace, name); every change gets the next resourceVersion."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.rv = 0
        self.history: collections.deque = collections.deque(maxlen=HISTORY)
        self.subscribers: set[asyncio.Queue] = set()

    def clear(self):
        for key, obj in list(self.objects.items()):
            self._emit('DELETED', key[0], obj)
        self.objects.clear()

    def get(self, res: Resource, ns: str, name: str) -> dict:
        obj = self.objects.get((res.rid, ns if res.namespaced else '', name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def find(self, res: Resource, ns: str, name: str) -> dict | None:
        return self.objects.get((res.rid, ns if res.namespaced else '', name))

    def list(self, res: Resource, ns: str | None = None) -> list[dict]:
        return [obj for (rid, ons, _name), obj in sorted(self.objects.items()) if rid == res.rid and ns in (None, ons)]

    def owned(self, res: Resource, uid: str) -> list[dict]:
        return [obj for obj in self.list(res) if owner_uid(obj) == uid]

    def prepare_create(self, res: Resource, obj: dict, ns: str) -> dict:
        """The object as it would be created (name, uid, timestamps), without storing it."""
        obj = prune(copy.deepcopy(obj))
        meta = obj.setdefault('metadata', {})
        if not meta.get('name') and meta.get('generateName'):
            meta['name'] = meta['generateName'] + random_suffix()
        if res.namespaced:
            meta['namespace'] = ns or meta.get('namespace') or 'default'
        else:
            meta.pop('namespace', None)
        if self.find(res, meta.get('namespace', ''), meta['name']) is not None:
            raise already_exists(res, meta['name'])
        obj['apiVersion'], obj['kind'] = res.api_version, res.kind
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), resourceVersion=str(self.rv + 1))
        if 'spec' in obj:
            meta['generation'] = 1
        return obj

    def create(self, res: Resource, obj: dict, ns: str = '') -> dict:
        obj = self.prepare_create(res, obj, ns)
        return self.put(res, obj)

    def put(self, res: Resource, obj: dict) -> dict:
        """Store obj as is, with the next resourceVersion, unless it equals what is stored."""
        meta = obj['metadata']
        key = (res.rid, meta.get('namespace', '') if res.namespaced else '', meta['name'])
        old = self.objects.get(key)
        if old is not None and _same(old, obj):
            return old
        self.rv += 1
        meta['resourceVersion'] = str(self.rv)
        self.objects[key] = obj
        self._emit('ADDED' if old is None else 'MODIFIED', res.rid, obj)
        return obj

    def delete(self, res: Resource, ns: str, name: str) -> dict:
        obj = self.get(res, ns, name)
        del self.objects[(res.rid, ns if res.namespaced else '', name)]
        self.rv += 1
        gone = copy.deepcopy(obj)
        gone['metadata']['resourceVersion'] = str(self.rv)
        self._emit('DELETED', res.rid, gone)
        self.collect_garbage(obj['metadata']['uid'])
        return gone

    def collect_garbage(self, uid: str):
        """Delete the dependents of a deleted owner (by controller ownerReference), recursively."""
        for (rid, ns, name), obj in list(self.objects.items()):
            if owner_uid(obj) == uid and (rid, ns, name) in self.objects:
                self.delete(by_rid(rid), ns, name)

    def _emit(self, kind: str, rid: str, obj: dict):
        event = (self.rv, kind, rid, json.dumps(obj))
        self.history.append(event)
        for queue in self.subscribers:
            queue.put_nowait(event)

    def events_since(self, rv: int) -> list | None:
        """History after rv, or None when rv is older than the history kept (410 Expired)."""
        if self.history and rv < self.history[0][0] - 1 and len(self.history) == HISTORY:
            return None
        return [event for event in self.history if event[0] > rv]


def _same(old: dict, new: dict) -> bool:
    strip = ('resourceVersion',)
    a = {**old, 'metadata': {k: v for k, v in old['metadata'].items() if k not in strip}}
    b = {**new, 'metadata': {k: v for k, v in new['metadata'].items() if k not in strip}}
    return a == b
