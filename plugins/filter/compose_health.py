# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the compose health checks (Fragrance AI F1, F2; QA-Arena Q10): the
service fields of the health URL's JSON (database, redis, worker counts), Redis
`INFO` (clients, memory), and abnormal lines in the backend's logs (ERROR lines,
Tracebacks, 5xx answers). Each returns checks and findings shaped like those of
`compose_status_summary`, which `compose_status_extend` adds to the status."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.module_utils._health import lookup

SEVERITIES = ('critical', 'warning', 'info')
FIELD_TYPES = ('state', 'counts')
# Runbook F1's answer: {status, version, services: {database, redis, workers: {llm, rl}}}.
DEFAULT_HEALTH_FIELDS = [
    {'path': 'services.database'},
    {'path': 'services.redis'},
    {'path': 'services.workers', 'type': 'counts'},
]
REDIS_KEYS = ('connected_clients', 'blocked_clients', 'used_memory', 'used_memory_human', 'maxmemory')
ERROR_LINE = re.compile(r'\bERROR\b')
TRACEBACK = re.compile(r'Traceback \(most recent call last\)')
HTTP_STATUS = re.compile(r'" ([1-5])\d\d ')
ANSI_ESCAPE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
LOG_PREFIX = re.compile(r'^[\w.-]+\s+\| ?')


def _finding(severity: str, service: str, problem: str) -> dict[str, Any]:
    return {'severity': severity, 'service': service, 'problem': problem}


def _field_spec(spec: Any) -> dict[str, Any]:
    """One entry of compose_status_health_fields with its defaults filled in."""
    if isinstance(spec, str):
        spec = {'path': spec}
    if not isinstance(spec, dict) or not spec.get('path'):
        raise AnsibleFilterError(f'compose_health_fields: each field needs a path, got {spec!r}')
    kind = spec.get('type', 'state')
    if kind not in FIELD_TYPES:
        raise AnsibleFilterError(f'compose_health_fields: type of {spec["path"]} is {kind!r}, not one of {FIELD_TYPES}')
    severity = spec.get('severity', 'critical')
    if severity not in SEVERITIES:
        raise AnsibleFilterError(f'compose_health_fields: severity of {spec["path"]} is {severity!r}')
    expect = spec.get('expect', 'healthy')
    return {
        'path': str(spec['path']),
        'type': kind,
        'expect': [expect] if isinstance(expect, str) else list(expect),
        'required': bool(spec.get('required', False)),
        'severity': severity,
        'min': int(spec.get('min', 1)),
        'keys': list(spec.get('keys') or []),
        'services': dict(spec.get('services') or {}),
        'label': spec.get('label') or str(spec['path']).rsplit('.', 1)[-1],
    }


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def compose_health_fields(
    document: Any, fields: list[Any] | None = None, services: list[str] | None = None
) -> dict[str, Any]:
    """Runbook F1: the service fields of the health URL's JSON answer.

    fields: entries {path, type (state | counts), expect (a value or a list, default
    healthy), required (default false), severity (default critical), min (counts: the
    fewest acceptable, default 1), keys (counts: names that must be there), services
    (counts: name -> the compose service that provides it), label}. services: the
    compose services the stack should run (compose_services' names); a count whose
    service is not among them (scaled to 0 on purpose, F10) is not judged.
    A state field must equal one of `expect`; a counts field is a dict name -> count
    (workers: {llm: 2, rl: 1}) where each count must reach `min` (a word of `expect`
    is accepted too). A field the answer lacks is a finding only when `required`, so a
    stack whose health JSON differs gets no false findings.
    Returns {checks, findings, values (path -> value found)}."""
    specs = [_field_spec(spec) for spec in (DEFAULT_HEALTH_FIELDS if fields is None else fields)]
    report = _HealthReport()
    values: dict[str, Any] = {}
    if not isinstance(document, dict):
        for spec in specs:
            if spec['required']:
                report.check(
                    spec, f'health {spec["path"]}', False, 'the health URL gave no JSON object to read it from'
                )
        return report.result(values)
    for spec in specs:
        path, name = spec['path'], f'health {spec["path"]}'
        try:
            value = values[path] = lookup(document, path)
        except KeyError:
            if spec['required']:
                report.check(spec, name, False, 'missing from the health answer', f'the health answer has no {path}')
            else:
                report.passed(name, 'not in the answer (not required)')
            continue
        if spec['type'] == 'state':
            wanted = ' or '.join(spec['expect'])
            problem = f'{spec["label"]} is {value!r} in the health answer ({path}), expected {wanted}'
            report.check(spec, name, value in spec['expect'], str(value), problem)
        elif not isinstance(value, dict):
            report.check(
                spec, name, False, f'{value!r} is not a name -> count map', f'{path} is {value!r}, not a count map'
            )
        else:
            _check_counts(report, spec, value, services)
    return report.result(values)


class _HealthReport:
    """The checks and findings of compose_health_fields."""

    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []

    def check(self, spec: dict[str, Any], name: str, ok: bool, detail: str, problem: str = '') -> None:
        self.checks.append({'name': name, 'kind': 'health', 'ok': ok, 'detail': detail})
        if not ok:
            self.findings.append(_finding(spec['severity'], spec['label'], problem or f'{name}: {detail}'))

    def passed(self, name: str, detail: str) -> None:
        self.checks.append({'name': name, 'kind': 'health', 'ok': True, 'detail': detail})

    def result(self, values: dict[str, Any]) -> dict[str, Any]:
        return {'checks': self.checks, 'findings': self.findings, 'values': values}


def _check_counts(
    report: _HealthReport, spec: dict[str, Any], value: dict[str, Any], services: list[str] | None
) -> None:
    """A counts field (workers: {llm: 2, rl: 1}): the keys it must list, and each count
    at least `min` (or a word of `expect`), except those of services not meant to run."""
    path, name = spec['path'], f'health {spec["path"]}'

    def unexpected(key: str) -> str | None:
        """The compose service of `key` when the stack is not meant to run it."""
        service = spec['services'].get(key)
        return service if services is not None and service and service not in services else None

    for key in spec['keys']:
        if key not in value and not unexpected(key):
            listed = ', '.join(value) or 'nothing'
            problem = f'{spec["label"]} {key}: not in the health answer ({path} lists {listed})'
            report.check(spec, f'{name}.{key}', False, 'missing', problem)
    for key, raw in sorted(value.items()):
        count = _count(raw)
        if unexpected(key):
            report.passed(f'{name}.{key}', f'{raw} running; {unexpected(key)} is not expected to run (scaled to 0?)')
        elif count is None:
            problem = (
                f'{spec["label"]} {key} is {raw!r} in the health answer, '
                f'expected a count or {" or ".join(spec["expect"])}'
            )
            report.check(spec, f'{name}.{key}', raw in spec['expect'], str(raw), problem)
        else:
            problem = (
                f'{spec["label"]} {key}: {count} running, at least {spec["min"]} expected ({path}.{key}); '
                f'its jobs are not being processed'
            )
            report.check(spec, f'{name}.{key}', count >= spec['min'], f'{count} running', problem)


def redis_info(text: str) -> dict[str, Any]:
    """The `key:value` lines of `redis-cli INFO [section]`; numbers as int or float."""
    info: dict[str, Any] = {}
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#') or ':' not in line:
            continue
        key, value = line.split(':', 1)
        try:
            info[key] = int(value)
        except ValueError:
            try:
                info[key] = float(value)
            except ValueError:
                info[key] = value
    return info


def compose_redis_info(results: list[dict[str, Any]], memory_max_percent: float = 90) -> dict[str, Any]:
    """Runbook F2: Redis INFO (clients, memory) from the registered loop results of
    `redis-cli info <section>` (item: the section). Returns {info: connected_clients,
    blocked_clients, used_memory, used_memory_human, maxmemory, memory_percent (None
    without maxmemory), checks, findings}: an unreadable section is a warning (the
    ping says whether Redis answers), used_memory at or over memory_max_percent of
    maxmemory a warning (at maxmemory Redis evicts keys or refuses writes)."""
    parsed: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for result in results or []:
        section = result.get('item') if isinstance(result.get('item'), str) else 'info'
        if result.get('skipped'):
            continue
        output = redis_info(result.get('stdout', ''))
        if result.get('rc') != 0 or not output:
            detail = f"{result.get('stdout', '')}{result.get('stderr', '')}".strip()[-300:] or result.get('msg')
            checks.append({'name': f'redis info {section}', 'kind': 'exec', 'ok': False, 'detail': detail})
            findings.append(_finding('warning', 'redis', f'redis INFO {section} could not be read: {detail}'))
            continue
        parsed.update(output)
    info = {key: parsed[key] for key in REDIS_KEYS if key in parsed}
    if 'used_memory' in info:
        maxmemory = int(info.get('maxmemory') or 0)
        info['memory_percent'] = round(100.0 * info['used_memory'] / maxmemory, 1) if maxmemory > 0 else None
    if 'connected_clients' in info:
        checks.append(
            {
                'name': 'redis clients',
                'kind': 'exec',
                'ok': True,
                'detail': f'{info["connected_clients"]} connected, {info.get("blocked_clients", "?")} blocked',
            }
        )
    if 'used_memory' in info:
        used = info.get('used_memory_human', info['used_memory'])
        percent = info['memory_percent']
        ok = percent is None or percent < float(memory_max_percent)
        detail = (
            f'{used} used, no maxmemory set'
            if percent is None
            else f'{used} used of maxmemory {info["maxmemory"]} bytes ({percent} %, at most {memory_max_percent} %)'
        )
        checks.append({'name': 'redis memory', 'kind': 'exec', 'ok': ok, 'detail': detail})
        if not ok:
            findings.append(_finding('warning', 'redis', f'redis memory: {detail}'))
    return {'info': info, 'checks': checks, 'findings': findings}


def compose_status_extend(status: dict[str, Any], health: dict[str, Any] | None = None, redis: Any = None) -> dict:
    """compose_status with the checks and findings of compose_health_fields and
    compose_redis_info added, `health_services` (the health fields' values) and
    `redis_info` set, and `ok` recomputed (no critical finding)."""
    health = health or {}
    redis = redis or {}
    findings = (
        list(status.get('findings') or []) + list(health.get('findings') or []) + list(redis.get('findings') or [])
    )
    return {
        **status,
        'checks': list(status.get('checks') or []) + list(health.get('checks') or []) + list(redis.get('checks') or []),
        'findings': findings,
        'health_services': health.get('values') or {},
        'redis_info': redis.get('info') or {},
        'ok': not any(f.get('severity') == 'critical' for f in findings),
    }


def compose_log_scan(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Runbook Q10: abnormal lines in the last log lines of each service, from the
    registered loop results of `docker compose logs --tail N <service>` (item: the
    service). Per service: lines, errors (lines with the word ERROR), tracebacks
    (`Traceback (most recent call last)`), requests, http_4xx, http_5xx (access lines
    `"GET /x HTTP/1.1" 500`), and up to 5 samples of the abnormal lines (a Traceback
    with the exception that ends it). Colour codes and `service  | ` prefixes are
    ignored."""
    scan: dict[str, dict[str, Any]] = {}
    for result in results or []:
        if result.get('skipped'):
            continue
        item = result.get('item')
        service = item if isinstance(item, str) else (item or {}).get('key', '?')
        lines = result.get('stdout_lines') or (result.get('stdout') or '').splitlines()
        counts, samples = _scan_log_lines(lines)
        scan[service] = {**counts, 'samples': samples[-5:], 'ok': result.get('rc', 0) == 0}
    return scan


def _scan_log_lines(lines: list[str]) -> tuple[dict[str, int], list[str]]:
    """(counts, samples of the abnormal lines) of one service's log lines."""
    counts = {'lines': len(lines), 'errors': 0, 'tracebacks': 0, 'requests': 0, 'http_4xx': 0, 'http_5xx': 0}
    samples: list[str] = []
    traceback_at: int | None = None
    for raw in lines:
        line = ANSI_ESCAPE.sub('', raw)
        message = LOG_PREFIX.sub('', line)
        if traceback_at is not None and message[:1] not in ('', ' ', '\t'):
            # The exception that ends the Traceback.
            samples[traceback_at] = f'{samples[traceback_at]} ... {message.strip()[:200]}'
            traceback_at = None
        abnormal, traceback = _count_log_line(line, counts)
        if traceback:
            traceback_at = len(samples)
        if abnormal:
            samples.append(message.strip()[:300])
    return counts, samples


def _count_log_line(line: str, counts: dict[str, int]) -> tuple[bool, bool]:
    """Count an ERROR line, a Traceback, an access line and its status class in counts;
    (whether the line is abnormal, whether it starts a Traceback)."""
    abnormal = False
    if ERROR_LINE.search(line):
        counts['errors'] += 1
        abnormal = True
    traceback = bool(TRACEBACK.search(line))
    if traceback:
        counts['tracebacks'] += 1
        abnormal = True
    status = HTTP_STATUS.search(line)
    if status:
        counts['requests'] += 1
        if status.group(1) == '5':
            counts['http_5xx'] += 1
            abnormal = True
        elif status.group(1) == '4':
            counts['http_4xx'] += 1
    return abnormal, traceback


def compose_log_findings(scan: dict[str, dict[str, Any]], severity: str = 'warning') -> list[dict[str, Any]]:
    """Findings from compose_log_scan: per service, ERROR lines, Tracebacks and 5xx
    answers (with the share of the requests it logged); a log that could not be read."""
    if severity not in SEVERITIES:
        raise AnsibleFilterError(f'compose_log_findings: severity {severity!r} is not one of {SEVERITIES}')
    found = []
    for service, counts in sorted((scan or {}).items()):
        within = f'in its last {counts.get("lines", 0)} log lines'
        if not counts.get('ok', True):
            found.append(_finding('warning', service, f'the logs of {service} could not be read'))
        if counts.get('errors'):
            found.append(_finding(severity, service, f'{counts["errors"]} ERROR line(s) {within}'))
        if counts.get('tracebacks'):
            found.append(_finding(severity, service, f'{counts["tracebacks"]} Traceback(s) {within}'))
        if counts.get('http_5xx'):
            ratio = counts['http_5xx'] / counts['requests'] if counts.get('requests') else 1.0
            found.append(
                _finding(
                    severity,
                    service,
                    f'{counts["http_5xx"]} of {counts["requests"]} logged responses were 5xx ({ratio:.1%}) {within}',
                )
            )
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'compose_health_fields': compose_health_fields,
            'redis_info': redis_info,
            'compose_redis_info': compose_redis_info,
            'compose_status_extend': compose_status_extend,
            'compose_log_scan': compose_log_scan,
            'compose_log_findings': compose_log_findings,
        }
