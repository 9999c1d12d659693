# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark scripts' own logic: outage windows, the report's stage times, the table."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'bench'))

import run
from sre_bench import common, deploy, drill, fanout, report, swap


def test_longest_outage_runs_from_first_failure_to_next_success():
    log = [(0.0, True, 1), (1.0, False, 2), (1.1, False, 3), (1.25, True, 4), (2.0, False, 5), (2.05, True, 6)]
    assert swap.longest_outage(log) == (0.25, 3)
    assert swap.longest_outage([(0.0, True, 1)]) == (0.0, 0)


def test_stage_seconds_come_from_the_report_timeline(tmp_path):
    text = (
        '| stage | start (UTC) | end (UTC) | seconds | runbook\'s plan |\n|---|---|---|---|---|\n'
        '| assess | a | b | 3.1 | 5 min |\n| restore | a | b | 2.7 | 30 min |\n| other | a | b | 1 | |\n'
    )
    (tmp_path / 'r.md').write_text(text)
    assert drill._stages(str(tmp_path / 'r.md')) == {'assess': 3.1, 'restore': 2.7}


def _results() -> dict:
    machine = {'cores': 2, 'cpu': 'x', 'memory_gib': 1, 'kernel': 'k', 'postgresql': 'pg', 'ansible_core': 'a'}
    return {'started': 'now', 'mode': 'quick', 'runs': 1, 'machine': machine}


def test_markdown_marks_missed_targets():
    results = {
        **_results(),
        'swap': {
            'longest_read_outage_s': 0.1,
            'longest_write_outage_s': 0.2,
            'acknowledged_lost': 0,
            'writes_acknowledged': 10,
            'acknowledged_in_kept_database': 6,
            'acknowledged_in_live_database': 4,
        },
        'fanout': {'16': {'collection': 7.0, 'stock': 9.0, 'ratio': 0.778, 'cpu_s': {'collection': 9, 'stock': 12}}},
    }
    table = report.markdown(results)
    assert '| 0.2 s |' in table and '| met |' in table
    assert '| 0.778 | <= 0.5 | **missed** |' in table


def test_fanout_rows_show_the_controllers_share_of_the_cpu():
    fanout = {
        'collection': 7.0,
        'stock': 9.0,
        'ratio': 0.778,
        'cpu_s': {'collection': 9, 'stock': 12},
        'cpu_s_per_host_task': {'collection': 0.18, 'stock': 0.24},
        'controller_cpu_s': {'collection': 6, 'stock': 8},
        'controller_cpu_s_per_host_task': {'collection': 0.12, 'stock': 0.16},
    }
    table = report.markdown({**_results(), 'fanout': {'16': fanout}})
    assert 'machine: 9 s, 0.18 s per host-task (controller 6 s, 0.12 s) vs 12 s, 0.24 s per host-task' in table


DEPLOY = {
    'from': 'v0.2.0',
    'release': 'v0.1.0',
    'bad_release': 'v0.9.9',
    'deploy_s': 24.0,
    'raw_deploy_s': 12.0,
    'rerun_s': 3.6,
    'rerun_changed': 0,
    'rollback_s': 36.0,
    'health_retries': 6,
    'health_delay_s': 4,
    'health_floor_s': 24,
    'notices': 5,
    'controller_peak_mib': 104.4,
}


def test_deploy_rows_show_the_raw_floor_and_the_health_retries():
    rows = report._deploy_lines(DEPLOY)
    assert '| 24.0 s | 12.0 s | 2.00x |' in rows[0] and 'peak 104.4 MiB' in rows[0]
    assert '| 36.0 s | 24 s (6 health retries x 4 s) | 1.50x |' in rows[1]
    assert rows[2].endswith('| 0 changed | met |')
    assert report._deploy_lines(None) == []


def test_a_guarded_redeploy_that_changes_something_is_a_failure():
    assert run.problems({'deploy': DEPLOY}) == []
    assert run.problems({'deploy': {**DEPLOY, 'rerun_changed': 2}}) == ["the guarded deploy's re-run changed 2 things"]
    table = report.markdown({**_results(), 'deploy': {**DEPLOY, 'rerun_changed': 2}})
    assert '| 9 | guarded deploy re-run: changed=2 | 3.6 s | | | 0 changed | **missed** |' in table


def test_changed_sums_the_recap_and_the_raw_script_sets_the_version():
    out = 'fragrance-ai : ok=40 changed=3 unreachable=0 failed=0\nlocalhost : ok=2 changed=1 unreachable=0\n'
    assert common.changed_count(out) == 4 and common.changed_count('') == 0
    script = deploy.raw_deploy_script('v0.1.0')
    assert "s/^VERSION=.*/VERSION=v0.1.0/" in script and 'up -d' in script
    assert '/health' in script and '"v0.1.0"' in script


def test_mux_cpu_counts_only_the_controlpersist_masters(tmp_path):
    def process(pid: int, cmdline: bytes, utime: int, stime: int) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / 'cmdline').write_bytes(cmdline)
        fields = ['S', '1', '1', '1', '0', '-1', '0', '0', '0', '0', '0', str(utime), str(stime), '0', '0']
        (tmp_path / str(pid) / 'stat').write_text(f"{pid} (ssh) {' '.join(fields)}\n")

    ticks = os.sysconf('SC_CLK_TCK')
    process(10, b'ssh: /root/.ansible/cp/abc [mux]\0', ticks, ticks)
    process(11, b'ssh\0-o\0ControlMaster=auto\0web\0', 5 * ticks, 0)
    assert fanout.mux_cpu_s(tmp_path) == 2.0
