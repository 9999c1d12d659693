# SPDX-License-Identifier: GPL-3.0-or-later
"""sre.runbooks.report_file through ansible: writes on the controller without a module
run, changes nothing the second time, writes nothing in check mode."""

from __future__ import annotations

import stat

from tests.support.adhoc import run_adhoc


def write(path, content, *extra, **args):
    return run_adhoc('sre.runbooks.report_file', {'path': str(path), 'content': content, **args}, *extra)


def test_writes_then_changes_nothing_the_second_time(tmp_path):
    report = tmp_path / 'new' / 'dir' / 'postmortem.md'
    rc, result = write(report, '# Post-mortem\n\nall good\n')
    assert rc == 0 and result['changed'], result
    assert report.read_text() == '# Post-mortem\n\nall good\n'
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    assert stat.S_IMODE(report.parent.stat().st_mode) & 0o777 == 0o750
    rc, result = write(report, '# Post-mortem\n\nall good\n')
    assert rc == 0 and not result['changed'], result
    assert sorted(p.name for p in report.parent.iterdir()) == ['postmortem.md'], 'no private file left'


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    report = tmp_path / 'postmortem.md'
    report.write_text('old\n')
    rc, result = write(report, 'new\n', '--check', '--diff')
    assert rc == 0 and result['changed'] and result['diff']['after'] == 'new\n', result
    assert report.read_text() == 'old\n'


def test_a_bad_mode_is_a_clear_error(tmp_path):
    rc, result = write(tmp_path / 'r.md', 'x', mode='rw-r')
    assert rc != 0 and "is not an octal mode like '0640'" in result['msg'], result
    assert not (tmp_path / 'r.md').exists()
