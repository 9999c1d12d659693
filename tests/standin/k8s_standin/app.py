# SPDX-License-Identifier: GPL-3.0-or-later
"""The aiohttp application of the Kubernetes API stand-in: request log, errors as v1 Status, the
resource router, and the test-control endpoints under /_standin/."""

from __future__ import annotations

from aiohttp import web

from . import control, discovery, handlers, metrics, podio, watch
from .errors import ApiError
from .resources import METRICS


@web.middleware
async def errors_and_log(request: web.Request, handler):
    state = request.app['state']
    if not request.path.startswith('/_standin/'):
        entry = {
            'method': request.method,
            'path': request.path,
            'query': {
                k: request.query.getall(k) if len(request.query.getall(k)) > 1 else v for k, v in request.query.items()
            },
            'content_type': request.headers.get('Content-Type', ''),
        }
        request['standin_entry'] = entry
        state.record(entry)
    try:
        return await handler(request)
    except ApiError as exc:
        return handlers.json_response(exc.status(), exc.code)
    except web.HTTPNotFound:
        return handlers.json_response(ApiError(404, 'the server could not find the requested resource').status(), 404)


async def _get(request, state, target):
    if target.res.group == METRICS:
        return handlers.json_response(metrics.answer(state, target, request.query))
    if target.sub == 'log':
        return podio.pod_log(state, state.store.get(target.res, target.ns, target.name), request.query)
    if target.sub == 'exec':
        return await podio.pod_exec(request, state, state.store.get(target.res, target.ns, target.name))
    if target.name:
        obj = state.store.get(target.res, target.ns, target.name)
        return handlers.json_response(handlers.scale_of(target, obj) if target.sub == 'scale' else obj)
    if request.query.get('watch') in ('true', '1'):
        return await watch.watch(request, state, target)
    return handlers.json_response(handlers.list_objects(state, target, request.query))


async def _write(request, state, target):
    dry_run = handlers.is_dry_run(request)
    if request.method == 'POST':
        if target.sub == 'exec':
            return await podio.pod_exec(request, state, state.store.get(target.res, target.ns, target.name))
        if target.name:
            raise ApiError(405, 'the server does not allow this method on the requested resource')
        _check_json(request)
        return handlers.json_response(
            handlers.do_create(state, target, await handlers.read_json(request), dry_run), 201
        )
    if request.method == 'DELETE':
        return handlers.json_response(handlers.do_delete(state, target, dry_run))
    old = state.store.get(target.res, target.ns, target.name)
    body = await handlers.read_json(request)
    if request.method == 'PUT':
        _check_json(request)
        result = handlers.do_update(state, target, old, body, dry_run)
    else:
        result = handlers.do_patch(state, target, old, body, request.headers.get('Content-Type', ''), dry_run=dry_run)
    return handlers.json_response(handlers.scale_of(target, result) if target.sub == 'scale' else result)


def _check_json(request):
    content_type = request.headers.get('Content-Type', 'application/json').split(';')[0].strip()
    if content_type not in ('application/json', ''):
        raise ApiError(
            415,
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json (got {content_type})',
        )


async def api(request: web.Request):
    state = request.app['state']
    target = handlers.parse_path(request.path)
    if target.res.group in state.unserved:
        raise ApiError(404, 'the server could not find the requested resource')
    if request.method == 'GET':
        return await _get(request, state, target)
    if request.method in ('POST', 'PUT', 'PATCH', 'DELETE') and target.res.group != METRICS:
        return await _write(request, state, target)
    raise ApiError(405, 'the server does not allow this method on the requested resource')


async def openapi(_request):
    raise ApiError(404, 'the stand-in serves no OpenAPI document')


def make_app(state) -> web.Application:
    app = web.Application(middlewares=[errors_and_log], client_max_size=16 * 1024 * 1024)
    app['state'] = state
    discovery.add_routes(app)
    control.add_routes(app)
    app.router.add_route('*', '/openapi/{tail:.*}', openapi)
    app.router.add_route('*', '/api/v1/{tail:.+}', api)
    app.router.add_route('*', '/apis/{group}/{version}/{tail:.+}', api)
    return app
