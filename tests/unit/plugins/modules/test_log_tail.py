# SPDX-License-Identifier: GPL-3.0-or-later
"""log_tail through the real `ansible` CLI on real files: the last lines of each log in
one module run, a big log read from its end, and a log that cannot be read says why."""

from __future__ import annotations

from ansible_collections.sre.runbooks.plugins.modules import log_tail
from tests.support.adhoc import run_adhoc


def test_each_log_gives_its_last_lines_and_a_missing_one_says_why(tmp_path):
    short = tmp_path / 'short.log'
    short.write_text('one\ntwo\nthree\n')
    missing = tmp_path / 'missing.log'
    logs = [{'name': 'short', 'path': str(short), 'lines': 2}, {'path': str(missing)}]
    rc, result = run_adhoc('sre.runbooks.log_tail', {'logs': logs})
    assert rc == 0 and result['changed'] is False, result
    assert result['logs']['short'] == {'path': str(short), 'lines': ['two', 'three'], 'error': ''}
    assert result['logs'][str(missing)]['lines'] == []
    assert result['logs'][str(missing)]['error'] == f'No such file or directory: {missing}'


def test_a_big_log_is_read_from_its_end_across_blocks(tmp_path):
    big = tmp_path / 'big.log'
    big.write_text(''.join(f'line {n} ' + 'x' * 200 + '\n' for n in range(5000)))  # about 1 MB
    lines = log_tail.last_lines(str(big), 400)  # more than one 64 KiB block
    assert len(lines) == 400 and lines[0].startswith('line 4600 ') and lines[-1].startswith('line 4999 ')
    assert log_tail.last_lines(str(big), 0) == []


def test_a_log_without_a_final_newline_or_shorter_than_asked(tmp_path):
    log = tmp_path / 'partial.log'
    log.write_bytes(b'first\nsecond\xff\nthird')
    assert log_tail.last_lines(str(log), 50) == ['first', 'second\ufffd', 'third']


def test_lines_end_at_a_newline_only_as_tail_counts_them(tmp_path):
    log = tmp_path / 'pm2.log'
    log.write_bytes(b'progress 10%\rprogress 100%\r\ndone\x0cpage\r\nlast\n')
    assert log_tail.last_lines(str(log), 2) == ['done\x0cpage', 'last']
    assert log_tail.last_lines(str(log), 3) == ['progress 10%\rprogress 100%', 'done\x0cpage', 'last']


def test_lines_null_reads_the_default(tmp_path):
    log = tmp_path / 'long.log'
    log.write_text(''.join(f'{n}\n' for n in range(30)))
    lines = log_tail.read_log({'path': str(log), 'lines': None})['lines']
    assert len(lines) == log_tail.DEFAULT_LINES and lines[-1] == '29'
