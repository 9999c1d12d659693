# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the compose runbooks (QA-Arena Q1-Q11, Fragrance AI F1-F13): findings
from `docker compose ps`, service names, scaling steps, the rollback decision tree
(F8) and the daily/weekly check findings (Q9, Q10, F3)."""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from ansible.errors import AnsibleFilterError

SEVERITIES = ('critical', 'warning', 'info')
HTTP_5XX = re.compile(r'" (5\d\d) ')
HTTP_ANY = re.compile(r'" ([1-5]\d\d) ')
# An app log line at ERROR (or worse) about the database (runbook F8's "database errors").
DB_ERROR = re.compile(
    r'\b(?:ERROR|FATAL|CRITICAL)\b.*'
    r'(?i:database|psycopg|postgres|sqlalchemy|sqlstate|relation|deadlock|connection to server)'
)
METRIC_LINE = re.compile(r'^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)', re.MULTILINE)
METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

# Runbook F8 (thresholds) and F3/F11 (alerts); an inventory overrides any of them.
DECISION_THRESHOLDS = {'error_5xx_ratio': 0.05, 'latency_ratio': 2.0, 'worker_failure_ratio': 0.5, 'db_errors': 1}
CHECK_THRESHOLDS = {
    'queue_length': 100,
    'cert_warning_days': 30,
    'cert_critical_days': 7,
    'error_5xx_ratio': 0.05,
}


def compose_ps_rows(stdout: str) -> list[dict[str, Any]]:
    """Rows of `docker compose ps --all --format json`: a JSON array (compose < 2.21)
    or one JSON object per line (newer)."""
    text = (stdout or '').strip()
    if not text:
        return []
    try:
        rows = json.loads(text) if text.startswith('[') else [json.loads(line) for line in text.splitlines() if line]
    except ValueError as err:
        raise AnsibleFilterError(f'compose_ps_rows: docker compose ps did not print JSON: {err}') from err
    return sorted(rows, key=lambda row: (row.get('Service', ''), row.get('Name', '')))


def compose_scaled(ps_stdout: str) -> dict[str, int]:
    """Services running more than one container: {service: count}. A plain `up -d`
    would bring them back to the compose file's count; a deploy passes these on."""
    counts: dict[str, int] = {}
    for row in compose_ps_rows(ps_stdout):
        if (row.get('State') or '').lower() == 'running':
            counts[row.get('Service', '?')] = counts.get(row.get('Service', '?'), 0) + 1
    return {service: count for service, count in counts.items() if count > 1}


def compose_ps_findings(rows: list[dict[str, Any]], services: list[str]) -> list[dict[str, Any]]:
    """Runbook Q1: containers Restarting or Exited, unhealthy, and services with none."""
    findings = []

    def add(severity: str, service: str, problem: str) -> None:
        findings.append({'severity': severity, 'service': service, 'problem': problem})

    for row in rows:
        service, name = row.get('Service', '?'), row.get('Name', '?')
        state, health = (row.get('State') or '').lower(), (row.get('Health') or '').lower()
        if state == 'restarting':
            add('critical', service, f'{name} is Restarting (crash loop?): {row.get("Status", "")}')
        elif state in ('exited', 'dead', 'created', 'paused'):
            add('critical', service, f'{name} is {state.capitalize()}: {row.get("Status", "")}')
        elif health == 'unhealthy':
            add('critical', service, f'{name} is running but unhealthy')
        elif health == 'starting':
            add('warning', service, f'{name} is still starting (health check pending)')
    running = {row.get('Service') for row in rows}
    for service in services:
        if service not in running:
            add('critical', service, f'service {service} has no container')
    return findings


def compose_status_summary(
    ps_stdout: str,
    services: list[str],
    http_checks: list[dict[str, Any]],
    exec_results: list[dict[str, Any]],
    queue_max: int = CHECK_THRESHOLDS['queue_length'],
) -> dict[str, Any]:
    """The stack's status (Q1, F1, F2, F3): containers from `docker compose ps`, the
    health_probe checks, and the exec'd checks: registered loop results whose item has
    `name` and either `expect` (a word the output must contain) or `queue` (a Redis
    list whose length is printed, at most queue_max). ok: no critical finding."""
    rows = compose_ps_rows(ps_stdout)
    checks = list(http_checks or [])
    queues = {}
    for result in exec_results or []:
        item = result.get('item') or {}
        output = f"{result.get('stdout', '')}{result.get('stderr', '')}".strip()
        ok = result.get('rc') == 0 and item.get('expect', '') in output
        detail = output[-300:] or result.get('msg')
        if item.get('queue') and ok and output.isdigit():
            queues[item['queue']] = int(output)
            ok = int(output) <= queue_max
            detail = f'{output} jobs waiting (at most {queue_max})'
        checks.append({'name': item.get('name'), 'kind': 'exec', 'ok': ok, 'detail': detail})
    findings = compose_ps_findings(rows, services) + [
        {'severity': 'critical', 'service': check['name'], 'problem': f'{check["name"]}: {check.get("detail")}'}
        for check in checks
        if not check.get('ok')
    ]
    return {
        'containers': rows,
        'checks': checks,
        'queues': queues,
        'findings': findings,
        'ok': not any(f['severity'] == 'critical' for f in findings),
    }


def compose_services_of(services: dict[str, Any], kind: str, negate: bool = False) -> list[str]:
    """Names of the services of one kind (app, worker, data, proxy), or of all others."""
    return [name for name, spec in services.items() if ((spec or {}).get('kind') == kind) != negate]


def compose_queue_probe(queue: str, redis_service: str) -> dict[str, Any]:
    """The exec'd check that reads the length of a Redis list (F3's queue length)."""
    return {'service': redis_service, 'name': f'queue {queue}', 'argv': ['redis-cli', 'LLEN', queue], 'queue': queue}


def compose_service_name(name: str, services: dict[str, Any]) -> str:
    """The compose service called `name`, or whose container is `name`. The QA-Arena
    runbook restarts by container name (qa_arena_backend_prod), compose wants the
    service (backend): both are accepted, anything else is an error naming both."""
    if name in services:
        return name
    for service, spec in services.items():
        if (spec or {}).get('container') == name:
            return service
    known = ', '.join(
        f'{s} ({(spec or {}).get("container")})' if (spec or {}).get('container') else s
        for s, spec in sorted(services.items())
    )
    raise AnsibleFilterError(f'no compose service or container named {name!r}; known: {known}')


def scale_steps(current: int, target: int, emergency: bool = False) -> list[int]:
    """Replica counts to go through from current to target: up in one step (F4), down
    one replica at a time (F5, 5->4->3->2), or straight to target in an emergency."""
    current, target = int(current), int(target)
    if target < 0:
        raise AnsibleFilterError(f'scale_steps: a replica count cannot be negative ({target})')
    if target >= current or emergency:
        return [] if target == current else [target]
    return list(range(current - 1, target - 1, -1))


def rollback_decision(symptoms: dict[str, Any], thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Runbook F8's decision tree. Symptoms: error_5xx_ratio, latency_ratio (now /
    baseline), db_errors, worker_failure_ratio, data_corruption. The widest rollback
    that any symptom calls for wins: full > quick > workers."""
    limits = {**DECISION_THRESHOLDS, **(thresholds or {})}
    symptoms = symptoms or {}
    reasons: dict[str, list[str]] = {'full': [], 'quick': [], 'workers': []}
    if symptoms.get('data_corruption'):
        reasons['full'].append('data corruption: full rollback with database restore, then investigate')
    if _over_count(symptoms.get('db_errors'), limits['db_errors']):
        reasons['full'].append(f'database errors ({symptoms["db_errors"]}): full rollback with database restore')
    ratio = float(symptoms.get('error_5xx_ratio') or 0)
    if ratio > limits['error_5xx_ratio']:
        reasons['quick'].append(f'5xx ratio {ratio:.1%} > {limits["error_5xx_ratio"]:.0%}: quick rollback')
    slower = float(symptoms.get('latency_ratio') or 0)
    if slower >= limits['latency_ratio']:
        reasons['quick'].append(f'{slower:.1f}x slower (>= {limits["latency_ratio"]:g}x): quick rollback')
    failures = float(symptoms.get('worker_failure_ratio') or 0)
    if failures > limits['worker_failure_ratio']:
        reasons['workers'].append(
            f'worker failures {failures:.0%} > {limits["worker_failure_ratio"]:.0%}: roll back the workers only'
        )
    kind = next((k for k in ('full', 'quick', 'workers') if reasons[k]), 'none')
    return {
        'kind': kind,
        'investigate': bool(symptoms.get('data_corruption')),
        'reasons': [r for k in ('full', 'quick', 'workers') for r in reasons[k]] or ['no symptom crosses a threshold'],
    }


def _over_count(value: Any, least: Any) -> bool:
    """A count of at least `least`; other truthy values (the operator's words, True) always."""
    if isinstance(value, bool):
        return value
    try:
        return float(value) >= float(least or 1)
    except (TypeError, ValueError):
        return bool(value)


def log_error_lines(log: str, pattern: str | None = None, keep: int = 3) -> dict[str, Any]:
    """ERROR (FATAL, CRITICAL) lines about the database in app log lines (F8), or lines
    matching `pattern`: {count, samples (the last `keep`)}."""
    regex = re.compile(pattern) if pattern else DB_ERROR
    lines = [line.strip() for line in (log or '').splitlines() if regex.search(line)]
    return {'count': len(lines), 'samples': [line[-200:] for line in lines[-keep:]]}


def metric_value(text: str, name: str, labels: dict[str, Any] | None = None) -> float | None:
    """The value of a Prometheus text-format sample `name{labels}` (the first one whose
    labels include `labels`), or None when /metrics has none."""
    wanted = {str(k): str(v) for k, v in (labels or {}).items()}
    for metric, label_text, value in METRIC_LINE.findall(text or ''):
        if metric != name:
            continue
        found = dict(METRIC_LABEL.findall(label_text or ''))
        if all(found.get(k) == v for k, v in wanted.items()):
            try:
                return float(value)
            except ValueError:
                return None
    return None


def worker_failures(
    ps_stdout: str, workers: list[str], heartbeats: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """F8's worker failures: per worker service, the expected replicas (its containers in
    `docker compose ps --all`, at least 1) without a live one - a running container, and
    when the service's heartbeat keys were read (registered `redis-cli --scan` results
    whose item has `service` and `pattern`), one key per live replica. ratio is the worst
    service's share of failed replicas."""
    rows = compose_ps_rows(ps_stdout)
    beats = {(r.get('item') or {}).get('service'): r for r in heartbeats or []}
    services: dict[str, Any] = {}
    for service in workers or []:
        containers = [row for row in rows if row.get('Service') == service]
        running = sum(1 for row in containers if (row.get('State') or '').lower() == 'running')
        expected = max(1, len(containers))
        entry = {'expected': expected, 'running': running, 'alive': running}
        beat = beats.get(service)
        if beat is not None and beat.get('rc') == 0:
            keys = [line for line in (beat.get('stdout') or '').splitlines() if line.strip()]
            entry.update(heartbeats=len(keys), pattern=beat['item'].get('pattern'), alive=min(running, len(keys)))
        elif beat is not None:
            entry['heartbeat_error'] = (beat.get('stderr') or beat.get('msg') or 'redis-cli failed')[-200:]
        entry['failed'] = expected - entry['alive']
        entry['ratio'] = entry['failed'] / expected
        services[service] = entry
    worst = max((e['ratio'] for e in services.values()), default=0.0)
    return {'ratio': worst, 'services': services}


def heartbeat_patterns(workers: dict[str, Any] | None, override: dict[str, str] | None = None) -> list[dict[str, str]]:
    """[{service, pattern}] of the Redis keys each worker replica keeps alive: `override`
    ({service: pattern}) when given, else the `redis_keys` of compose_service_workers."""
    if override:
        return [{'service': str(s), 'pattern': str(p)} for s, p in sorted(override.items())]
    return [
        {'service': str(service), 'pattern': str(spec['redis_keys'])}
        for service, spec in sorted((workers or {}).items())
        if isinstance(spec, dict) and spec.get('redis_keys')
    ]


def _given(value: Any) -> str:
    return f'{value:g}' if isinstance(value, float) else str(value)


def rollback_measurements(facts: dict[str, Any], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """F8's inputs, measured, and where each came from. facts: window (e.g. 15m),
    proxy_log / proxies (the proxy's access log lines, None when there is no proxy),
    app_log / apps (the app services' log lines), workers (worker_failures' result),
    metrics (the text of /metrics), probe (a health_probe http check with timing),
    latency_url, baseline_ms. given: the operator's symptoms, which win.
    Returns {symptoms, sources: [lines]}."""
    window = facts.get('window') or 'recent'
    symptoms: dict[str, Any] = {}
    sources: list[str] = []
    if facts.get('proxy_log') is not None:
        counts = http_status_counts(facts['proxy_log'])
        symptoms['error_5xx_ratio'] = round(counts['ratio'], 4)
        sources.append(
            f'error_5xx_ratio {counts["ratio"]:.1%}: {counts["errors_5xx"]} of {counts["requests"]} answers 5xx '
            f'in the access log of {", ".join(facts.get("proxies") or ["the proxy"])} '
            f'(last {window}, at most 1000 lines)'
        )
    else:
        sources.append('error_5xx_ratio not measured: no service of kind proxy')
    if facts.get('app_log') is not None:
        errors = log_error_lines(facts['app_log'])
        symptoms['db_errors'] = errors['count']
        sources.append(
            f'db_errors {errors["count"]}: ERROR lines about the database in the logs of '
            f'{", ".join(facts.get("apps") or ["the app"])} (last {window})'
            + (f'; last: {errors["samples"][-1]}' if errors['samples'] else '')
        )
    else:
        sources.append('db_errors not measured: no service of kind app')
    workers = facts.get('workers')
    if workers and workers.get('services'):
        symptoms['worker_failure_ratio'] = round(workers['ratio'], 4)
        parts = [
            f'{name} {entry["alive"]} of {entry["expected"]} alive ({entry["running"]} running'
            + (f', {entry["heartbeats"]} heartbeats {entry["pattern"]}' if 'heartbeats' in entry else '')
            + (f', heartbeats unreadable: {entry["heartbeat_error"]}' if 'heartbeat_error' in entry else '')
            + ')'
            for name, entry in sorted(workers['services'].items())
        ]
        sources.append(f'worker_failure_ratio {workers["ratio"]:.0%} (worst service): ' + '; '.join(parts))
    else:
        sources.append('worker_failure_ratio not measured: no service of kind worker')
    p95 = metric_value(facts.get('metrics') or '', 'http_request_duration_seconds', {'quantile': '0.95'})
    if p95 is not None:
        p95_ms, where = p95 * 1000, "the app's /metrics (http_request_duration_seconds, quantile 0.95)"
    else:
        timing = ((facts.get('probe') or {}).get('timing')) or {}
        p95_ms = timing.get('p95_ms')
        where = f'{timing.get("samples", 0)} calls of {facts.get("latency_url") or "the health URL"}'
    baseline = float(facts.get('baseline_ms') or 0)
    if p95_ms is None:
        sources.append('latency_ratio not measured: no figure from /metrics and no timed call')
    elif baseline <= 0:
        sources.append(
            f'latency_ratio not judged: p95 {p95_ms:.1f} ms from {where}; no baseline '
            '(set rollback_latency_baseline_ms, the p95 of a normal day)'
        )
    else:
        symptoms['latency_ratio'] = round(p95_ms / baseline, 2)
        sources.append(
            f'latency_ratio {p95_ms / baseline:.2f}x: p95 {p95_ms:.1f} ms from {where}, baseline {baseline:g} ms'
        )
    for name, value in sorted((given or {}).items()):
        sources.append(f'{name} {_given(value)}: given by the operator (-e rollback_symptoms), over any measurement')
    return {'symptoms': {**symptoms, **(given or {})}, 'sources': sources}


def deploy_target(history: list[dict[str, Any]], rollback: bool, wanted: str, mode: str) -> str:
    """What to deploy: `wanted` (a git ref or an image VERSION), or with rollback and
    nothing wanted, the newest good deploy before the current one (Q5, F6)."""
    if wanted:
        return str(wanted)
    if not rollback:
        raise AnsibleFilterError(f'nothing to deploy: give a {"git ref" if mode == "git" else "VERSION"}')
    current = history[-1]['value'] if history else None
    good = [entry['value'] for entry in history or [] if not entry.get('bad')]
    earlier = [value for value in good if value != current]
    if not earlier:
        recorded = ', '.join(good) or 'none'
        raise AnsibleFilterError(
            f'no earlier good deploy is recorded (recorded: {recorded}); name the target: '
            + ('-e ref=<commit> (git log --oneline lists them)' if mode == 'git' else '-e version=<VERSION>')
        )
    return earlier[-1]


def deploy_history(
    history: list[dict[str, Any]], value: str, at: str, rolled_back_from: str | None = None, keep: int = 20
) -> list[dict[str, Any]]:
    """The history of healthy deploys with `value` recorded as the newest (unchanged
    when it already is, so that a re-run changes nothing). A rollback marks the deploy
    it left as bad, so that the next rollback does not go back to it."""
    history = [
        {**entry, 'bad': True} if rolled_back_from and entry.get('value') == rolled_back_from else entry
        for entry in history or []
    ]
    if history and history[-1].get('value') == value:
        return history
    return [*history, {'value': value, 'at': at}][-keep:]


def http_status_counts(log: str) -> dict[str, Any]:
    """Requests and 5xx responses in nginx access log lines (combined format)."""
    total = len(HTTP_ANY.findall(log or ''))
    errors = len(HTTP_5XX.findall(log or ''))
    return {'requests': total, 'errors_5xx': errors, 'ratio': errors / total if total else 0.0}


def cert_days_left(openssl_enddate: str, now: str | None = None) -> int:
    """Days until `openssl x509 -enddate` (notAfter=Nov 27 07:00:00 2026 GMT), rounded
    up: a certificate made with -days 5 "expires in 5 days" for its first day."""
    text = (openssl_enddate or '').strip().split('=', 1)[-1]
    try:
        end = datetime.datetime.strptime(text, '%b %d %H:%M:%S %Y %Z').replace(tzinfo=datetime.timezone.utc)
    except ValueError as err:
        raise AnsibleFilterError(f'cert_days_left: not an openssl end date: {openssl_enddate!r}') from err
    start = datetime.datetime.fromisoformat(now) if now else datetime.datetime.now(datetime.timezone.utc)
    return math.ceil((end - start).total_seconds() / 86400)


def cert_days_from_result(result: dict[str, Any], now: str | None = None) -> int | None:
    """Days left of a certificate from a registered `openssl x509 -enddate` result;
    None when openssl could not read it."""
    if result.get('rc') != 0:
        return None
    return cert_days_left(result.get('stdout', ''), now)


def finding_line(finding: dict[str, Any]) -> str:
    """One finding as a line: `critical tls: ... expires in 5 days`."""
    return f"{finding.get('severity')} {finding.get('service')}: {finding.get('problem')}"


def check_findings(facts: dict[str, Any], thresholds: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Findings of the daily/weekly check (Q9, Q10, F3) from the facts it gathered:
    status_findings (from compose_status: containers, health, queues), probes
    (health_probe checks: disk and memory against F3's thresholds), certs {path: days
    left, None when unreadable},
    git {dirty: [files], branch, behind}, http {requests, errors_5xx, ratio},
    log_errors {service: count}. Sorted critical first."""
    limits = {**CHECK_THRESHOLDS, **(thresholds or {})}
    found: list[dict[str, Any]] = list(facts.get('status_findings') or [])
    problems = [
        *_probe_problems(facts.get('probes') or []),
        *_cert_problems(facts.get('certs') or {}, limits),
        *_git_problems(facts.get('git') or {}),
        *_http_problems(facts.get('http') or {}, limits),
        *_log_problems(facts.get('log_errors') or {}),
    ]
    found += [{'severity': severity, 'service': area, 'problem': problem} for severity, area, problem in problems]
    return sorted(found, key=lambda f: SEVERITIES.index(f['severity']))


# Each gives (severity, area, problem) for one kind of facts of check_findings.


def _probe_problems(probes: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    for check in probes:
        if not check.get('ok'):
            yield 'critical', check.get('kind', 'probe'), f'{check.get("name")}: {check.get("detail")}'


def _cert_problems(certs: dict[str, Any], limits: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for path, days in sorted(certs.items()):
        if days is None:
            yield 'critical', 'tls', f'{path} cannot be read as a certificate'
        elif days <= limits['cert_critical_days']:
            yield 'critical', 'tls', f'{path} expires in {days} days (<= {limits["cert_critical_days"]})'
        elif days <= limits['cert_warning_days']:
            yield 'warning', 'tls', f'{path} expires in {days} days (<= {limits["cert_warning_days"]})'


def _git_problems(git: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    if git.get('dirty'):
        yield 'warning', 'git', f'uncommitted changes in the deployed code: {", ".join(git["dirty"][:10])}'
    if str(git.get('behind') or 0) != '0':
        yield 'warning', 'git', f'deployed code is {git["behind"]} commit(s) behind {git.get("upstream", "origin")}'
    if git.get('branch') == 'HEAD':
        yield 'info', 'git', 'deployed code is a detached commit (a rollback?), not a branch'


def _http_problems(http: dict[str, Any], limits: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    if http.get('errors_5xx'):
        severity = 'critical' if http['ratio'] > limits['error_5xx_ratio'] else 'warning'
        yield severity, 'http', f'{http["errors_5xx"]} of {http["requests"]} responses were 5xx ({http["ratio"]:.1%})'


def _log_problems(log_errors: dict[str, int]) -> Iterator[tuple[str, str, str]]:
    for service, count in sorted(log_errors.items()):
        if count:
            yield 'warning', service, f'{count} ERROR line(s) in the last log lines'


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'compose_ps_rows': compose_ps_rows,
            'compose_ps_findings': compose_ps_findings,
            'compose_scaled': compose_scaled,
            'compose_status_summary': compose_status_summary,
            'compose_service_name': compose_service_name,
            'compose_queue_probe': compose_queue_probe,
            'compose_services_of': compose_services_of,
            'scale_steps': scale_steps,
            'rollback_decision': rollback_decision,
            'rollback_measurements': rollback_measurements,
            'log_error_lines': log_error_lines,
            'metric_value': metric_value,
            'worker_failures': worker_failures,
            'heartbeat_patterns': heartbeat_patterns,
            'deploy_target': deploy_target,
            'deploy_history': deploy_history,
            'http_status_counts': http_status_counts,
            'cert_days_left': cert_days_left,
            'cert_days_from_result': cert_days_from_result,
            'finding_line': finding_line,
            'check_findings': check_findings,
        }
