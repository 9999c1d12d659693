# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the Loki API stand-in (API-contract tests, not Loki):

    python -m tests.standin.loki_standin --host 127.0.0.1 --port 0 --ready-file PATH

Loki's API: ``GET /ready``; ``GET|POST /loki/api/v1/query_range`` (query, limit, start, end, since,
direction). Control: ``PUT /_standin/streams`` (a list of ``{stream: {labels}, lines: [{age: s, line}]}``
or ``{stream, values: [[ns, line]]}``), ``GET /_standin/requests[?clear=1]``, ``POST /_standin/reset``.
It writes the ready file (JSON {url, port, pid}) once it listens and stops on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from .logql import LogQLError, parse

DURATION = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)')
UNITS = {'ms': 1e-3, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, 'y': 31536000}
NS = 1_000_000_000


def duration(text: str) -> float:
    """Seconds of a Prometheus/Go duration (1h, 5m, 1h30m, 90s)."""
    parts = DURATION.findall(text)
    if not parts or ''.join(number + unit for number, unit in parts) != text:
        raise ValueError(f'invalid duration {text!r}')
    return sum(float(number) * UNITS[unit] for number, unit in parts)


def timestamp(text: str) -> int:
    """Nanoseconds of a Loki time parameter: ns (or s) since the epoch, float seconds, or RFC3339."""
    if re.fullmatch(r'\d+', text):
        return int(text) * (NS if len(text) <= 10 else 1)
    if re.fullmatch(r'\d+\.\d*', text):
        return int(float(text) * NS)
    return int(datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp() * NS)


class State:
    def __init__(self) -> None:
        self.streams: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def set_streams(self, streams: list[dict[str, Any]]) -> None:
        now = time.time_ns()
        kept = []
        for stream in streams:
            values = [(int(ns), str(line)) for ns, line in stream.get('values') or []]
            values += [
                (now - int(float(each.get('age', 0)) * NS), str(each['line'])) for each in stream.get('lines') or []
            ]
            kept.append({'stream': {str(k): str(v) for k, v in (stream.get('stream') or {}).items()}, 'values': values})
        self.streams = kept

    def select(self, params: dict[str, str]) -> list[dict[str, Any]]:
        query = parse(params.get('query', ''))
        limit = int(params.get('limit', '100'))
        end = timestamp(params['end']) if params.get('end') else time.time_ns()
        if params.get('start'):
            start = timestamp(params['start'])
        else:
            start = end - int(duration(params.get('since', '1h')) * NS)
        backward = params.get('direction', 'backward') == 'backward'
        matched = []
        for stream in self.streams:
            if not query.selects(stream['stream']):
                continue
            for ns, line in stream['values']:
                labels = query.run(line, stream['stream']) if start <= ns < end else None
                if labels is not None:
                    matched.append((ns, line, labels))
        matched.sort(key=lambda entry: entry[0], reverse=backward)
        grouped: dict[str, dict[str, Any]] = {}
        for ns, line, labels in matched[:limit]:
            key = json.dumps(labels, sort_keys=True)
            grouped.setdefault(key, {'stream': labels, 'values': []})['values'].append([str(ns), line])
        return list(grouped.values())


def make_app(state: State) -> web.Application:
    async def ready(request: web.Request) -> web.Response:
        state.requests.append({'method': request.method, 'path': request.path, 'query': dict(request.query)})
        return web.Response(text='ready\n')

    async def query_range(request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == 'POST':
            params.update(dict(await request.post()))
        state.requests.append({'method': request.method, 'path': request.path, 'query': params})
        try:
            result = state.select(params)
        except (LogQLError, ValueError, KeyError) as err:
            return web.Response(status=400, text=f'{err}\n')
        entries = sum(len(stream['values']) for stream in result)
        data = {'resultType': 'streams', 'result': result, 'stats': {'summary': {'totalEntriesReturned': entries}}}
        return web.json_response({'status': 'success', 'data': data})

    async def control_streams(request: web.Request) -> web.Response:
        state.set_streams(await request.json())
        return web.json_response({'streams': len(state.streams)})

    async def control_requests(request: web.Request) -> web.Response:
        seen = list(state.requests)
        if request.query.get('clear'):
            state.requests.clear()
        return web.json_response(seen)

    async def control_reset(_request: web.Request) -> web.Response:
        state.streams, state.requests = [], []
        return web.json_response({})

    app = web.Application()
    app.router.add_get('/ready', ready)
    app.router.add_route('GET', '/loki/api/v1/query_range', query_range)
    app.router.add_route('POST', '/loki/api/v1/query_range', query_range)
    app.router.add_put('/_standin/streams', control_streams)
    app.router.add_get('/_standin/requests', control_requests)
    app.router.add_post('/_standin/reset', control_reset)
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(State()), access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    if args.ready_file:
        partial = Path(args.ready_file + '.partial')
        partial.write_text(json.dumps({'url': f'http://{args.host}:{port}', 'port': port, 'pid': os.getpid()}))
        partial.replace(args.ready_file)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description='Loki API stand-in (API-contract tests)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--ready-file')
    asyncio.run(serve(parser.parse_args()))


if __name__ == '__main__':
    main()
