#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_watch
short_description: Watch a compose stack's error rate and health for a bounded time
version_added: 0.3.0
description:
  - The "monitor for 30 minutes" step after a rollback (runbook F9) and at the end of a
    maintenance window (F13), bounded and with figures.
  - Calls O(health_url) every O(interval) seconds for O(seconds) seconds, checking the
    status (200) and the JSON fields of O(health_json). O(health_failures) failed calls in a
    row end the watch at once (F3 alerts after 2).
  - At the end, counts the answers and the 5xx answers in the access log lines of
    O(proxy_services) written since the watch began (C(docker compose logs --since)),
    and compares the ratio with O(max_error_ratio) (F9 - below 1 %). Without a proxy, or
    when the proxy logged no request, the ratio is that of the failed health calls.
  - Fails when the health failed O(health_failures) times in a row or the error rate is
    over the limit; the result carries the figures either way.
  - In check mode it does not wait; it says what it would watch.
requirements:
  - With O(proxy_services), the Docker CLI with the Docker compose plugin (C(docker compose logs))
    on the target, and a user allowed to use the Docker daemon
  - Without it, Python's standard library only
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  health_url:
    description: The URL to call, from the host (the stack's health URL, F1).
    type: str
    required: true
  health_json:
    description: JSON fields the answer must have, by dotted path (as in M(sre.runbooks.health_probe)).
    type: dict
    default: {}
  timeout:
    description: Seconds one health call may take.
    type: float
    default: 5
  seconds:
    description: How long to watch, in seconds.
    type: float
    required: true
  interval:
    description: Seconds between two health calls.
    type: float
    default: 30
  max_error_ratio:
    description: Highest acceptable share of 5xx answers (0.01 is 1 %); a higher one fails.
    type: float
    default: 0.01
  health_failures:
    description: Failed health calls in a row that end the watch and fail it.
    type: int
    default: 2
  project_dir:
    description: The compose project directory; empty reads no access log.
    type: path
    default: ""
  files:
    description: Compose files, relative to O(project_dir).
    type: list
    elements: str
    default: []
  env_files:
    description: Env files, relative to O(project_dir).
    type: list
    elements: str
    default: []
  proxy_services:
    description: Services whose logs are access log lines (nginx's combined format).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Read-only; in check mode it returns at once with what it would watch.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Never changes anything.
seealso:
  - module: sre.runbooks.health_probe
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Watch the Fragrance stack for 5 minutes after the rollback
  sre.runbooks.compose_watch:
    health_url: http://localhost:8000/health
    health_json: {status: healthy}
    seconds: 300
    interval: 30
    project_dir: /home/ubuntu/fragrance-ai
    files: [docker-compose.production.yml]
    env_files: [.env]
    proxy_services: [nginx]
"""

RETURN = r"""
watch:
  description: The figures of the watch.
  returned: always
  type: dict
  sample:
    ok: true
    seconds: 300.2
    samples: 11
    health_failed: 0
    latency_p95_ms: 12.4
    requests: 412
    errors_5xx: 0
    error_ratio: 0.0
    error_source: access log of nginx
    problems: []
    started_at: "2026-12-04T17:30:00.123456Z"
    line: "watched 300 s: 11 health calls, 0 failed, p95 12.4 ms; 0 of 412 answers 5xx (0.00 %) - ok"
"""

import datetime
import re
import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._health import percentile, probe_http

HTTP_ANY = re.compile(r'" ([1-5]\d\d) ')


def status_counts(log: str) -> tuple[int, int]:
    """(answers, 5xx answers) in nginx access log lines (combined format)."""
    codes = HTTP_ANY.findall(log or '')
    return len(codes), sum(1 for code in codes if code.startswith('5'))


def sample_times(seconds: float, interval: float) -> int:
    """How many health calls a whole watch makes: one at the start, then one per interval."""
    return int(max(0.0, seconds) // max(interval, 0.1)) + 1


def watch(
    call: Callable[[], dict[str, Any]],
    seconds: float,
    interval: float,
    failures_in_a_row: int,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Call `call` every `interval` seconds until `seconds` have passed, or until it
    failed `failures_in_a_row` times in a row. Returns the calls and why it stopped."""
    began, calls, row = clock(), [], 0
    limit = max(1, failures_in_a_row)
    planned = sample_times(seconds, interval)
    while True:
        result = call()
        calls.append(result)
        row = 0 if result.get('ok') else row + 1
        if row >= limit:
            return {'calls': calls, 'stopped_early': len(calls) < planned, 'failed_in_a_row': row, 'began': began}
        if len(calls) >= planned:
            return {'calls': calls, 'stopped_early': False, 'failed_in_a_row': row, 'began': began}
        sleep(max(0.0, began + len(calls) * interval - clock()))


def figures(
    outcome: dict[str, Any],
    log_counts: tuple[int, int] | None,
    proxy: str,
    *,
    max_error_ratio: float,
    failures_in_a_row: int,
    elapsed: float,
) -> dict[str, Any]:
    """The watch's figures and verdict from its calls and the access log counts."""
    calls = outcome['calls']
    failed = [c for c in calls if not c.get('ok')]
    timings = [c['timing']['p95_ms'] for c in calls if (c.get('timing') or {}).get('p95_ms') is not None]
    if log_counts and log_counts[0]:
        requests, errors = log_counts
        source = f'access log of {proxy}'
    else:
        requests, errors = len(calls), len(failed)
        source = 'health calls' + (f' ({proxy} logged no request)' if proxy else '')
    ratio = errors / requests if requests else 0.0
    problems = []
    if outcome['failed_in_a_row'] >= max(1, failures_in_a_row):
        problems.append(
            f'health failed {outcome["failed_in_a_row"]} times in a row (last: {failed[-1].get("detail")})'
            + (', the watch stopped early' if outcome['stopped_early'] else '')
        )
    if ratio > max_error_ratio:
        problems.append(f'error rate {ratio:.2%} ({errors} of {requests} answers 5xx) is over {max_error_ratio:.2%}')
    result = {
        'ok': not problems,
        'seconds': round(elapsed, 1),
        'samples': len(calls),
        'health_failed': len(failed),
        'latency_p95_ms': round(percentile(timings, 95), 1) if timings else None,
        'requests': requests,
        'errors_5xx': errors,
        'error_ratio': round(ratio, 4),
        'error_source': source,
        'max_error_ratio': max_error_ratio,
        'stopped_early': outcome['stopped_early'],
        'problems': problems,
    }
    result['line'] = (
        f'watched {elapsed:.0f} s: {len(calls)} health calls, {len(failed)} failed, '
        f'p95 {result["latency_p95_ms"]} ms; {errors} of {requests} answers 5xx ({ratio:.2%}, from the {source}) - '
        + ('ok' if not problems else 'FAILED: ' + '; '.join(problems))
    )
    return result


def compose_logs_argv(docker: str, p: dict[str, Any], since: str) -> list[str]:
    """docker compose logs of the proxy services since the watch began."""
    directory = p['project_dir']
    argv = [docker, 'compose', '--ansi', 'never', '--project-directory', directory]
    argv += [f'--file={directory}/{name}' for name in p['files']]
    argv += [f'--env-file={directory}/{name}' for name in p['env_files']]
    return [*argv, 'logs', '--no-color', '--since', since, *p['proxy_services']]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            health_url=dict(type='str', required=True),
            health_json=dict(type='dict', default={}),
            timeout=dict(type='float', default=5),
            seconds=dict(type='float', required=True),
            interval=dict(type='float', default=30),
            max_error_ratio=dict(type='float', default=0.01),
            health_failures=dict(type='int', default=2),
            project_dir=dict(type='path', default=''),
            files=dict(type='list', elements='str', default=[]),
            env_files=dict(type='list', elements='str', default=[]),
            proxy_services=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['seconds'] < 0 or p['interval'] <= 0:
        module.fail_json(msg=f'seconds must be >= 0 and interval > 0 (got {p["seconds"]}, {p["interval"]})')
    proxy = ', '.join(p['proxy_services']) if p['project_dir'] else ''
    count = sample_times(p['seconds'], p['interval'])
    planned = (
        f'{p["health_url"]} every {p["interval"]:g} s for {p["seconds"]:g} s ({count}'
        f' calls), and the 5xx answers in the access log of {proxy or "(no proxy: the health calls)"}'
        f' against {p["max_error_ratio"]:.2%}'
    )
    if module.check_mode:
        module.exit_json(changed=False, watch={'ok': True, 'check_mode': True, 'line': f'would watch {planned}'})

    docker = module.get_bin_path('docker', required=True) if proxy else ''
    started_at = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    spec = {'url': p['health_url'], 'json': p['health_json'] or None, 'timeout': p['timeout'], 'samples': 1}
    began = time.monotonic()
    outcome = watch(lambda: probe_http(spec), p['seconds'], p['interval'], p['health_failures'])
    log_counts = None
    if proxy:
        rc, out, err = module.run_command(compose_logs_argv(docker, p, started_at))
        if rc != 0:
            module.fail_json(msg=f'could not read the logs of {proxy} after the watch: {err.strip() or out.strip()}')
        log_counts = status_counts(out)
    result = figures(
        outcome,
        log_counts,
        proxy,
        max_error_ratio=p['max_error_ratio'],
        failures_in_a_row=p['health_failures'],
        elapsed=time.monotonic() - began,
    )
    result['started_at'] = started_at
    if not result['ok']:
        module.fail_json(msg=f'The watch of {p["health_url"]} failed: ' + '; '.join(result['problems']), watch=result)
    module.exit_json(changed=False, watch=result)


if __name__ == '__main__':
    main()
