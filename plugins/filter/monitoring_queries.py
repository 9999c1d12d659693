# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the monitoring_queries role (PlayCode runbook P9, section 4.2/4.3): they
read what ansible.builtin.uri brought back from the Prometheus HTTP API
(``/api/v1/query``) and from Loki (``/loki/api/v1/query_range``) and turn it into
findings ``{source, name, title, query, severity, message, value, ...}``.

Severities, from best to worst: ``ok``, ``warn``, ``nodata``, ``critical``, ``error``.
A query that returns no series (or only NaN, a ratio of no requests) is ``nodata``,
never ``ok``: an empty answer says nothing about the app. An answer that is not HTTP 200
with ``status: success`` is ``error`` and names the URL."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ansible.errors import AnsibleFilterError

SEVERITIES = ('ok', 'warn', 'nodata', 'critical', 'error')
FAIL_ON = {'none': ('error',), 'critical': ('critical', 'error'), 'warn': ('warn', 'nodata', 'critical', 'error')}
ERROR_LABEL = '__error__'


def _number(value: Any) -> float | None:
    """A Prometheus sample value ("0.1", "NaN", "+Inf") or a threshold; None when unset or empty."""
    if value is None or value == '':
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError(f'{value!r} is not a number') from err


def _fmt(value: float | None, unit: str = '') -> str:
    if value is None:
        return '-'
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if unit == 'ratio':
        return f'{value * 100:.2f} %'
    if unit == 'seconds':
        return f'{value:.3g} s'
    return f'{value:g}'


def _error_text(result: Mapping[str, Any]) -> str:
    answer = result.get('json')
    if isinstance(answer, Mapping) and answer.get('error'):
        return str(answer['error'])
    content = str(result.get('content') or '').strip()
    return content[:300] or str(result.get('msg') or 'no answer')


def _unreached(result: Mapping[str, Any]) -> str:
    """Why uri got no answer, without its 'Status code was -1 and not [200]: ' prefix."""
    return re.sub(r'^Status code was -1 and not \[[^\]]*\]: ', '', str(result.get('msg') or 'no answer'))


def _http_problem(result: Mapping[str, Any], what: str, url: str) -> str:
    """Why an answer cannot be read ('' when it can): unreachable, an HTTP error, or not JSON success."""
    where = f'{what} at {url or result.get("url", "?")}'
    status = result.get('status', -1)
    if status == -1:
        return f'{where} cannot be reached: {_unreached(result)}'
    if status != 200:
        return f'{where} answered HTTP {status}: {_error_text(result)}'
    answer = result.get('json')
    if not isinstance(answer, Mapping) or answer.get('status') != 'success':
        return f'{where} did not answer a query result: {_error_text(result)}'
    return ''


def _series(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The series of an instant query's data as {labels, value} (the last value of a matrix)."""
    kind, result = data.get('resultType'), data.get('result')
    if kind == 'scalar':
        return [{'labels': {}, 'value': _number(result[1])}] if result else []
    if kind == 'vector':
        return [{'labels': s.get('metric') or {}, 'value': _number(s['value'][1])} for s in result or []]
    if kind == 'matrix':
        return [{'labels': s.get('metric') or {}, 'value': _number(s['values'][-1][1])} for s in result or []]
    raise AnsibleFilterError(f'a Prometheus result of type {kind!r} is not a number')


def _grade(value: float, warn: float | None, critical: float | None) -> str:
    if critical is not None and value > critical:
        return 'critical'
    if warn is not None and value > warn:
        return 'warn'
    return 'ok'


def _thresholds(severity: str, warn: float | None, critical: float | None, unit: str) -> str:
    if severity == 'critical':
        return f' (above the critical threshold {_fmt(critical, unit)})'
    if severity == 'warn':
        return f' (above the warning threshold {_fmt(warn, unit)})'
    parts = [f'{name} above {_fmt(limit, unit)}' for name, limit in (('warn', warn), ('critical', critical)) if limit]
    return f' ({", ".join(parts)})' if parts else ''


def _by_series(series: list[dict[str, Any]], unit: str) -> str:
    """'; by series: {pod="a"} 1, {pod="b"} 2' with only the labels that tell the series apart."""
    if len(series) < 2:
        return ''
    keys = sorted({key for each in series for key in each['labels'] if key != '__name__'})
    differ = [key for key in keys if len({each['labels'].get(key) for each in series}) > 1] or keys
    shown = []
    for each in series:
        labels = ', '.join(f'{key}="{each["labels"].get(key, "")}"' for key in differ)
        shown.append(f'{{{labels}}} {_fmt(each["value"], unit)}')
    return '; by series: ' + ', '.join(shown)


def _prometheus_finding(result: Mapping[str, Any], url: str) -> dict[str, Any]:
    query = result.get('item') or {}
    title, unit = str(query.get('title') or query.get('name', '?')), str(query.get('unit') or '')
    warn, critical = _number(query.get('warn')), _number(query.get('critical'))
    finding = {
        'source': 'prometheus',
        'name': str(query.get('name', '?')),
        'title': title,
        'query': str(query.get('expr', '')),
        'unit': unit,
        'warn': warn,
        'critical': critical,
        'value': None,
        'series': [],
    }
    problem = _http_problem(result, 'Prometheus', url)
    if problem:
        return {**finding, 'severity': 'error', 'message': f'{title}: {problem}'}
    series = _series(result['json'].get('data') or {})
    finding['series'] = series
    if not series:
        return {**finding, 'severity': 'nodata', 'message': f'no data for {title}: the query returned no series'}
    numbers = [each['value'] for each in series if not math.isnan(each['value'])]
    if not numbers:
        why = 'NaN, no requests in the window' if unit in ('ratio', 'seconds') else 'NaN'
        return {**finding, 'severity': 'nodata', 'message': f'no data for {title}: {why}'}
    value = sum(numbers) if query.get('aggregate') == 'sum' else max(numbers)
    severity = _grade(value, warn, critical)
    message = f'{title}: {_fmt(value, unit)}{_thresholds(severity, warn, critical, unit)}{_by_series(series, unit)}'
    return {**finding, 'value': value, 'severity': severity, 'message': message}


def monitoring_prometheus_findings(results: list[Mapping[str, Any]], url: str = '') -> list[dict[str, Any]]:
    """One finding per instant query: the registered results of ansible.builtin.uri looped over
    the queries (each item {name, title, expr, unit, warn, critical, aggregate})."""
    return [_prometheus_finding(result, url) for result in results or []]


def monitoring_logql_selector(logql: str) -> str:
    """The stream selector ``{...}`` that a LogQL query starts with (quoted braces respected)."""
    text = str(logql or '').strip()
    if not text.startswith('{'):
        raise AnsibleFilterError(f'LogQL {logql!r} does not start with a stream selector {{...}}')
    quoted, escaped = False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == '\\':
            escaped = True
        elif char in '"`':
            quoted = not quoted
        elif char == '}' and not quoted:
            return text[: index + 1]
    raise AnsibleFilterError(f'LogQL {logql!r}: its stream selector has no closing }}')


def _entries(data: Mapping[str, Any]) -> tuple[list[tuple[int, str, dict]], int]:
    """(entries newest first as (ns, line, labels), lines Loki flagged with __error__)."""
    if data.get('resultType') != 'streams':
        raise AnsibleFilterError(f'Loki answered {data.get("resultType")!r}, not streams: not a log query')
    kept, flagged = [], 0
    for stream in data.get('result') or []:
        labels = stream.get('stream') or {}
        if labels.get(ERROR_LABEL):
            flagged += len(stream.get('values') or [])
            continue
        kept.extend((int(ns), str(line), labels) for ns, line in stream.get('values') or [])
    return sorted(kept, key=lambda entry: entry[0], reverse=True), flagged


def _line(entry: tuple[int, str, dict]) -> str:
    ns, line, labels = entry
    at = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    source = labels.get('pod') or labels.get('container') or ''
    return f'{at} {source + ": " if source else ""}{line}'


def _grade_lines(count: int, warn: int, critical: int) -> str:
    if critical and count >= critical:
        return 'critical'
    if warn and count >= warn:
        return 'warn'
    return 'ok'


def _stream_answer(selectors: list[Mapping[str, Any]], selector: str) -> Mapping[str, Any] | None:
    return next((each for each in selectors or [] if each.get('item') == selector), None)


def _loki_finding(result: Mapping[str, Any], selectors: list[Mapping[str, Any]], opts: dict) -> dict[str, Any]:
    query = result.get('item') or {}
    logql, since = str(query.get('logql', '')), opts['since']
    title = str(query.get('title') or query.get('name') or logql)
    selector = monitoring_logql_selector(logql)
    finding = {'source': 'loki', 'name': str(query.get('name', '?')), 'title': title, 'query': logql}
    finding.update(selector=selector, value=None, lines=[], unparsed=0)
    stream = _stream_answer(selectors, selector)
    problem = _http_problem(result, 'Loki', opts['url']) or (
        _http_problem(stream, 'Loki', opts['url']) if stream is not None else ''
    )
    if problem:
        return {**finding, 'severity': 'error', 'message': f'{title}: {problem}'}
    if stream is not None and not (stream['json'].get('data') or {}).get('result'):
        why = f'Loki has no log line of {selector} in the last {since} (check the log agent and the labels)'
        return {**finding, 'severity': 'nodata', 'message': f'no data for {title}: {why}'}
    entries, flagged = _entries(result['json'].get('data') or {})
    count = len(entries)
    warn, critical = (int(query.get(key, opts[key]) or 0) for key in ('warn', 'critical'))
    severity = _grade_lines(count, warn, critical)
    at_least = 'at least ' if count + flagged >= opts['limit'] else ''
    message = f'{title}: {at_least}{count} line{"" if count == 1 else "s"} in the last {since}'
    if flagged:
        message += f' ({flagged} more that Loki could not parse, labelled {ERROR_LABEL}, left out)'
    lines = [_line(entry) for entry in entries[: opts['sample']]]
    return {**finding, 'severity': severity, 'message': message, 'value': count, 'lines': lines, 'unparsed': flagged}


def monitoring_loki_findings(
    results: list[Mapping[str, Any]],
    selectors: list[Mapping[str, Any]] | None = None,
    *,
    url: str = '',
    since: str = '1h',
    limit: int = 100,
    warn: int = 1,
    critical: int = 0,
    sample: int = 10,
) -> list[dict[str, Any]]:
    """One finding per LogQL query: the registered results of ansible.builtin.uri looped over the
    queries (each item {name, title, logql, warn, critical}); ``selectors`` are the results of
    the same call for each query's bare stream selector (item: the selector), which tell "no error
    line" from "no log line at all" (``nodata``). ``warn``/``critical``: that many matching lines or more
    (0: never), unless the query sets its own."""
    opts = {'url': url, 'since': since, 'limit': int(limit), 'sample': int(sample)}
    opts.update(warn=int(warn), critical=int(critical))
    return [_loki_finding(result, selectors or [], opts) for result in results or []]


def monitoring_unreachable(results: list[Mapping[str, Any]]) -> list[str]:
    """Messages for the readiness probes that did not answer 200 (each item {name, url, path})."""
    problems = []
    for result in results or []:
        item = result.get('item') or {}
        where = f'{item.get("name", "?")} at {item.get("url", result.get("url", "?"))}'
        status = result.get('status', -1)
        if status == -1:
            problems.append(f'{where} cannot be reached: {_unreached(result)}')
        elif status != 200:
            problems.append(
                f'{where} is not ready: GET {item.get("path", "")} answered HTTP {status}: {_error_text(result)}'
            )
    return problems


def monitoring_summary(findings: list[Mapping[str, Any]], fail_on: str = 'none') -> dict[str, Any]:
    """``worst`` severity, ``counts`` per severity (``text``: "1 critical, 2 ok"), and ``fail`` with its
    ``reasons``: errors always,
    and the findings at or above ``fail_on`` (none, critical, or warn, which takes nodata too)."""
    if fail_on not in FAIL_ON:
        raise AnsibleFilterError(f'fail_on must be one of {", ".join(FAIL_ON)}, not {fail_on!r}')
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in findings or []:
        counts[finding['severity']] += 1
    present = [severity for severity in SEVERITIES if counts[severity]]
    reasons = [str(f['message']) for f in findings or [] if f['severity'] in FAIL_ON[fail_on]]
    text = ', '.join(f'{counts[severity]} {severity}' for severity in reversed(present)) or 'no finding'
    worst = present[-1] if present else 'nodata'
    return {'worst': worst, 'counts': counts, 'text': text, 'fail': bool(reasons), 'reasons': reasons}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'monitoring_prometheus_findings': monitoring_prometheus_findings,
            'monitoring_loki_findings': monitoring_loki_findings,
            'monitoring_logql_selector': monitoring_logql_selector,
            'monitoring_unreachable': monitoring_unreachable,
            'monitoring_summary': monitoring_summary,
        }
