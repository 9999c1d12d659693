# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the disaster-recovery playbook: one assessment from every host's
findings (runbook O1, O3), the recovery path that follows from it (O9), and the
stages of the report's timeline (O11)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

from ansible.errors import AnsibleFilterError

# Healthy releases kept in pm2_app's deploy history (O9.4).
RELEASES_KEPT = 20
SCENARIOS = ('auto', 'db_corruption', 'deploy_failure', 'full_restore')


def assessment_summary(
    probes: list[dict[str, Any]], integrity: list[dict[str, Any]], tests: list[dict[str, Any]], host: str
) -> dict[str, Any]:
    """Components of one host from the registered loop results of its probes.

    probes: health_probe results, item = {key: component, ...};
    integrity: pg_integrity results, item = {component, database, ...};
    tests: config test command results, item = {component, cmd}.
    """
    components: dict[str, dict[str, Any]] = {}
    checks = [*_probe_checks(probes), *_integrity_checks(integrity), *_config_test_checks(tests)]
    for component, ok, text, kind, warning in checks:
        entry = components.setdefault(component, {'ok': True, 'findings': [], 'warnings': [], 'checks': []})
        entry['checks'].append({'kind': kind, 'ok': ok, 'detail': f'{host}: {text}'})
        if warning:
            entry['warnings'].append(f'{host}: {text}')
        elif not ok:
            entry['ok'] = False
            entry['findings'].append(f'{host}: {text}')
    return {'host': host, 'components': components}


# Each gives (component, ok, text, kind, warning) for one kind of assessment_summary's results.


def _probe_checks(probes: list[dict[str, Any]]) -> Iterator[tuple[str, bool, str, str, bool]]:
    for probe in probes or []:
        if probe.get('skipped'):
            continue
        for check in probe.get('checks', []):
            text = f"{check['name']}: {check['detail']}"
            yield probe['item']['key'], check['ok'], text, check.get('kind', 'probe'), False


def _integrity_checks(integrity: list[dict[str, Any]]) -> Iterator[tuple[str, bool, str, str, bool]]:
    for result in integrity or []:
        if result.get('skipped'):
            continue
        item = result['item']
        kind = 'database_down' if not result.get('reachable', False) or not result.get('exists') else 'integrity'
        severities = {entry.get('severity') for entry in result.get('findings') or []}
        # Only damage (critical) calls for a recovery. Nothing to compare with (no reference
        # backup) is a warning: reported, never "ok", and never a reason to restore.
        damaged = 'critical' in severities if 'findings' in result else not result.get('ok')
        text = f"{item['database']}: {result.get('msg', 'no answer')}"
        yield item['component'], not damaged, text, kind, not damaged and not result.get('ok')


def _config_test_checks(tests: list[dict[str, Any]]) -> Iterator[tuple[str, bool, str, str, bool]]:
    for test in tests or []:
        if test.get('skipped'):
            continue
        output = (test.get('stderr') or test.get('stdout') or '').strip().splitlines()
        text = f"{' '.join(test['item']['cmd'])}: {output[-1] if output else 'rc ' + str(test.get('rc'))}"
        yield test['item']['component'], test.get('rc') == 0, text, 'config_test', False


def merge_assessments(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One assessment of every host: per component ok, findings and check kinds that
    failed; and per host the logs that were read."""
    merged: dict[str, dict[str, Any]] = {}
    logs: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        if not summary:
            continue
        if summary.get('logs'):
            logs[summary['host']] = summary['logs']
        for name, component in summary['components'].items():
            entry = merged.setdefault(
                name, {'ok': True, 'findings': [], 'warnings': [], 'failed_kinds': [], 'hosts': []}
            )
            entry['hosts'].append(summary['host'])
            entry['ok'] = entry['ok'] and component['ok']
            entry['findings'] += component['findings']
            entry['warnings'] += component.get('warnings', [])
            entry['failed_kinds'] += [c['kind'] for c in component['checks'] if not c['ok']]
    affected = sorted(name for name, entry in merged.items() if not entry['ok'])
    return {'components': merged, 'affected': affected, 'healthy': not affected, 'logs': logs}


def recovery_plan(assessment: dict[str, Any], scenario: str = 'auto', force_restore: bool = False) -> dict[str, Any]:
    """The recovery steps for a scenario, each with the reason; 'refusal' is set when
    the scenario asks for something the assessment does not support."""
    if scenario not in SCENARIOS:
        raise AnsibleFilterError(f"recovery_plan: unknown scenario '{scenario}'; use one of {', '.join(SCENARIOS)}")
    components = assessment.get('components', {})

    def failed(component: str, *kinds: str) -> bool:
        entry = components.get(component, {'ok': True, 'failed_kinds': []})
        return not entry['ok'] and (not kinds or any(kind in entry['failed_kinds'] for kind in kinds))

    db_down = failed('db', 'postgres', 'database_down', 'service')
    db_damaged = failed('db', 'integrity')
    plan: dict[str, Any] = {
        'scenario': scenario,
        'restart_database': db_down,
        'restore_database': scenario == 'full_restore'
        or force_restore
        or (db_damaged and scenario != 'deploy_failure'),
        'release': scenario == 'deploy_failure',
        'restart_api': scenario != 'deploy_failure'
        and (failed('api', 'pm2') or (failed('api') and not db_down and not db_damaged)),
        'recover_web': failed('web'),
        'refusal': '',
        'reasons': [],
    }
    if scenario == 'db_corruption' and not (db_damaged or db_down or force_restore):
        plan['refusal'] = (
            'scenario db_corruption, but the assessment finds the database intact (every table of the newest '
            'backup present, no table with fewer rows). If it is damaged in a way these checks cannot see, '
            'run again with -e dr_force_restore=true; otherwise pick the scenario that matches the symptoms.'
        )
    reasons = {
        'restart_database': 'PostgreSQL does not answer (O3): restart it',
        'restore_database': 'restore the database from the newest verified backup by rename-swap (O5, O6)',
        'release': 'check out the last stable release, install, build and restart the API (O9.4)',
        'restart_api': 'the API is down or unhealthy while its database is fine (O2): restart it',
        'recover_web': 'nginx is down or failing (O4): test its configuration, then start or reload it',
    }
    plan['reasons'] = [text for key, text in reasons.items() if plan[key]]
    plan['actions'] = [key for key in reasons if plan[key]]
    return plan


def last_good_release(state: dict[str, Any] | None, head: str, head_healthy: bool = False) -> dict[str, Any]:
    """The release to go back to after a failed deploy (O9.4): the newest healthy deploy
    recorded by pm2_app that is not the running commit ``head`` and not marked bad, with
    the reason in words. ``state`` is the history file: {history: [{value, at, bad}], refs}.
    When the running commit is that newest release and answers its checks now
    (``head_healthy``), it is the choice: the failed deploy was already rolled back."""
    history = (state or {}).get('history') or []
    refs = (state or {}).get('refs') or {}

    def name(commit: str) -> str:
        return f'{refs[commit]} ({commit[:12]})' if refs.get(commit) else commit[:12]

    newest = next((entry for entry in reversed(history) if not entry.get('bad')), None)
    if head_healthy and newest and newest.get('value') == head:
        return {
            'commit': head,
            'ref': refs.get(head, ''),
            'at': newest.get('at'),
            'reason': f'the running commit {name(head)} is the newest release recorded healthy and answers '
            'its checks now: nothing left to roll back',
        }

    good = [entry for entry in history if not entry.get('bad') and entry.get('value') != head]
    if not good:
        recorded = '; '.join(
            f"{name(entry['value'])} at {entry.get('at')}{' (bad)' if entry.get('bad') else ''}" for entry in history
        )
        raise AnsibleFilterError(
            'no earlier healthy deploy is recorded to go back to (recorded: '
            f'{recorded or "nothing"}; running: {head[:12]}). Name the release: -e dr_stable_ref=<tag or commit> '
            '(git tag and git log --oneline list them).'
        )
    chosen = good[-1]
    current = next((entry for entry in history if entry.get('value') == head), None)
    running = (
        f'the running commit {name(head)} is marked bad'
        if current and current.get('bad')
        else f'the running commit {name(head)} was recorded healthy at {current.get("at")} and failed since'
        if current
        else f'the running commit {head[:12]} was never recorded as a healthy deploy'
    )
    return {
        'commit': chosen['value'],
        'ref': refs.get(chosen['value'], ''),
        'at': chosen.get('at'),
        'reason': f"{name(chosen['value'])}, the newest deploy recorded healthy (at {chosen.get('at')}); {running}",
    }


def record_release(state: dict[str, Any] | None, commit: str, ref: str, at: str, replaced: str = '') -> dict[str, Any]:
    """The history file after a healthy release of ``commit`` (named ``ref``), unchanged
    when it is already the newest entry; ``replaced`` (the commit a failed-deploy recovery
    left) is marked bad so that it is never chosen again."""
    history = [
        {**entry, 'bad': True} if replaced and replaced != commit and entry.get('value') == replaced else entry
        for entry in (state or {}).get('history') or []
    ]
    refs = dict((state or {}).get('refs') or {})
    if ref and ref != commit and commit not in refs:
        refs[commit] = ref
    if not history or history[-1].get('value') != commit:
        history = [*history, {'value': commit, 'at': at}][-RELEASES_KEPT:]
    refs = {key: value for key, value in refs.items() if any(entry['value'] == key for entry in history)}
    return {'history': history, 'refs': refs}


def timeline_stages(marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stages in order of their start, with start, end and seconds, from the
    {stage, event, at} marks of the incident_report role (UTC ISO times)."""
    stages: dict[str, dict[str, Any]] = {}
    for mark in marks or []:
        entry = stages.setdefault(mark['stage'], {'stage': mark['stage'], 'start': None, 'end': None, 'seconds': None})
        entry['start' if mark['event'] == 'start' else 'end'] = mark['at']
    for entry in stages.values():
        if entry['start'] and entry['end']:
            entry['seconds'] = round((_parse(entry['end']) - _parse(entry['start'])).total_seconds(), 1)
    return list(stages.values())


def recovery_results(hosts: list[Any], plan: dict[str, Any]) -> dict[str, list[str]]:
    """Lines of the report's Results section, per stage, from the result facts that
    the roles publish on each host (pm2_app_result, pg_restore_result, ...)."""
    out: dict[str, list[str]] = {'respond': [], 'restore': [], 'verify': [], 'monitor': []}
    for host_vars in hosts:
        host = host_vars.get('inventory_hostname')
        facts = {key: host_vars.get(key) for key in _RESULT_FACTS}
        for reader in (_app_lines, _restore_lines, _verify_lines, _monitor_lines):
            for stage, line in reader(host, facts, plan):
                out[stage].append(line)
    return {stage: lines for stage, lines in out.items() if lines}


# Each gives (stage, line) of recovery_results from one host's result facts.


def _app_lines(host: str, facts: dict[str, Any], plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """PostgreSQL restarted, the release chosen, the app (re)started, nginx reloaded."""
    if (facts['disaster_recovery_postgresql_restart'] or {}).get('changed'):
        yield 'respond', f'{host}: PostgreSQL restarted'
    if facts['pm2_app_last_good'] and plan.get('release'):
        yield 'restore', f"{host}: release chosen from the deploy history: {facts['pm2_app_last_good']['reason']}"
    pm2 = facts['pm2_app_result']
    if pm2 and (plan.get('restart_api') or plan.get('release')):
        yield ('restore' if plan.get('release') else 'respond'), _pm2_line(host, pm2)
    nginx = facts['nginx_reload_result']
    if nginx and plan.get('recover_web'):
        yield 'respond', f"{host}: nginx configuration test passed; nginx {nginx['state']}"


def _pm2_line(host: str, pm2: dict[str, Any]) -> str:
    app = pm2.get('app') or {}
    line = f"{host}: {pm2['name']} {app.get('status', '?')} (pid {app.get('pid')}, restarts {app.get('restarts')})"
    line += ', after the fallback (delete, install, build, start)' if pm2.get('fallback_used') else ''
    return line + (f", commit {pm2['commit'][:12]}" if pm2.get('commit') else '')


def _restore_lines(host: str, facts: dict[str, Any], plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The database restored (from which backup, rows per table), the app files."""
    if not plan.get('restore_database'):
        return
    restore = facts['pg_restore_result']
    if restore:
        backup = restore.get('backup') or {}
        rows = ', '.join(f'{name}={count}' for name, count in sorted((restore.get('tables') or {}).items()))
        yield (
            'restore',
            f"{host}: restored from {backup.get('path')} (taken {backup.get('created_at')}); "
            f"the damaged database is kept as {restore.get('broken') or '(already swapped)'}; rows: {rows}",
        )
    files = (facts['full_restore_result'] or {}).get('app_files')
    if files:
        yield 'restore', f"{host}: app files restored from the same backup: {', '.join(files)}"


def _verify_lines(host: str, facts: dict[str, Any], plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The health check, and the post-recovery checks (rows, logins, files, load test)."""
    health = facts['health_check_result']
    if health:
        failed = ', '.join(health.get('failed_checks') or [])
        count = len(health.get('checks') or [])
        yield 'verify', f'{host}: {count} checks, ' + (f'FAILED: {failed}' if failed else 'all healthy')
    post = facts['post_recovery_result']
    if not post:
        return
    for database, tables in (post.get('integrity') or {}).items():
        rows = ', '.join(f"{name}={row['rows']} (backup {row['backup_rows']})" for name, row in tables.items())
        yield 'verify', f'{host}: {database} rows {rows}'
    yield (
        'verify',
        f"{host}: {post.get('failed_logins')} failed logins, {len(post.get('changed_files') or [])} files "
        'changed in the watched directories in the last day',
    )
    load = post.get('load_test')
    if load:
        yield (
            'verify',
            f"{host}: load test {load['requests']} requests, {load['failed']} failed, "
            f"{load['requests_per_second']} req/s, mean {load['mean_ms']} ms, p99 {load['p99_ms']} ms",
        )


def _monitor_lines(host: str, facts: dict[str, Any], plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    monitoring = facts['monitoring_on_result']
    if monitoring:
        newest = monitoring.get('newest_backup') or {}
        yield (
            'monitor',
            f"{host}: auto-recovery on; newest verified backup {newest.get('path', 'none')}"
            + (f", {newest['age_minutes'] / 60:.1f} h old" if newest.get('age_minutes') is not None else ''),
        )


_RESULT_FACTS = (
    'disaster_recovery_postgresql_restart',
    'pm2_app_result',
    'pm2_app_last_good',
    'full_restore_result',
    'nginx_reload_result',
    'pg_restore_result',
    'health_check_result',
    'post_recovery_result',
    'monitoring_on_result',
)


_AB_FIGURES = {
    'requests': (r'Complete requests:\s+(\d+)', int),
    'failed': (r'Failed requests:\s+(\d+)', int),
    'requests_per_second': (r'Requests per second:\s+([\d.]+)', float),
    'mean_ms': (r'Time per request:\s+([\d.]+) \[ms\] \(mean\)', float),
    'p99_ms': (r'^\s+99%\s+(\d+)', int),
}


def ab_figures(output: str) -> dict[str, Any]:
    """The figures of an ApacheBench (ab) report; None for a figure it lacks."""
    figures: dict[str, Any] = {}
    for key, (pattern, kind) in _AB_FIGURES.items():
        match = re.search(pattern, output or '', re.MULTILINE)
        figures[key] = kind(match.group(1)) if match else None
    return figures


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%fZ')


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'assessment_summary': assessment_summary,
            'merge_assessments': merge_assessments,
            'last_good_release': last_good_release,
            'record_release': record_release,
            'recovery_plan': recovery_plan,
            'timeline_stages': timeline_stages,
            'recovery_results': recovery_results,
            'ab_figures': ab_figures,
        }
