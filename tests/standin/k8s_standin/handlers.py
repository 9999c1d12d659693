# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST verbs of the Kubernetes API stand-in: get, list, create, update, patch, delete (all writes
honour dryRun=All: the answer is computed, nothing is stored and no controller sees it)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from aiohttp import web

from . import resources
from .defaults import WITH_STATUS_FROM_CONTROLLERS, apply_defaults
from .errors import ApiError, conflict
from .patch import apply_patch
from .selectors import field_matcher, label_matcher, selector_matcher
from .store import prune

IMMUTABLE_META = (
    'uid',
    'creationTimestamp',
    'name',
    'namespace',
    'generation',
    'resourceVersion',
    'deletionTimestamp',
    'generateName',
)


@dataclass
class Target:
    res: resources.Resource
    ns: str
    name: str
    sub: str


def parse_path(path: str) -> Target:
    parts = [p for p in path.split('/') if p]
    if parts[:2] == ['api', 'v1']:
        group, version, rest = '', 'v1', parts[2:]
    elif parts[0] == 'apis' and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError(404, 'the server could not find the requested resource')
    ns = ''
    if len(rest) >= 3 and rest[0] == 'namespaces':
        ns, rest = rest[1], rest[2:]
    res = resources.find(group, version, rest[0]) if rest else None
    if res is None or len(rest) > 3:
        raise ApiError(404, 'the server could not find the requested resource')
    return Target(res, ns, rest[1] if len(rest) > 1 else '', rest[2] if len(rest) > 2 else '')


def json_response(body, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type='application/json')


def is_dry_run(request: web.Request) -> bool:
    values = request.query.getall('dryRun', [])
    unknown = [v for v in values if v != 'All']
    if unknown:
        raise ApiError(400, f'Invalid dry run value: {unknown[0]!r}')
    return bool(values)


async def read_json(request: web.Request):
    try:
        return json.loads(await request.read() or b'null')
    except ValueError as exc:
        raise ApiError(400, f'the body of the request could not be decoded as JSON: {exc}') from None


def list_objects(state, target: Target, query) -> dict:
    labels, fields = label_matcher(query.get('labelSelector')), field_matcher(query.get('fieldSelector'))
    items = [obj for obj in state.store.list(target.res, target.ns or None) if labels(obj) and fields(obj)]
    return {
        'apiVersion': target.res.api_version,
        'kind': f'{target.res.kind}List',
        'metadata': {'resourceVersion': str(state.store.rv)},
        'items': items,
    }


def do_create(state, target: Target, body: dict, dry_run: bool) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, 'the body of the request must be an object')
    body_ns = body.get('metadata', {}).get('namespace')
    if target.res.namespaced and body_ns and body_ns != target.ns:
        raise ApiError(400, 'the namespace of the provided object does not match the namespace sent on the request')
    if not body.get('metadata', {}).get('name') and not body.get('metadata', {}).get('generateName'):
        raise ApiError(
            422,
            f'{target.res.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
            'Invalid',
        )
    obj = state.store.prepare_create(target.res, body, target.ns)
    if obj['kind'] in WITH_STATUS_FROM_CONTROLLERS:
        obj.pop('status', None)
    apply_defaults(obj)
    if dry_run:
        return obj
    return state.store.put(target.res, obj)


def updated_object(old: dict, new: dict, sub: str) -> dict:
    """new as the apiserver would store it over old: identity kept, status only through /status."""
    if not isinstance(new, dict):
        raise ApiError(400, 'the body of the request must be an object')
    if sub == 'status':
        result = copy.deepcopy(old)
        result['status'] = prune(new.get('status') or {})
        return result
    new = prune(copy.deepcopy(new))
    new['apiVersion'], new['kind'] = old['apiVersion'], old['kind']
    meta = new.setdefault('metadata', {})
    for key in IMMUTABLE_META:
        if key in old['metadata']:
            meta[key] = old['metadata'][key]
        else:
            meta.pop(key, None)
    new.pop('status', None)
    if 'status' in old:
        new['status'] = copy.deepcopy(old['status'])
    apply_defaults(new)
    if new.get('spec') != old.get('spec') and 'generation' in old['metadata']:
        meta['generation'] = old['metadata']['generation'] + 1
    return new


def commit(state, target: Target, old: dict, new: dict, dry_run: bool) -> dict:
    if _same_content(old, new):
        return old
    if dry_run:
        return new
    return state.store.put(target.res, new)


def _same_content(old: dict, new: dict) -> bool:
    def strip(obj):
        return {**obj, 'metadata': {k: v for k, v in obj['metadata'].items() if k != 'resourceVersion'}}

    return strip(old) == strip(new)


def scale_of(target: Target, obj: dict) -> dict:
    meta = obj['metadata']
    selector = obj.get('spec', {}).get('selector', {}).get('matchLabels', {})
    return {
        'apiVersion': 'autoscaling/v1',
        'kind': 'Scale',
        'metadata': {k: meta[k] for k in ('name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp')},
        'spec': {'replicas': obj.get('spec', {}).get('replicas', 0)},
        'status': {
            'replicas': obj.get('status', {}).get('replicas', 0),
            'selector': ','.join(f'{k}={v}' for k, v in selector.items()),
        },
    }


def with_scale(old: dict, scale: dict) -> dict:
    new = copy.deepcopy(old)
    new['spec']['replicas'] = int((scale.get('spec') or {}).get('replicas', 0))
    return new


def do_update(state, target: Target, old: dict, body, dry_run: bool) -> dict:
    sent_rv = (body or {}).get('metadata', {}).get('resourceVersion') if isinstance(body, dict) else None
    if sent_rv and sent_rv != old['metadata']['resourceVersion']:
        raise conflict(target.res, target.name)
    if target.sub == 'scale':
        body = with_scale(old, body)
    return commit(state, target, old, updated_object(old, body, target.sub), dry_run)


def do_patch(state, target: Target, old: dict, body, content_type: str, *, dry_run: bool) -> dict:
    media_type = content_type.split(';', maxsplit=1)[0].strip()
    if target.res.custom and media_type == 'application/strategic-merge-patch+json':
        raise ApiError(
            415,
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json-patch+json, application/merge-patch+json (strategic merge patch is not '
            f'supported for custom resources: {target.res.api_version}, Kind={target.res.kind})',
        )
    current = scale_of(target, old) if target.sub == 'scale' else old
    patched = apply_patch(content_type, current, body)
    sent_rv = patched.get('metadata', {}).get('resourceVersion')
    if sent_rv and sent_rv != old['metadata']['resourceVersion']:
        raise conflict(target.res, target.name)
    if target.sub == 'scale':
        patched = with_scale(old, patched)
    return commit(state, target, old, updated_object(old, patched, target.sub), dry_run)


def do_delete(state, target: Target, dry_run: bool) -> dict:
    obj = state.store.get(target.res, target.ns, target.name)
    if dry_run:
        return obj
    return state.store.delete(target.res, target.ns, target.name)


def selector_pods(state, obj: dict) -> list[dict]:
    match = selector_matcher(obj.get('spec', {}).get('selector'))
    ns = obj['metadata'].get('namespace')
    return [pod for pod in state.store.list(resources.by_rid('pods'), ns) if match(pod)]
