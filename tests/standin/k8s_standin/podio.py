# SPDX-License-Identifier: GPL-3.0-or-later
"""Pod logs and exec for the Kubernetes API stand-in. Exec speaks the WebSocket channel protocol
(v5/v4.channel.k8s.io); commands never run, except allow-listed host binaries named by a rule."""

from __future__ import annotations

import asyncio
import fnmatch
import json

from aiohttp import web

from .errors import ApiError

PROTOCOLS = ('v5.channel.k8s.io', 'v4.channel.k8s.io')
# Host binaries a 'host' exec rule may run (argv rewritten, never through a shell).
HOST_ALLOW = ('/usr/bin/redis-cli',)
HOST_TIMEOUT = 20
DEFAULT_LINES = ['{image} started', 'listening on port {port}']
CRASH_LINES = ['{image} starting', 'Error: failed to start: exit status 1']


def _container(pod: dict, name: str | None) -> dict:
    containers = pod['spec'].get('containers', [])
    if not name:
        return containers[0]
    for container in containers + pod['spec'].get('initContainers', []):
        if container['name'] == name:
            return container
    pod_name = pod['metadata']['name']
    raise ApiError(400, f'container {name} is not valid for pod {pod_name}')


def _status(pod: dict, name: str) -> dict:
    return next((s for s in pod.get('status', {}).get('containerStatuses', []) if s['name'] == name), {})


def _fill(lines: list[str], container: dict) -> list[str]:
    ports = container.get('ports') or [{}]
    port = ports[0].get('containerPort', 8080)
    return [line.format(image=container.get('image', ''), port=port) for line in lines]


def log_lines(state, pod: dict, container: dict, previous: bool) -> list[str]:
    status = _status(pod, container['name'])
    behaviour = state.image_behaviour(container.get('image', ''))
    if previous:
        if not status.get('lastState', {}).get('terminated'):
            raise ApiError(
                400, f'previous terminated container "{container["name"]}" in pod "{pod["metadata"]["name"]}" not found'
            )
        return _fill(behaviour.get('previous_logs', CRASH_LINES), container)
    if not status or ('waiting' in status.get('state', {'waiting': {}}) and not status.get('lastState')):
        reason = status.get('state', {}).get('waiting', {}).get('reason', 'ContainerCreating')
        raise ApiError(
            400, f'container "{container["name"]}" in pod "{pod["metadata"]["name"]}" is waiting to start: {reason}'
        )
    lines = state.logs_for(pod, container['name'])
    if lines is None:
        lines = _fill(behaviour.get('logs', DEFAULT_LINES), container)
    return list(lines)


def pod_log(state, pod: dict, query) -> web.Response:
    container = _container(pod, query.get('container'))
    lines = log_lines(state, pod, container, query.get('previous') == 'true')
    if 'tailLines' in query:
        tail = int(query['tailLines'])
        lines = lines[-tail:] if tail > 0 else []
    text = ''.join(f'{line}\n' for line in lines)
    return web.Response(text=text, content_type='text/plain')


def _labels_match(pod: dict, wanted: dict) -> bool:
    labels = pod['metadata'].get('labels') or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _rule_matches(rule: dict, pod: dict, container: str, argv: list[str]) -> bool:
    if not fnmatch.fnmatchcase(pod['metadata']['name'], rule.get('pod', '*')):
        return False
    if not _labels_match(pod, rule.get('labels', {})):
        return False
    if rule.get('container') not in (None, container):
        return False
    if 'argv' in rule:
        return list(rule['argv']) == argv
    prefix = list(rule.get('prefix', []))
    return argv[: len(prefix)] == prefix


async def _run_host(rule: dict, argv: list[str]) -> tuple[bytes, bytes, int]:
    host = list(rule['host'])
    if host[0] not in HOST_ALLOW:
        return b'', f'stand-in: host binary {host[0]} is not allow-listed\n'.encode(), 126
    rest = argv[len(rule.get('prefix', [])) :]
    proc = await asyncio.create_subprocess_exec(
        *host, *rest, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HOST_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return b'', b'stand-in: host command timed out\n', 124
    return out, err, proc.returncode


async def run_exec(state, pod: dict, container: str, argv: list[str]) -> tuple[bytes, bytes, int]:
    for rule in state.exec_rules:
        if _rule_matches(rule, pod, container, argv):
            if 'host' in rule:
                return await _run_host(rule, argv)
            return (rule.get('stdout', '').encode(), rule.get('stderr', '').encode(), int(rule.get('rc', 0)))
    name = argv[0] if argv else ''
    return b'', f'sh: {name}: not found\n'.encode(), 127


def _exit_status(rc: int) -> bytes:
    if rc == 0:
        return json.dumps({'metadata': {}, 'status': 'Success'}).encode()
    return json.dumps(
        {
            'metadata': {},
            'status': 'Failure',
            'message': f'command terminated with non-zero exit code: exit status {rc}',
            'reason': 'NonZeroExitCode',
            'details': {'causes': [{'reason': 'ExitCode', 'message': str(rc)}]},
        }
    ).encode()


async def pod_exec(request: web.Request, state, pod: dict) -> web.StreamResponse:
    argv = request.query.getall('command', [])
    container = _container(pod, request.query.get('container'))['name']
    request['standin_entry']['exec'] = {'pod': pod['metadata']['name'], 'container': container, 'argv': argv}
    ws = web.WebSocketResponse(protocols=PROTOCOLS)
    if not ws.can_prepare(request).ok or request.method != 'GET':
        raise ApiError(
            400, f'Upgrade request required: the stand-in serves exec over WebSocket ({", ".join(PROTOCOLS)}) only'
        )
    if not argv:
        raise ApiError(400, 'you must specify at least 1 command')
    await ws.prepare(request)
    out, err, rc = await run_exec(state, pod, container, argv)
    if out and request.query.get('stdout', 'true') != 'false':
        await ws.send_bytes(b'\x01' + out)
    if err and request.query.get('stderr', 'true') != 'false':
        await ws.send_bytes(b'\x02' + err)
    await ws.send_bytes(b'\x03' + _exit_status(rc))
    await ws.close()
    return ws
