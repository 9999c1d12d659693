# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes shared by the health_probe module and its tests.

Each probe returns a dict ``{name, kind, ok, detail, elapsed_ms, ...}`` and never
raises for an unhealthy target: an unreachable service is a result, not an error.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import Request, make_context

from ansible_collections.sre.runbooks.plugins.module_utils._pm2 import Pm2Error, daemon_running, parse_jlist, summarize

# run(argv, environ_update) -> (rc, stdout, stderr): the module passes run_command.
Runner = Callable[[list[str], dict[str, str]], tuple[int, str, str]]


def _result(name: str, kind: str, ok: bool, detail: str, started: float, **extra: Any) -> dict[str, Any]:
    return dict(
        name=name, kind=kind, ok=ok, detail=detail, elapsed_ms=round((time.monotonic() - started) * 1000, 1), **extra
    )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]


def lookup(document: Any, dotted: str) -> Any:
    """Value at a dotted path (``services.workers.llm``) or KeyError."""
    for part in dotted.split('.'):
        if isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        elif isinstance(document, dict) and part in document:
            document = document[part]
        else:
            raise KeyError(dotted)
    return document


def redact_url(url: str) -> str:
    """The URL without the secret of its user part (``https://u:***@host/``, a lone
    token as ``***@host``), for names and details that reach the output; headers and
    bodies are never reported."""
    scheme, sep, rest = url.partition('://')
    userinfo, at, hostpart = rest.partition('@')
    if not sep or not at or '/' in userinfo:
        return url
    user, colon, _secret = userinfo.partition(':')
    return f'{scheme}://{user}:***@{hostpart}' if colon else f'{scheme}://***@{hostpart}'


@functools.lru_cache(maxsize=2)
def _tls_context(validate_certs: bool) -> Any:
    """One TLS context per run and setting: open_url makes one per request, loading the
    CA bundle each time (tens of ms of CPU per check, on every host of a fan-out)."""
    return make_context(validate_certs=validate_certs)


def _http_once(spec: dict[str, Any]) -> tuple[int, bytes, float]:
    data = None
    headers = dict(spec.get('headers') or {})
    if spec.get('body') is not None:
        data = json.dumps(spec['body']).encode()
        headers.setdefault('Content-Type', 'application/json')
    started = time.monotonic()
    try:
        validate = bool(spec.get('validate_certs', True))
        response = Request(context=_tls_context(validate), use_netrc=False).open(
            spec.get('method') or 'GET',
            spec['url'],
            data=data,
            headers=headers,
            timeout=spec.get('timeout', 5),
            validate_certs=validate,
            follow_redirects='none',
        )
        body, status = response.read(), response.status
    except HTTPError as err:
        body, status = err.read(), err.code
    return status, body, (time.monotonic() - started) * 1000


def probe_http(spec: dict[str, Any]) -> dict[str, Any]:
    """GET/POST a URL ``samples`` times; check status, JSON fields and latency."""
    url = redact_url(spec['url'])
    name, started = spec.get('name') or url, time.monotonic()
    expected = spec.get('status') or [200]
    timings: list[float] = []
    problems: list[str] = []
    status, body = 0, b''
    for _attempt in range(max(1, int(spec.get('samples', 1)))):
        try:
            status, body, took = _http_once(spec)
        except (OSError, ValueError) as err:
            reason = getattr(err, 'reason', err)
            return _result(name, 'http', False, f'{url}: {reason}', started, status=None)
        timings.append(took)
        if status not in expected:
            problems.append(f'status {status}, expected {expected}')
            break
    fields: dict[str, Any] = {}
    if not problems and spec.get('json'):
        problems += _json_field_problems(body, spec['json'], fields)
    timing = _timing_summary(timings)
    limit = spec.get('max_ms')
    if limit and timing and timing['p95_ms'] > limit:
        problems.append(f"p95 {timing['p95_ms']} ms over {limit} ms")
    detail = '; '.join(problems) or f"{status} in {timing.get('avg_ms')} ms avg"
    return _result(name, 'http', not problems, detail, started, status=status, timing=timing, fields=fields)


def _json_field_problems(body: bytes, wanted: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """Check the JSON fields of a response (path -> value, None: any value); the values
    found go to fields."""
    try:
        document = json.loads(body or b'null')
    except ValueError:
        return ['response is not JSON']
    problems = []
    for path, want in wanted.items():
        try:
            fields[path] = got = lookup(document, path)
        except KeyError:
            problems.append(f'JSON field {path} missing')
            continue
        if want is not None and got != want:
            problems.append(f'JSON field {path} is {got!r}, expected {want!r}')
    return problems


def _timing_summary(timings: list[float]) -> dict[str, Any]:
    """samples, min/max/avg/p95 in ms of the response times; {} without any."""
    if not timings:
        return {}
    return dict(
        samples=len(timings),
        min_ms=round(min(timings), 1),
        max_ms=round(max(timings), 1),
        avg_ms=round(sum(timings) / len(timings), 1),
        p95_ms=round(percentile(timings, 95), 1),
    )


def probe_tcp(spec: dict[str, Any]) -> dict[str, Any]:
    name, started = spec.get('name') or f"{spec['host']}:{spec['port']}", time.monotonic()
    try:
        with socket.create_connection((spec['host'], int(spec['port'])), timeout=spec.get('timeout', 3)):
            return _result(name, 'tcp', True, 'port open', started)
    except OSError as err:
        return _result(name, 'tcp', False, f"{spec['host']}:{spec['port']}: {err}", started)


def probe_redis(spec: dict[str, Any]) -> dict[str, Any]:
    """PING over RESP (no redis-cli needed on the target); PONG is healthy."""
    host, port = spec.get('host', '127.0.0.1'), int(spec.get('port', 6379))
    name, started = spec.get('name') or f'redis {host}:{port}', time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=spec.get('timeout', 3)) as conn:
            if spec.get('password'):
                password = spec['password'].encode()
                conn.sendall(b'*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' % (len(password), password))
                conn.recv(256)
            conn.sendall(b'*1\r\n$4\r\nPING\r\n')
            reply = conn.recv(256).decode(errors='replace').strip()
    except OSError as err:
        return _result(name, 'redis', False, f'{host}:{port}: {err}', started)
    return _result(name, 'redis', reply == '+PONG', reply.lstrip('+-') or 'no reply', started)


def probe_command(
    name: str, kind: str, argv: list[str], run: Runner, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """Run argv; ok when it exits 0. Returns the result and the command's stdout."""
    started = time.monotonic()
    try:
        rc, out, err = run(argv, env or {})
    except OSError as exc:
        return _result(name, kind, False, f'{argv[0]}: {exc}', started), ''
    text = (out.strip() or err.strip()).splitlines()
    detail = text[-1] if text else f'exit {rc}'
    return _result(name, kind, rc == 0, detail, started, rc=rc), out


def probe_pm2(spec: dict[str, Any], pm2_bin: str | None, run: Runner) -> dict[str, Any]:
    """State of one pm2 app from ``pm2 jlist``, without ever starting a daemon."""
    name, started = f"pm2 {spec['app']}", time.monotonic()
    home = spec.get('pm2_home') or os.path.expanduser('~/.pm2')
    if not pm2_bin:
        return _result(name, 'pm2', False, 'pm2 is not installed', started)
    if not daemon_running(home):
        return _result(name, 'pm2', False, f'no pm2 daemon runs for PM2_HOME={home}', started)
    result, out = probe_command(name, 'pm2', [pm2_bin, 'jlist'], run, env={'PM2_HOME': home})
    if not result['ok']:
        return result
    try:
        apps = {app['name']: app for app in map(summarize, parse_jlist(out))}
    except (Pm2Error, ValueError):
        return _result(name, 'pm2', False, 'pm2 jlist did not return JSON', started)
    app = apps.get(spec['app'])
    if app is None:
        known = ', '.join(sorted(apps)) or 'none'
        return _result(name, 'pm2', False, f"app {spec['app']} is not defined in pm2 (known: {known})", started)
    return _result(
        name, 'pm2', app['status'] == 'online', app['status'], started, pid=app['pid'], restarts=app['restarts']
    )


def probe_disk(spec: dict[str, Any]) -> dict[str, Any]:
    path, started = spec['path'], time.monotonic()
    limit = float(spec.get('max_percent', 85))
    try:
        st = os.statvfs(path)
    except OSError as err:
        return _result(f'disk {path}', 'disk', False, str(err), started)
    total = st.f_blocks * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    pct = round(100.0 * used / total, 1) if total else 0.0
    return _result(f'disk {path}', 'disk', pct <= limit, f'{pct}% used (limit {limit}%)', started, used_percent=pct)


def probe_memory(limit: float, meminfo: str = '/proc/meminfo') -> dict[str, Any]:
    started = time.monotonic()
    values: dict[str, int] = {}
    with open(meminfo, encoding='ascii') as handle:
        for line in handle:
            key, _sep, rest = line.partition(':')
            values[key] = int(rest.split()[0])
    pct = round(100.0 * (1 - values['MemAvailable'] / values['MemTotal']), 1)
    return _result('memory', 'memory', pct <= limit, f'{pct}% used (limit {limit}%)', started, used_percent=pct)


# The check lists of health_probe, in the order their results are reported.
CHECK_KINDS = ('http', 'tcp', 'postgres', 'redis', 'services', 'pm2', 'disk')


def _probes(
    params: dict[str, Any], which: Callable[[str], str | None], run: Runner
) -> list[Callable[[], dict[str, Any]]]:
    """One callable per check of a set of check lists (CHECK_KINDS), in their order."""
    probes: list[Callable[[], dict[str, Any]]] = [partial(probe_http, spec) for spec in params.get('http') or []]
    probes += [partial(probe_tcp, spec) for spec in params.get('tcp') or []]
    pg_isready = which('pg_isready') if params.get('postgres') else None
    for spec in params.get('postgres') or []:
        host, port = spec.get('host', '127.0.0.1'), spec.get('port', 5432)
        argv = [pg_isready or 'pg_isready', '-h', host, '-p', str(port), '-t', str(spec.get('timeout', 5))]
        for flag, key in (('-d', 'database'), ('-U', 'user')):
            if spec.get(key):
                argv += [flag, spec[key]]
        name = spec.get('name') or f'postgres {host}:{port}'
        if pg_isready is None:  # a host without PostgreSQL's client programs: unhealthy
            probes.append(partial(_result, name, 'postgres', False, 'pg_isready is not installed', time.monotonic()))
        else:
            probes.append(lambda name=name, argv=argv: probe_command(name, 'postgres', argv, run)[0])
    probes += [partial(probe_redis, spec) for spec in params.get('redis') or []]
    systemctl = (which('systemctl') or 'systemctl') if params.get('services') else 'systemctl'
    for service in params.get('services') or []:
        argv = [systemctl, 'is-active', service]
        probes.append(lambda service=service, argv=argv: probe_command(f'service {service}', 'service', argv, run)[0])
    pm2_bin = which('pm2') if params.get('pm2') else None
    probes += [partial(probe_pm2, spec, pm2_bin, run) for spec in params.get('pm2') or []]
    probes += [partial(probe_disk, spec) for spec in params.get('disk') or []]
    return probes


def _run_concurrently(probes: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """The probes' results in their order; the probes run at once (at most 8)."""
    if len(probes) < 2:
        return [probe() for probe in probes]
    with ThreadPoolExecutor(max_workers=min(8, len(probes))) as pool:
        return list(pool.map(lambda probe: probe(), probes))


def _cached(which: Callable[[str], str | None]) -> Callable[[str], str | None]:
    found: dict[str, str | None] = {}

    def lookup_once(name: str) -> str | None:
        if name not in found:
            found[name] = which(name)
        return found[name]

    return lookup_once


def run_all(params: dict[str, Any], which: Callable[[str], str | None], run: Runner) -> list[dict[str, Any]]:
    """Run every probe named in the module's parameters, concurrently (they are
    independent, and a slow one - pm2 starts Node - should not queue the others);
    the results keep a fixed order."""
    probes = _probes(params, which, run)
    if params.get('memory_max_percent') is not None:
        probes.append(partial(probe_memory, float(params['memory_max_percent'])))
    return _run_concurrently(probes)


def run_components(
    params: dict[str, Any], which: Callable[[str], str | None], run: Runner
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """run_all for the top-level checks and for each of ``params['components']`` (a
    list of ``{name, http, tcp, ...}``), all in one pool: a host with several
    components pays one module run, and its slowest check sets the time.

    Returns the top-level results (as run_all) and, per component name, its results
    in the order of run_all; each component result also carries ``component``."""
    which = _cached(which)
    top = _probes(params, which, run)
    if params.get('memory_max_percent') is not None:
        top.append(partial(probe_memory, float(params['memory_max_percent'])))
    groups = [(component['name'], _probes(component, which, run)) for component in params.get('components') or []]
    results = _run_concurrently(top + [probe for _name, probes in groups for probe in probes])
    flat, rest = results[: len(top)], results[len(top) :]
    by_component: dict[str, list[dict[str, Any]]] = {}
    for name, probes in groups:
        by_component[name] = [dict(result, component=name) for result in rest[: len(probes)]]
        rest = rest[len(probes) :]
    return flat, by_component
