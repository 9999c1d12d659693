# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark scripts' own logic: outage windows, the report's stage times, the table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / 'bench'))

from sre_bench import drill, report, swap


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


def test_markdown_marks_missed_targets():
    results = {
        'started': 'now',
        'mode': 'quick',
        'runs': 1,
        'machine': {'cores': 2, 'cpu': 'x', 'memory_gib': 1, 'kernel': 'k', 'postgresql': 'pg', 'ansible_core': 'a'},
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
