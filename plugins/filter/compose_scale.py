# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the compose_service role's runs over several services: the QA-Arena
sequential restart (runbook Q3, the guide's 2.3: backend, celery worker, nginx, each
healthy before the next), the Fragrance AI scaling of several services at once (F4, F5
for worker-llm and worker-rl, F5's emergency downscale) and the check after scaling:
the workers' registration lines and live registrations against the replica count, the
jobs each replica did (load spread) and the queue lengths.

The step rules are those of ``scale_steps`` (``compose.py``): up in one step, down one
replica at a time, straight to the target in an emergency. The rows these filters read
are those of ``compose_ps_rows`` (``docker compose ps --format json``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.compose import compose_service_name, scale_steps

ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
# docker compose logs: "<container without the project prefix>  | <line>"
LOG_PREFIX = re.compile(r'^(?P<name>[^\s|]+)\s+\| ?(?P<line>.*)$')


def _words(value: Any) -> list[str]:
    """A list given as a list or as a comma-separated string (-e services=a,b)."""
    if value is None or value == '':
        return []
    if isinstance(value, str):
        return [word.strip() for word in value.split(',') if word.strip()]
    if isinstance(value, (list, tuple)):
        return [str(word).strip() for word in value if str(word).strip()]
    raise AnsibleFilterError(f'expected a list of services or a comma-separated string, got {value!r}')


def _count(value: Any, what: str) -> int:
    try:
        count = int(str(value).strip())
    except ValueError as err:
        raise AnsibleFilterError(f'{what}: a replica count must be a whole number, got {value!r}') from err
    if count < 0:
        raise AnsibleFilterError(f'{what}: a replica count cannot be negative ({count})')
    return count


def compose_service_list(names: Any, services: dict[str, Any]) -> list[str]:
    """The compose services named by `names` (a list or "a,b,c"; service or container
    names), in the given order. A name given twice is an error: a sequence acts on
    each service once."""
    resolved = [compose_service_name(name, services) for name in _words(names)]
    twice = sorted({service for service in resolved if resolved.count(service) > 1})
    if twice:
        raise AnsibleFilterError(f'a service is named more than once: {", ".join(twice)}')
    return resolved


def scale_targets(replicas: Any, names: Any, services: dict[str, Any]) -> dict[str, int]:
    """{service: replicas} of a scaling run. `replicas` is one count for every service
    in `names`, or per service: a dict {name: count} or a string "a=3,b=1" (then `names`
    may be left empty, or must name the same services)."""
    if isinstance(replicas, str) and '=' in replicas:
        pairs = [pair.split('=', 1) for pair in _words(replicas)]
        if any(len(pair) != 2 for pair in pairs):
            raise AnsibleFilterError(f'replicas: expected service=count pairs, got {replicas!r}')
        replicas = dict(pairs)
    if isinstance(replicas, Mapping):
        targets = {
            compose_service_name(str(name).strip(), services): _count(count, str(name))
            for name, count in replicas.items()
        }
        if len(targets) != len(replicas):
            raise AnsibleFilterError('replicas: a service is named more than once')
        listed = compose_service_list(names, services)
        if listed and set(listed) != set(targets):
            raise AnsibleFilterError(
                f'replicas names {", ".join(targets)} but services names {", ".join(listed)}: give one of them'
            )
        if not targets:
            raise AnsibleFilterError('replicas: no service to scale')
        return targets
    listed = compose_service_list(names, services)
    if not listed:
        raise AnsibleFilterError('no service to scale: give service=, services= or replicas={service: count}')
    count = _count(replicas, ', '.join(listed))
    return dict.fromkeys(listed, count)


def running_counts(rows: list[dict[str, Any]], services: list[str]) -> dict[str, int]:
    """Running containers per service (0 for a service with none)."""
    counts = dict.fromkeys(services or [], 0)
    for row in rows or []:
        if (row.get('State') or '').lower() == 'running' and row.get('Service') in counts:
            counts[row['Service']] += 1
    return counts


def scale_plan(current: dict[str, int], targets: dict[str, int], emergency: bool = False) -> list[dict[str, Any]]:
    """The steps of a scaling run over several services: each service in turn goes
    through ``scale_steps`` (up in one step, down one replica at a time); in an
    emergency one step takes every service straight to its target (F5: --scale
    worker-llm=1 --scale worker-rl=1). Each step: scale {service: count}, label (the
    count alone when one service is scaled), wait (true when the next step takes the
    same service one replica further down, so that the wait and the check come between
    downscale steps), up (the step adds replicas: a backlog is then why, not a failure)."""
    single = len(targets) == 1

    def label(scale: dict[str, int]) -> str:
        if single:
            return str(next(iter(scale.values())))
        return ', '.join(f'{service}={count}' for service, count in scale.items())

    if emergency:
        scale = {
            service: int(count) for service, count in targets.items() if int(count) != int(current.get(service, 0))
        }
        for service, count in scale.items():
            scale_steps(current.get(service, 0), count, True)  # refuses a negative count
        up = any(count > int(current.get(service, 0)) for service, count in scale.items())
        return [{'scale': scale, 'label': label(scale), 'wait': False, 'up': up}] if scale else []
    steps: list[dict[str, Any]] = []
    for service, target in targets.items():
        counts = scale_steps(current.get(service, 0), target, False)
        for index, count in enumerate(counts):
            scale = {service: count}
            up = count > int(current.get(service, 0))
            steps.append({'scale': scale, 'label': label(scale), 'wait': index + 1 < len(counts), 'up': up})
    return steps


def scale_mismatches(rows: list[dict[str, Any]], wanted: dict[str, int]) -> list[str]:
    """Services whose running containers are not the wanted count, as sentences."""
    counts = running_counts(rows, list(wanted))
    return [
        f'{service} has {counts[service]} running containers, not {count}'
        for service, count in wanted.items()
        if counts[service] != int(count)
    ]


def compose_service_ready(rows: list[dict[str, Any]], service: str) -> dict[str, Any]:
    """Whether every container of `service` runs and, if it has a health check, is
    healthy (not starting). ok, and the problems as sentences."""
    mine = [row for row in rows or [] if row.get('Service') == service]
    problems = []
    if not mine:
        problems.append(f'{service} has no container')
    for row in mine:
        name, state = row.get('Name', service), (row.get('State') or '').lower()
        health = (row.get('Health') or '').lower()
        if state != 'running':
            problems.append(f'{name} is {state or "unknown"}: {row.get("Status", "")}'.rstrip(': '))
        elif health not in ('', 'healthy'):
            problems.append(f'{name} is running, health {health}')
    return {'ok': not problems, 'problems': problems}


def _log_counts(logs: str, rows: list[dict[str, Any]], pattern: str) -> dict[str, dict[str, int]]:
    """{service: {container: lines matching pattern}} for the running containers of
    rows, from `docker compose logs` output (prefix: the container's name without the
    project)."""
    running = [row for row in rows or [] if (row.get('State') or '').lower() == 'running']
    counts: dict[str, dict[str, int]] = {}
    by_prefix: dict[str, tuple[str, str]] = {}
    for row in running:
        name, service = row.get('Name', ''), row.get('Service', '')
        counts.setdefault(service, {})[name] = 0
        by_prefix[name] = (service, name)
        project = row.get('Project')
        if project and name.startswith(f'{project}-'):
            by_prefix[name[len(project) + 1 :]] = (service, name)
    try:
        wanted = re.compile(pattern) if pattern else None
    except re.error as err:
        raise AnsibleFilterError(f'not a regular expression: {pattern!r}: {err}') from err
    for raw in (logs or '').splitlines():
        match = LOG_PREFIX.match(ANSI.sub('', raw).strip('\r'))
        if not match or match['name'] not in by_prefix or wanted is None or not wanted.search(match['line']):
            continue
        service, name = by_prefix[match['name']]
        counts[service][name] += 1
    return counts


def _summary_line(service: str, entry: dict[str, Any]) -> str:
    """One service of the report as a line for the operator."""
    parts = [f'{service}: {entry["running"]} of {entry["replicas"]} running']
    if 'live' in entry:
        parts.append(f'{entry["live"]} live registrations')
    if entry.get('new'):
        parts.append(f'new {", ".join(entry["new"])}')
    if 'registered' in entry:
        parts.append(f'registration lines since the start: {", ".join(entry["registered"]) or "none"}')
    if 'jobs' in entry:
        parts.append(f'jobs done since the start: {", ".join(f"{n} {c}" for n, c in entry["jobs"].items()) or "none"}')
    return '; '.join(parts)


def compose_scale_report(
    targets: dict[str, int],
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    workers: dict[str, Any],
    *,
    logs: str = '',
    live: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The check after scaling (F4 "verify", "monitor worker registration", "check
    queue processing"), per service of `targets`:

    running: running containers (must be the target); new: containers running now that
    were not before the run; registered: containers with a registration line (workers'
    `registered` regex) in `logs` (the services' lines since the run started); a new
    container without one is a critical finding. live: the worker's live registrations
    (registered loop results of a Redis key scan, item.key = service), which must equal
    the target. jobs: done-job lines (`done` regex) per container since the run
    started, the load spread: a replica with none while the others did at least one
    each on average is a warning. status: the compose_status fact read after the run;
    its findings (queue lengths over the maximum among them) are added, as warnings
    when a service is scaled to 0 on purpose (F10), and its queue lengths reported.
    lines: the report as lines for the operator."""
    workers = workers or {}
    before_names = {row.get('Name') for row in before or [] if (row.get('State') or '').lower() == 'running'}
    run = _ScaleRun(after, before_names, logs, _live_counts(live))
    findings: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    for service, target in targets.items():
        report[service], problems = run.service_entry(service, target, workers.get(service) or {})
        findings += [_finding(*problem) for problem in problems]
    status = status or {}
    queues = dict(status.get('queues') or {})
    findings += _status_findings(status.get('findings') or [], targets, report)
    return {
        'services': report,
        'lines': [_summary_line(service, entry) for service, entry in report.items()]
        + ([f'queues: {", ".join(f"{name} {length}" for name, length in queues.items())}'] if queues else []),
        'queues': queues,
        'findings': sorted(findings, key=lambda f: ('critical', 'warning', 'info').index(f.get('severity', 'info'))),
        'ok': not any(f['severity'] == 'critical' for f in findings),
    }


def _finding(severity: str, service: str, problem: str) -> dict[str, Any]:
    return {'severity': severity, 'service': service, 'problem': problem}


def _live_counts(live: list[dict[str, Any]] | None) -> dict[str, Any]:
    """service -> live registrations from the Redis key scans, or why they were not read."""
    counts: dict[str, Any] = {}
    for result in live or []:
        item = result.get('item') or {}
        service = item.get('key')
        if result.get('skipped'):
            counts[service] = 'not read: no Redis service is described (compose_redis)'
        elif result.get('rc') == 0:
            counts[service] = len([line for line in result.get('stdout_lines') or [] if line.strip()])
        else:
            detail = f"{result.get('stderr', '')}{result.get('msg', '')}".strip()
            counts[service] = f'not read: {detail[-200:]}'
    return counts


@dataclass
class _ScaleRun:
    """What compose_scale_report reads for every service: the containers after the run,
    the names of those running before it, the logs since it started, the live counts."""

    after: list[dict[str, Any]] | None
    before_names: set[Any]
    logs: str
    live_counts: dict[str, Any]

    def service_entry(
        self, service: str, target: Any, spec: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        """(the report of one service, its problems as (severity, service, problem))."""
        running = sorted(
            row.get('Name', '')
            for row in self.after or []
            if row.get('Service') == service and (row.get('State') or '').lower() == 'running'
        )
        entry: dict[str, Any] = {'replicas': int(target), 'running': len(running), 'containers': running}
        problems = []
        if len(running) != int(target):
            problems.append(('critical', service, f'{service} has {len(running)} running containers, not {target}'))
        if spec:
            entry['new'] = [name for name in running if name not in self.before_names]
            problems += self._registrations(service, spec, running, entry)
            problems += self._live_registrations(service, target, spec, entry)
            problems += self._jobs(service, spec, entry)
        return entry, problems

    def _registrations(
        self, service: str, spec: dict[str, Any], running: list[str], entry: dict[str, Any]
    ) -> list[tuple[str, str, str]]:
        """A new container must have logged its registration line."""
        if not spec.get('registered'):
            return []
        lines = _log_counts(self.logs, self.after, spec['registered']).get(service, {})
        entry['registered'] = sorted(name for name in running if lines.get(name))
        return [
            ('critical', service, f'{name} started in this run but logged no registration line yet')
            for name in entry['new']
            if not lines.get(name)
        ]

    def _live_registrations(
        self, service: str, target: Any, spec: dict[str, Any], entry: dict[str, Any]
    ) -> list[tuple[str, str, str]]:
        """The worker's live registrations in Redis must equal the target."""
        if not spec.get('redis_keys'):
            return []
        live_count = entry['live'] = self.live_counts.get(service, 'not read')
        if isinstance(live_count, str):
            return [('critical', service, f'{service}: live registrations ({spec["redis_keys"]}) {live_count}')]
        if live_count != int(target):
            problem = f'{service}: {live_count} live registrations ({spec["redis_keys"]}) for {target} replicas'
            return [('critical', service, problem)]
        return []

    def _jobs(self, service: str, spec: dict[str, Any], entry: dict[str, Any]) -> list[tuple[str, str, str]]:
        """The load spread: a replica with no job while the others did one each on average."""
        if not spec.get('done'):
            return []
        jobs = entry['jobs'] = _log_counts(self.logs, self.after, spec['done']).get(service, {})
        idle = sorted(name for name, count in jobs.items() if count == 0)
        if len(jobs) > 1 and idle and sum(jobs.values()) >= len(jobs):
            problem = (
                f'{", ".join(idle)} did no job since the run started, while the others did'
                f' {sum(jobs.values())}: check that every replica takes work'
            )
            return [('warning', service, problem)]
        return []


def _status_findings(
    status_findings: list[dict[str, Any]], targets: dict[str, int], report: dict[str, Any]
) -> list[dict[str, Any]]:
    """The findings of the stack after the run, as warnings where they are expected: a
    service scaled to 0 on purpose (F10), a queue backlog just scaled up for (F4)."""
    zeroed = sorted(service for service, count in targets.items() if int(count) == 0)
    grown = sorted(service for service, entry in report.items() if entry.get('new'))
    findings = []
    for finding in status_findings:
        if zeroed and finding.get('severity') == 'critical':
            # F10: a service taken to 0 on purpose; what the stack misses is shown, not failed on.
            findings.append(
                _finding('warning', finding.get('service', '?'), f'{finding.get("problem")} ({", ".join(zeroed)} at 0)')
            )
        elif grown and str(finding.get('service', '')).startswith('queue '):
            # F4: a backlog is why one scales up; the new replicas work it off, watched, not failed on.
            findings.append(
                _finding(
                    'warning', finding['service'], f'{finding.get("problem")} (just scaled up: {", ".join(grown)})'
                )
            )
        else:
            findings.append(dict(finding))
    return findings


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'compose_service_list': compose_service_list,
            'compose_service_ready': compose_service_ready,
            'scale_targets': scale_targets,
            'running_counts': running_counts,
            'scale_plan': scale_plan,
            'scale_mismatches': scale_mismatches,
            'compose_scale_report': compose_scale_report,
        }
