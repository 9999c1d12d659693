# SPDX-License-Identifier: GPL-3.0-or-later
"""WATCH for the Kubernetes API stand-in: newline-delimited JSON events over a chunked response,
replayed from the requested resourceVersion (or an ADDED burst when it is 0 or absent)."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from .errors import ApiError
from .selectors import field_matcher, label_matcher

MAX_TIMEOUT = 600


def _line(kind: str, obj) -> bytes:
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return f'{{"type":"{kind}","object":{text}}}\n'.encode()


async def watch(request: web.Request, state, target) -> web.StreamResponse:
    query = request.query
    labels, fields = label_matcher(query.get('labelSelector')), field_matcher(query.get('fieldSelector'))

    def wanted(rid: str, obj: dict) -> bool:
        meta = obj.get('metadata', {})
        return (
            rid == target.res.rid
            and (not target.ns or meta.get('namespace') == target.ns)
            and labels(obj)
            and fields(obj)
        )

    since = query.get('resourceVersion', '')
    store = state.store
    if since in ('', '0'):
        backlog = [
            _line('ADDED', obj) for obj in store.list(target.res, target.ns or None) if wanted(target.res.rid, obj)
        ]
    else:
        events = store.events_since(int(since))
        if events is None:
            raise ApiError(410, f'too old resource version: {since}', 'Expired')
        backlog = [_line(kind, text) for _version, kind, rid, text in events if wanted(rid, json.loads(text))]
    queue: asyncio.Queue = asyncio.Queue()
    store.subscribers.add(queue)
    deadline = time.monotonic() + min(int(query.get('timeoutSeconds', MAX_TIMEOUT)), MAX_TIMEOUT)
    response = web.StreamResponse(headers={'Content-Type': 'application/json'})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        for line in backlog:
            await response.write(line)
        await _follow(response, queue, wanted, deadline)
    except ConnectionResetError:
        pass
    finally:
        store.subscribers.discard(queue)
    return response


async def _follow(response, queue: asyncio.Queue, wanted, deadline: float):
    while (left := deadline - time.monotonic()) > 0:
        try:
            _version, kind, rid, text = await asyncio.wait_for(queue.get(), timeout=left)
        except asyncio.TimeoutError:
            return
        if wanted(rid, json.loads(text)):
            await response.write(_line(kind, text))
