# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from tests.support.adhoc import run_adhoc
from tests.support.backups import make_backup


def gate(directory, **extra):
    return run_adhoc('sre.runbooks.backup_gate', {'database': 'o4o_platform', 'backup_dir': str(directory), **extra})


def test_fresh_verified_backup_passes(tmp_path):
    make_backup(tmp_path, 'o4o_platform_1.dump', minutes_ago=5)
    rc, result = gate(tmp_path, max_age_minutes=30)
    assert rc == 0, result
    assert result['backup']['path'].endswith('o4o_platform_1.dump') and not result['changed']


def test_stale_backup_fails_with_the_command_to_run(tmp_path):
    make_backup(tmp_path, 'o4o_platform_1.dump', minutes_ago=90)
    rc, result = gate(tmp_path, max_age_minutes=30)
    assert rc != 0
    assert 'over the limit of 30' in result['msg']
    assert 'ansible-playbook playbooks/backup.yml -l localhost -e pg_backup_database=o4o_platform' in result['msg']


def test_damaged_newest_backup_falls_back_and_is_reported(tmp_path):
    make_backup(tmp_path, 'good.dump', minutes_ago=20)
    bad = make_backup(tmp_path, 'bad.dump', minutes_ago=2)
    bad.write_bytes(b'x')
    rc, result = gate(tmp_path, max_age_minutes=30)
    assert rc == 0 and result['backup']['path'].endswith('good.dump')
    assert 'truncated' in result['skipped_backups'][0]


def test_no_backup_at_all(tmp_path):
    rc, result = gate(tmp_path)
    assert rc != 0 and 'no verified backup of o4o_platform' in result['msg'] and 'Take one first' in result['msg']


def test_only_damaged_backups_are_listed_in_the_refusal(tmp_path):
    make_backup(tmp_path, 'only.dump').write_bytes(b'')
    rc, result = gate(tmp_path)
    assert rc != 0 and 'only.dump' in result['msg'] and 'truncated' in result['msg']


def test_missing_directory(tmp_path):
    rc, result = gate(tmp_path / 'nope')
    assert rc != 0 and 'does not exist' in result['msg']


def test_check_mode_decides_the_same(tmp_path):
    make_backup(tmp_path, 'o4o_platform_1.dump', minutes_ago=90)
    rc, result = run_adhoc(
        'sre.runbooks.backup_gate',
        {'database': 'o4o_platform', 'backup_dir': str(tmp_path), 'max_age_minutes': 30},
        '--check',
    )
    assert rc != 0 and 'over the limit' in result['msg']
