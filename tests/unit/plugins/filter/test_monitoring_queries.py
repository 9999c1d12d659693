# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitoring_queries filters (runbook P9): Prometheus instant-query answers and Loki
query_range answers, as ansible.builtin.uri registers them, turned into findings; no series is
"nodata", never "ok"; an unreachable service or an HTTP error is "error" naming the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.monitoring_queries import (
    FilterModule,
    monitoring_logql_selector,
    monitoring_loki_findings,
    monitoring_prometheus_findings,
    monitoring_summary,
    monitoring_unreachable,
)

PROM = 'http://prometheus:9090'
LOKI = 'http://loki:3100'
RATIO = {'name': 'http_5xx_ratio', 'title': 'HTTP 5xx error ratio', 'expr': 'x', 'unit': 'ratio'}
RATIO.update(warn='0.01', critical=0.05)
P99 = {'name': 'p99', 'title': 'p99 response time', 'expr': 'y', 'unit': 'seconds', 'warn': 1.0, 'critical': 3}
WS = {'name': 'ws', 'title': 'active WebSocket connections', 'expr': 'websocket_connections_active'}
WS['aggregate'] = 'sum'
# What ansible.builtin.uri says when nothing listens.
REFUSED = 'Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>'
APP = '{namespace="playcode", container="playcode-app"}'
ERRORS = {'name': 'errors', 'title': 'error lines', 'logql': APP + ' |= "error"'}


def _vector(item: dict, *values: str, labels: list[dict] | None = None) -> dict:
    result = [
        {'metric': (labels or [{}] * len(values))[index], 'value': [1733400000.0, value]}
        for index, value in enumerate(values)
    ]
    answer = {'status': 'success', 'data': {'resultType': 'vector', 'result': result}}
    return {'item': item, 'status': 200, 'json': answer}


def _one(item: dict, *values: str, **kwargs) -> dict:
    return monitoring_prometheus_findings([_vector(item, *values, **kwargs)], PROM)[0]


@pytest.mark.parametrize(
    ('item', 'value', 'severity', 'message'),
    [
        (RATIO, '0.1', 'critical', 'HTTP 5xx error ratio: 10.00 % (above the critical threshold 5.00 %)'),
        (RATIO, '0.02', 'warn', 'HTTP 5xx error ratio: 2.00 % (above the warning threshold 1.00 %)'),
        (RATIO, '0.05', 'warn', 'HTTP 5xx error ratio: 5.00 % (above the warning threshold 1.00 %)'),
        (RATIO, '0', 'ok', 'HTTP 5xx error ratio: 0.00 % (warn above 1.00 %, critical above 5.00 %)'),
        (P99, '1.75', 'warn', 'p99 response time: 1.75 s (above the warning threshold 1 s)'),
        (P99, '+Inf', 'critical', 'p99 response time: +Inf (above the critical threshold 3 s)'),
        (P99, '0.09', 'ok', 'p99 response time: 0.09 s (warn above 1 s, critical above 3 s)'),
        (WS, '42', 'ok', 'active WebSocket connections: 42'),
    ],
)
def test_prometheus_values_are_graded_against_their_thresholds(item, value, severity, message):
    finding = _one(item, value)
    assert (finding['severity'], finding['message']) == (severity, message)
    assert finding['source'] == 'prometheus' and finding['query'] == item['expr']


def test_series_are_summed_or_the_worst_is_taken_and_told_apart_by_their_labels():
    pods = [{'pod': 'a', 'job': 'app'}, {'pod': 'b', 'job': 'app'}]
    summed = _one(WS, '20', '22', labels=pods)
    assert summed['value'] == 42
    assert summed['message'] == 'active WebSocket connections: 42; by series: {pod="a"} 20, {pod="b"} 22'
    worst = _one(P99, '0.5', '4', labels=pods)
    assert (worst['value'], worst['severity']) == (4.0, 'critical')


@pytest.mark.parametrize(
    ('answer', 'message'),
    [
        ({'resultType': 'vector', 'result': []}, 'no data for HTTP 5xx error ratio: the query returned no series'),
        (
            {'resultType': 'vector', 'result': [{'metric': {}, 'value': [1, 'NaN']}]},
            'no data for HTTP 5xx error ratio: NaN, no requests in the window',
        ),
    ],
)
def test_no_series_or_only_nan_is_no_data_never_ok(answer, message):
    result = {'item': RATIO, 'status': 200, 'json': {'status': 'success', 'data': answer}}
    finding = monitoring_prometheus_findings([result], PROM)[0]
    assert (finding['severity'], finding['message'], finding['value']) == ('nodata', message, None)


def test_scalar_and_matrix_answers_are_read_and_a_string_is_refused():
    scalar = {'item': RATIO, 'status': 200, 'json': {'status': 'success', 'data': {'resultType': 'scalar'}}}
    scalar['json']['data']['result'] = [1, '0.2']
    assert monitoring_prometheus_findings([scalar])[0]['severity'] == 'critical'
    matrix = {'resultType': 'matrix', 'result': [{'metric': {}, 'values': [[1, '9'], [2, '0.5']]}]}
    found = monitoring_prometheus_findings(
        [{'item': P99, 'status': 200, 'json': {'status': 'success', 'data': matrix}}]
    )
    assert found[0]['value'] == 0.5
    text = {'item': P99, 'status': 200, 'json': {'status': 'success', 'data': {'resultType': 'string', 'result': []}}}
    with pytest.raises(AnsibleFilterError, match="type 'string'"):
        monitoring_prometheus_findings([text])


@pytest.mark.parametrize(
    ('result', 'message'),
    [
        (
            {'status': -1, 'msg': REFUSED},
            f'HTTP 5xx error ratio: Prometheus at {PROM} cannot be reached: Request failed: <urlopen error',
        ),
        (
            {'status': 400, 'json': {'status': 'error', 'errorType': 'bad_data', 'error': 'parse error at char 5'}},
            f'HTTP 5xx error ratio: Prometheus at {PROM} answered HTTP 400: parse error at char 5',
        ),
        (
            {'status': 200, 'content': '<html>login</html>'},
            f'HTTP 5xx error ratio: Prometheus at {PROM} did not answer a query result: <html>login</html>',
        ),
    ],
)
def test_an_unreachable_or_failing_prometheus_is_an_error_naming_the_url(result, message):
    finding = monitoring_prometheus_findings([{'item': RATIO, **result}], PROM)[0]
    assert finding['severity'] == 'error' and finding['message'].startswith(message)


def _streams(item, *streams: tuple[dict, list[tuple[int, str]]], status: int = 200) -> dict:
    result = [{'stream': labels, 'values': [[str(ns), line] for ns, line in values]} for labels, values in streams]
    answer = {'status': 'success', 'data': {'resultType': 'streams', 'result': result}}
    return {'item': item, 'status': status, 'json': answer}


LABELS = {'namespace': 'playcode', 'container': 'playcode-app', 'pod': 'playcode-app-1'}
ALIVE = _streams(APP, (LABELS, [(1733400000000000000, 'GET /health')]))
SILENT = _streams(APP)
NS = 1733400000 * 10**9


def _loki(result: dict, selectors: list[dict], **kwargs) -> dict:
    return monitoring_loki_findings([result], selectors, url=LOKI, **kwargs)[0]


def test_loki_lines_are_counted_newest_first_and_errors_flagged_by_loki_are_left_out():
    answer = _streams(
        ERRORS,
        (LABELS, [(NS + 1, 'error: older'), (NS + 3 * 10**9, 'error: newest')]),
        ({**LABELS, '__error__': 'JSONParserErr'}, [(NS + 2, 'not json')]),
    )
    finding = _loki(answer, [ALIVE], sample=1)
    assert finding['severity'] == 'warn' and finding['value'] == 2 and finding['unparsed'] == 1
    assert finding['message'] == (
        'error lines: 2 lines in the last 1h (1 more that Loki could not parse, labelled __error__, left out)'
    )
    assert finding['lines'] == ['2024-12-05T12:00:03Z playcode-app-1: error: newest']
    assert finding['selector'] == APP


@pytest.mark.parametrize(
    ('count', 'kwargs', 'severity', 'at_least'),
    [
        (0, {}, 'ok', ''),
        (1, {}, 'warn', ''),
        (5, {'critical': 5}, 'critical', ''),
        (3, {'warn': 0}, 'ok', ''),
        (3, {'limit': 3}, 'warn', 'at least '),
    ],
)
def test_loki_line_counts_are_graded(count, kwargs, severity, at_least):
    answer = _streams(ERRORS, (LABELS, [(NS + index, f'error {index}') for index in range(count)]))
    finding = _loki(answer, [ALIVE], **kwargs)
    assert finding['severity'] == severity
    assert f': {at_least}{count} line' in finding['message']


def test_a_query_may_carry_its_own_thresholds():
    answer = _streams({**ERRORS, 'warn': 10, 'critical': 2}, (LABELS, [(NS, 'error'), (NS + 1, 'error')]))
    assert _loki(answer, [ALIVE])['severity'] == 'critical'


def test_no_log_line_of_the_selector_is_no_data_not_ok():
    finding = _loki(_streams(ERRORS), [SILENT], since='30m')
    assert finding['severity'] == 'nodata'
    assert finding['message'] == (
        f'no data for error lines: Loki has no log line of {APP} in the last 30m (check the log agent and the labels)'
    )
    # Without the selector's answer an empty result is read as no error line.
    assert _loki(_streams(ERRORS), [])['severity'] == 'ok'


def test_an_unreachable_or_refusing_loki_is_an_error_naming_the_url():
    refused = {'item': ERRORS, 'status': 400, 'content': 'parse error at line 1, col 12\n'}
    finding = _loki(refused, [ALIVE])
    assert finding['severity'] == 'error'
    assert finding['message'] == f'error lines: Loki at {LOKI} answered HTTP 400: parse error at line 1, col 12'
    down = {'item': APP, 'status': -1, 'msg': 'Connection refused'}
    assert (
        _loki(_streams(ERRORS), [down])['message']
        == f'error lines: Loki at {LOKI} cannot be reached: Connection refused'
    )
    metric = _streams(ERRORS)
    metric['json']['data']['resultType'] = 'matrix'
    with pytest.raises(AnsibleFilterError, match='not a log query'):
        _loki(metric, [ALIVE])


@pytest.mark.parametrize(
    ('logql', 'selector'),
    [
        ('{namespace="playcode", container="playcode-app"} |= "error"', APP),
        ('{namespace="playcode"} | json | level="error"', '{namespace="playcode"}'),
        ('  {app=~"a}b"} != "x"', '{app=~"a}b"}'),
        ('{app="a\\"}"}', '{app="a\\"}"}'),
    ],
)
def test_logql_selector(logql, selector):
    assert monitoring_logql_selector(logql) == selector


@pytest.mark.parametrize('logql', ['rate({app="a"}[5m])', '{app="a"', ''])
def test_logql_without_a_selector_is_refused(logql):
    with pytest.raises(AnsibleFilterError, match='stream selector'):
        monitoring_logql_selector(logql)


def test_unreachable_lists_each_service_that_did_not_answer_ready():
    results = [
        {'item': {'name': 'Prometheus', 'url': PROM, 'path': '/-/ready'}, 'status': -1, 'msg': 'Connection refused'},
        {'item': {'name': 'Loki', 'url': LOKI, 'path': '/ready'}, 'status': 503, 'content': 'Ingester not ready'},
        {'item': {'name': 'Other', 'url': 'http://x', 'path': '/ready'}, 'status': 200},
    ]
    assert monitoring_unreachable(results) == [
        f'Prometheus at {PROM} cannot be reached: Connection refused',
        f'Loki at {LOKI} is not ready: GET /ready answered HTTP 503: Ingester not ready',
    ]


@pytest.mark.parametrize(
    ('severities', 'fail_on', 'worst', 'fail'),
    [
        (['ok', 'warn'], 'none', 'warn', False),
        (['ok', 'error'], 'none', 'error', True),
        (['critical', 'ok'], 'none', 'critical', False),
        (['critical', 'ok'], 'critical', 'critical', True),
        (['nodata', 'ok'], 'critical', 'nodata', False),
        (['nodata', 'ok'], 'warn', 'nodata', True),
        ([], 'warn', 'nodata', False),
    ],
)
def test_summary(severities, fail_on, worst, fail):
    findings = [{'severity': severity, 'message': f'finding {index}'} for index, severity in enumerate(severities)]
    summary = monitoring_summary(findings, fail_on)
    assert (summary['worst'], summary['fail']) == (worst, fail)
    assert sum(summary['counts'].values()) == len(severities)


def test_summary_text_worst_first_and_a_wrong_fail_on_is_refused():
    findings = [{'severity': s, 'message': s} for s in ('ok', 'critical', 'ok', 'warn')]
    summary = monitoring_summary(findings, 'warn')
    assert summary['text'] == '1 critical, 1 warn, 2 ok' and summary['reasons'] == ['critical', 'warn']
    with pytest.raises(AnsibleFilterError, match='fail_on'):
        monitoring_summary(findings, 'sometimes')


def test_every_filter_is_registered_and_documented():
    names = set(FilterModule().filters())
    docs = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'
    assert names == {path.stem for path in docs.glob('monitoring_*.yml')}
