# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-control endpoints of the Kubernetes API stand-in, under /_standin/ (a prefix Kubernetes never
uses): reset, seed, image behaviours, exec rules, log lines, the metrics API, API groups
switched off, and the request log."""

from __future__ import annotations

import json

from aiohttp import web

from .errors import ApiError


def _ok(body=None) -> web.Response:
    return web.Response(text=json.dumps(body if body is not None else {'ok': True}), content_type='application/json')


async def _json(request):
    try:
        return json.loads(await request.read() or b'null')
    except ValueError as exc:
        raise ApiError(400, f'bad JSON: {exc}') from None


async def reset(request):
    state = request.app['state']
    state.reset(empty=request.query.get('empty') in ('1', 'true'))
    await request.app['controllers'].settle()
    return _ok()


async def seed(request):
    state = request.app['state']
    created = state.seed((await request.read()).decode())
    await request.app['controllers'].settle()
    return _ok({'created': [f'{o["kind"]}/{o["metadata"]["name"]}' for o in created]})


async def images(request):
    request.app['state'].set_images(await _json(request) or {})
    return _ok({'images': request.app['state'].images})


async def exec_rules(request):
    rules = await _json(request) or []
    if not isinstance(rules, list):
        raise ApiError(400, 'exec rules are a list')
    request.app['state'].exec_rules = rules
    return _ok()


async def logs(request):
    table = await _json(request) or {}
    request.app['state'].log_lines.update({k: list(v) for k, v in table.items()})
    return _ok()


async def metrics(request):
    table = await _json(request)
    if table is not None and not isinstance(table, dict):
        raise ApiError(400, 'the metrics table is an object {"pods": {glob: usage}, "nodes": {glob: usage}} or null')
    request.app['state'].metrics = None if table is None else {'pods': {}, 'nodes': {}, **table}
    return _ok({'metrics': request.app['state'].metrics})


async def groups(request):
    table = await _json(request) or {}
    if not isinstance(table, dict) or not all(isinstance(v, bool) for v in table.values()):
        raise ApiError(400, 'the groups table is an object {"<group>": true|false}')
    state = request.app['state']
    state.unserved = {g for g in state.unserved if table.get(g) is not True} | {g for g, on in table.items() if not on}
    return _ok({'unserved': sorted(state.unserved)})


async def requests(request):
    state = request.app['state']
    body = list(state.requests)
    if request.method == 'DELETE' or request.query.get('clear') in ('1', 'true'):
        state.requests.clear()
    return _ok(body)


def add_routes(app: web.Application):
    app.router.add_post('/_standin/reset', reset)
    app.router.add_post('/_standin/seed', seed)
    app.router.add_put('/_standin/images', images)
    app.router.add_put('/_standin/exec', exec_rules)
    app.router.add_put('/_standin/logs', logs)
    app.router.add_put('/_standin/metrics', metrics)
    app.router.add_put('/_standin/groups', groups)
    app.router.add_get('/_standin/requests', requests)
    app.router.add_delete('/_standin/requests', requests)
