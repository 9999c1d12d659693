# SPDX-License-Identifier: GPL-3.0-or-later
"""PlayCode's monitoring queries (runbook P9): playbooks/k8s_monitoring.yml and the role
monitoring_queries, run by ansible-playbook with inventories/playcode_lab.

- Prometheus part: **real-service tests**. Debian's Prometheus 2.42 (started with
  tests/support/monitoring.py's helpers) scrapes, every second, a real target process
  (tests/support/metrics_target.py) whose counters grow at rates the test sets: a 10 % 5xx
  ratio, a p99 of 1.75 s, 42 WebSocket connections; a second one is healthy; a third
  Prometheus scrapes nothing (no series).
- Loki part: **API-contract tests** against the Loki API stand-in (tests/standin/loki_standin),
  a server process that answers Loki's /ready and /loki/api/v1/query_range for the runbook's
  LogQL with Loki's response shape. It is not Loki: the tests check what the role asks and how
  it reads the answers.

The production inventory is only parsed (--syntax-check)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from tests.standin.loki_standin.client import loki_standin
from tests.support.metrics_target import metrics_target
from tests.support.monitoring import AlertLoop, http_json
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
DEFAULTS = yaml.safe_load((ROOT / 'roles/monitoring_queries/defaults/main.yml').read_text())
RUNBOOK_5XX = 'rate(http_requests_total{status_code=~"5.."}[5m]) / rate(http_requests_total[5m])'
APP = {'namespace': 'playcode', 'container': 'playcode-app', 'pod': 'playcode-app-7d9f-abcde'}
# 5xx ratio 10 % (two 5xx codes), p99 1.75 s (rank 99 of 100 between the 1 s and 2.5 s buckets).
BAD = {
    'requests': {'200': 90, '500': 6, '503': 4},
    'latency': {'0.1': 90, '0.5': 8, '2.5': 2},
    'websocket': {'playcode-app-a': 20, 'playcode-app-b': 22},
}
HEALTHY = {'requests': {'200': 100}, 'latency': {'0.05': 95, '0.1': 5}, 'websocket': {'playcode-app-a': 3}}
ERROR_LINES = [
    {'age': 10, 'line': '{"level":"error","msg":"mongo timeout","res":{"status":503}}'},
    {'age': 20, 'line': 'Error: socket hang up'},
    {'age': 30, 'line': '{"level":"info","msg":"GET /health","res":{"status":200}}'},
    {'age': 7200, 'line': '{"level":"error","msg":"two hours ago: outside the window"}'},
]
QUIET_LINES = [{'age': 5, 'line': '{"level":"info","msg":"GET /health","res":{"status":200}}'}]


def _prometheus(stack: contextlib.ExitStack, workdir: Path, targets: list[str]) -> AlertLoop:
    workdir.mkdir()
    loop = AlertLoop(workdir)
    stack.callback(loop.stop)
    jobs = [{'name': 'playcode-app', 'targets': targets}] if targets else []
    loop.start_prometheus(rule_files=[], scrape_jobs=jobs, scrape='1s')
    return loop


def _has_rates(loop: AlertLoop) -> bool:
    answer = loop.query('sum(rate(http_requests_total[5m]))')
    return bool(answer) and not math.isnan(float(answer[0]['value'][1]))


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    """Two targets, three Prometheus servers (bad, healthy, nothing scraped), the Loki stand-in."""
    tmp = tmp_path_factory.mktemp('p9')
    with contextlib.ExitStack() as stack:
        bad = stack.enter_context(metrics_target(tmp, BAD, 'target-bad'))
        healthy = stack.enter_context(metrics_target(tmp, HEALTHY, 'target-healthy'))
        loki = stack.enter_context(loki_standin(tmp))
        proms = {
            'bad': _prometheus(stack, tmp / 'prom-bad', [bad.address]),
            'healthy': _prometheus(stack, tmp / 'prom-healthy', [healthy.address]),
            'empty': _prometheus(stack, tmp / 'prom-empty', []),
        }
        for name in ('bad', 'healthy'):
            proms[name].wait_for(lambda name=name: _has_rates(proms[name]), 20, f'two scrapes of the {name} target')
        yield {'tmp': tmp, 'loki': loki, **proms}


@pytest.fixture
def loki(stack):
    stack['loki'].reset()
    return stack['loki']


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, report: Path):
        self.rc, self.out, self.report = proc.returncode, proc.stdout + proc.stderr, report
        recap = re.search(r'playcode-\S+\s*:.*?changed=(\d+)', proc.stdout)
        self.changed = int(recap.group(1)) if recap else -1

    def finding(self, severity: str, title: str) -> str:
        """The rest of the finding line '<SEVERITY>: <title>: ...' ('' when there is none)."""
        found = re.search(rf'"{severity.upper()}: {re.escape(title)}: ?([^"]*)"', self.out)
        return found.group(1) if found else ''

    def __repr__(self) -> str:
        return f'rc={self.rc} changed={self.changed}\n{self.out[-5000:]}'


def play(stack, *args: str, prometheus: str = '', loki: str = '', inventory: str = 'inventories/playcode_lab') -> Run:
    report = stack['tmp'] / f'report-{free_port()}.md'
    urls = []
    if prometheus:
        urls += ['-e', f'playcode_prometheus_url={prometheus}']
    if loki:
        urls += ['-e', f'playcode_loki_url={loki}']
    env = {
        **os.environ,
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',  # one line per finding, as the tests read them
        'SRE_REPORT_DIR': str(stack['tmp']),
    }
    command = [PLAYBOOK, '-i', inventory, 'playbooks/k8s_monitoring.yml', '-e', f'report_path={report}']
    proc = subprocess.run(
        [*command, *urls, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    return Run(proc, report)


def _percent(text: str) -> float:
    return float(re.match(r'([\d.]+) %', text).group(1))


def test_real_prometheus_the_runbooks_literal_5xx_query_reads_1_where_the_ratio_is_10_percent(stack):
    """Real service: the runbook's `rate(5xx) / rate(all)` matches each 5xx series with itself (100 % per
    5xx code); the role's query (defaults/main.yml) sums both sides: 10 %. p99 and the gauges as set."""
    prom = stack['bad']
    literal = prom.query(RUNBOOK_5XX)
    assert sorted(s['metric']['status_code'] for s in literal) == ['500', '503']
    assert {float(s['value'][1]) for s in literal} == {1.0}
    expr = {query['name']: query['expr'] for query in DEFAULTS['monitoring_queries_prometheus_queries']}
    assert float(prom.query(expr['http_5xx_ratio'])[0]['value'][1]) == pytest.approx(0.10, abs=0.002)
    assert float(prom.query(expr['http_p99_latency'])[0]['value'][1]) == pytest.approx(1.75, abs=0.02)
    assert sum(float(s['value'][1]) for s in prom.query(expr['websocket_connections_active'])) == 42
    # No 5xx series at all: the runbook's numerator is empty; `or vector(0)` reads 0 %.
    assert stack['healthy'].query(RUNBOOK_5XX) == []
    assert float(stack['healthy'].query(expr['http_5xx_ratio'])[0]['value'][1]) == 0.0


def test_real_prometheus_and_loki_api_contract_findings_report_and_changed_0(stack, loki):
    """Real Prometheus (10 % 5xx: critical, p99 1.75 s: warn, 42 connections) and the Loki stand-in (API
    contract: the runbook's three LogQL queries and their selectors, GETs only); one report; changed=0."""
    loki.set_streams([{'stream': APP, 'lines': ERROR_LINES}])
    run = play(stack, prometheus=stack['bad'].prometheus_url, loki=loki.url)
    assert run.rc == 0 and run.changed == 0, run
    ratio = run.finding('critical', 'HTTP 5xx error ratio')
    assert ratio.endswith('(above the critical threshold 5.00 %)'), run
    assert _percent(ratio) == pytest.approx(10.0, abs=0.2), run
    assert run.finding('warn', 'p99 response time').startswith('1.7'), run
    # P5's p95, reported only: 0.25 s and 5/8 of the bucket up to 0.5 s.
    assert run.finding('ok', 'p95 response time').startswith('0.40'), run
    assert run.finding('ok', 'active WebSocket connections').startswith('42; by series:'), run
    # |= "error" matches the JSON error and the plain line ("Error" is another case), not the old one.
    assert run.finding('warn', 'error lines of playcode-app') == '1 line in the last 1h', run
    level = run.finding('warn', 'JSON logs with level error')
    assert level.startswith('1 line in the last 1h (1 more that Loki could not parse'), run
    assert run.finding('warn', 'JSON logs of 5xx responses').startswith('1 line in'), run
    assert 'worst: critical (1 critical, 4 warn, 2 ok)' in run.out, run
    text = run.report.read_text()
    assert '| critical | HTTP 5xx error ratio: ' in text and 'mongo timeout' in text, text
    assert '`{namespace="playcode"} \\| json \\| res_status >= 500`' in text, text

    sent = loki.requests()
    assert {(r['method'], r['path']) for r in sent} == {('GET', '/ready'), ('GET', '/loki/api/v1/query_range')}, sent
    queries = sorted((r['query']['query'], r['query']['limit']) for r in sent if r['path'].endswith('query_range'))
    logql = [query['logql'] for query in DEFAULTS['monitoring_queries_loki_queries']]
    selectors = ['{namespace="playcode", container="playcode-app"}', '{namespace="playcode"}']
    assert queries == sorted([(q, '100') for q in logql] + [(s, '1') for s in selectors]), queries
    assert {r['query']['since'] for r in sent if r['path'].endswith('query_range')} == {'1h'}


def test_check_mode_reads_the_same_writes_no_report_and_fail_on_critical_fails_after_the_report(stack, loki):
    """--check runs the same reads (changed=0) and writes nothing; fail_on=critical fails after the report."""
    loki.set_streams([{'stream': APP, 'lines': ERROR_LINES}])
    check = play(stack, '--check', prometheus=stack['bad'].prometheus_url, loki=loki.url)
    assert check.rc == 0 and check.changed == 0, check
    assert check.finding('critical', 'HTTP 5xx error ratio') and 'would write the report' in check.out, check
    assert not check.report.exists()
    strict = play(stack, '-e', 'fail_on=critical', prometheus=stack['bad'].prometheus_url, loki=loki.url)
    assert strict.rc != 0 and strict.changed == 0, strict
    assert 'HTTP 5xx error ratio: ' in strict.out and f'The findings are in {strict.report}' in strict.out, strict
    assert strict.report.exists()


def test_real_prometheus_healthy_and_loki_api_contract_quiet_logs_are_all_ok(stack, loki):
    """Real Prometheus with only 2xx (no 5xx series: 0 %, not "no data"), a fast p99; Loki has lines of
    the app but no error line: every finding ok."""
    loki.set_streams([{'stream': APP, 'lines': QUIET_LINES}])
    run = play(stack, '-e', 'fail_on=warn', prometheus=stack['healthy'].prometheus_url, loki=loki.url)
    assert run.rc == 0 and run.changed == 0, run
    assert run.finding('ok', 'HTTP 5xx error ratio') == '0.00 % (warn above 1.00 %, critical above 5.00 %)', run
    assert run.finding('ok', 'p99 response time').startswith('0.09'), run
    assert run.finding('ok', 'error lines of playcode-app') == '0 lines in the last 1h', run
    assert 'worst: ok (7 ok)' in run.out, run


def test_no_series_and_no_log_line_are_no_data_never_ok(stack, loki):
    """Real Prometheus that scrapes nothing (every query: no series) and a Loki stand-in without a line of
    the selectors (API contract): each finding is "no data for ...", and fail_on=warn fails on them."""
    loki.set_streams([{'stream': {'namespace': 'other', 'container': 'x'}, 'lines': ERROR_LINES}])
    run = play(stack, prometheus=stack['empty'].prometheus_url, loki=loki.url)
    assert run.rc == 0 and run.changed == 0, run
    for title in ('HTTP 5xx error ratio', 'p95 response time', 'p99 response time', 'active WebSocket connections'):
        assert f'"NODATA: no data for {title}: the query returned no series"' in run.out, run
    assert run.out.count('Loki has no log line of {namespace=\\"playcode\\"') == 3, run
    assert 'worst: nodata (7 nodata)' in run.out and ' OK: ' not in run.out, run
    strict = play(stack, '-e', 'fail_on=warn', prometheus=stack['empty'].prometheus_url, loki=loki.url)
    assert strict.rc != 0 and 'no data for p99 response time' in strict.out, strict


def test_unreachable_prometheus_and_loki_stop_naming_the_urls(stack):
    """Nothing listens at either URL: the run stops before any query, naming both URLs."""
    prometheus, loki = f'http://127.0.0.1:{free_port()}', f'http://127.0.0.1:{free_port()}'
    run = play(stack, prometheus=prometheus + '/', loki=loki)
    assert run.rc != 0 and run.changed == 0, run
    assert f'Prometheus at {prometheus} cannot be reached' in run.out, run
    assert f'Loki at {loki} cannot be reached' in run.out and 'Nothing was queried' in run.out, run
    assert not run.report.exists()


def test_unset_urls_fail_saying_what_to_set(stack, tmp_path):
    """An inventory without playcode_prometheus_url / playcode_loki_url (as production's, until the
    operator sets them) stops before any request, naming the variables; the production inventory parses."""
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(
        yaml.safe_dump(
            {
                'all': {
                    'children': {
                        'playcode': {
                            'hosts': {
                                'playcode-unset': {
                                    'ansible_connection': 'local',
                                    'ansible_python_interpreter': sys.executable,
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    run = play(stack, inventory=str(inventory))
    assert run.rc != 0 and run.changed == 0, run
    assert 'The Prometheus URL is not set' in run.out and 'playcode_prometheus_url' in run.out, run
    assert 'The Loki URL is not set' in run.out and 'playcode_loki_url' in run.out, run
    assert 'Nothing was queried' in run.out
    wrong = play(stack, prometheus='prometheus:9090', loki='http://127.0.0.1:1', inventory=str(inventory))
    assert 'The Prometheus URL is "prometheus:9090", not http(s)://host[:port]' in wrong.out, wrong
    syntax = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode', 'playbooks/k8s_monitoring.yml', '--syntax-check'],
        cwd=ROOT,
        env={**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


def test_loki_api_contract_the_standin_answers_loki_shape_and_rejects_other_logql(stack, loki):
    """API contract of the stand-in itself: Loki's response shape, `| json` keeps non-JSON lines with
    __error__ (as Loki does), and a metric query is a 400 (the stand-in runs log queries only)."""
    loki.set_streams([{'stream': APP, 'lines': ERROR_LINES}])
    query = urllib.parse.urlencode({'query': '{namespace="playcode"} | json | level="error"', 'limit': 10})
    answer = http_json(f'{loki.url}/loki/api/v1/query_range?{query}')
    assert answer['status'] == 'success' and answer['data']['resultType'] == 'streams'
    streams = {stream['stream'].get('__error__', ''): stream for stream in answer['data']['result']}
    assert streams['']['stream']['res_status'] == '503' and len(streams['']['values']) == 1
    assert streams['JSONParserErr']['values'][0][1] == 'Error: socket hang up'
    ns, _line = streams['']['values'][0]
    assert isinstance(ns, str) and len(ns) == 19
    with pytest.raises(OSError, match='400'):
        http_json(f'{loki.url}/loki/api/v1/query_range?' + urllib.parse.urlencode({'query': 'rate({a="b"}[5m])'}))
