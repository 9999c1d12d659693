# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import json
import re

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import _backup
from ansible_collections.sre.runbooks.plugins.module_utils._backup import (
    age_problem,
    list_backups,
    pick_clean,
    pick_newest,
)
from tests.support.backups import NOW, make_backup


def test_good_backup_is_usable_and_has_its_facts(tmp_path):
    make_backup(tmp_path, 'o4o_platform_1.dump', minutes_ago=3)
    [backup] = list_backups(str(tmp_path), 'o4o_platform')
    assert backup['usable'] and backup['problems'] == []
    since_start = (datetime.datetime.now(datetime.timezone.utc) - NOW).total_seconds() / 60
    assert backup['checksum_ok'] and abs(backup['age_minutes'] - 3 - since_start) < 0.5
    assert backup['tables'] == {'public.users': 2000}
    assert (tmp_path / 'o4o_platform_1.dump.sha256').read_text().endswith('  o4o_platform_1.dump\n')


def truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))


def drop_manifest(path):
    (path.parent / (path.name + '.manifest.json')).unlink()


def garble_manifest(path):
    (path.parent / (path.name + '.manifest.json')).write_text('{not json')


def drop_file(path):
    path.unlink()


@pytest.mark.parametrize(
    ('damage', 'problem'),
    [
        (truncate, 'truncated or replaced'),
        (flip_byte, 'does not match'),
        (drop_manifest, 'manifest missing'),
        (garble_manifest, 'manifest unreadable'),
        (drop_file, 'is missing'),
    ],
)
def test_damaged_backups_are_unusable_with_the_reason(tmp_path, damage, problem):
    damage(make_backup(tmp_path, 'o4o_platform_1.dump'))
    [backup] = list_backups(str(tmp_path), 'o4o_platform')
    assert not backup['usable']
    assert any(problem in text for text in backup['problems']), backup['problems']


def test_wrong_database_and_unvalidated_are_unusable(tmp_path):
    make_backup(tmp_path, 'other.dump', database='qa_arena')
    make_backup(tmp_path, 'unvalidated.dump', validated=False, minutes_ago=1)
    problems = {b['path'].rsplit('/', 1)[1]: b['problems'] for b in list_backups(str(tmp_path), 'o4o_platform')}
    assert "not 'o4o_platform'" in problems['other.dump'][0]
    assert 'not validated' in problems['unvalidated.dump'][0]


def test_newest_first_and_damaged_newer_ones_do_not_hide_older_good_ones(tmp_path):
    make_backup(tmp_path, 'old.dump', minutes_ago=120)
    flip_byte(make_backup(tmp_path, 'new.dump', minutes_ago=10))
    backups = list_backups(str(tmp_path), 'o4o_platform')
    assert [b['path'].rsplit('/', 1)[1] for b in backups] == ['new.dump', 'old.dump']
    assert [b['usable'] for b in backups] == [False, True]


def test_manifest_of_another_format_version_is_refused(tmp_path):
    path = make_backup(tmp_path, 'x.dump')
    manifest_path = tmp_path / 'x.dump.manifest.json'
    manifest = json.loads(manifest_path.read_text())
    manifest['format_version'] = 99
    manifest_path.write_text(json.dumps(manifest))
    [backup] = list_backups(str(tmp_path), 'o4o_platform')
    assert not backup['usable'] and 'format_version' in backup['problems'][0]
    assert path.exists()


def test_clean_backup_is_the_newest_usable_one_before_the_compromise(tmp_path):
    for name, minutes in (('o4o_platform_a.dump', 30), ('o4o_platform_b.dump', 20), ('o4o_platform_c.dump', 5)):
        make_backup(tmp_path, name, minutes_ago=minutes)
    flip_byte(tmp_path / 'o4o_platform_b.dump')  # the newest one before the compromise is damaged
    # Relative to NOW, as the backups' times are: a worker may run this minutes after it imported NOW.
    compromised = NOW - datetime.timedelta(minutes=10)
    chosen, passed_over = pick_clean(list_backups(str(tmp_path), 'o4o_platform'), compromised.isoformat())
    assert chosen['path'].endswith('o4o_platform_a.dump')
    assert [line.split(':')[0].rsplit('/', 1)[1] for line in passed_over] == [
        'o4o_platform_c.dump',
        'o4o_platform_b.dump',
    ]
    assert 'not before' in passed_over[0] and 'sha256' in passed_over[1]
    none, _passed = pick_clean(list_backups(str(tmp_path), 'o4o_platform'), '2001-01-01T00:00:00Z')
    assert none is None


def test_age_limit_counts_from_the_compromise_and_never_advises_a_fresh_backup(tmp_path):
    """Issue #18 (5): a clean backup 10 days old, the limit 7 days."""
    make_backup(tmp_path, 'o4o_platform_a.dump', minutes_ago=10 * 1440)
    backups = list_backups(str(tmp_path), 'o4o_platform')
    now = datetime.datetime.now(datetime.timezone.utc)
    five_days_ago = (now - datetime.timedelta(days=5)).isoformat()
    chosen, passed_over = pick_clean(backups, five_days_ago, max_age_minutes=7 * 1440)
    assert chosen is not None and passed_over == [], 'taken 5 days before the compromise: within 7 days'
    yesterday = (now - datetime.timedelta(days=1)).isoformat()
    chosen, [why] = pick_clean(backups, yesterday, max_age_minutes=7 * 1440)
    assert chosen is None
    # make_backup's ages count from the session's start: allow for the minutes since
    assert re.search(r'taken 129[67]\d minutes before the compromise', why), why
    assert 'over the limit of 10080 minutes' in why
    message = age_problem(backups[0], 7 * 1440, taken_before=yesterday, variable='pg_restore_backup_max_age_minutes')
    assert 'fresh' not in message and 'playbooks/backup.yml' not in message
    assert 'compromised data' in message and 'older clean backup' in message
    assert 'raise pg_restore_backup_max_age_minutes' in message


def test_age_limit_without_a_compromise_counts_from_now(tmp_path):
    make_backup(tmp_path, 'o4o_platform_a.dump', minutes_ago=10 * 1440)
    [backup] = list_backups(str(tmp_path), 'o4o_platform')
    message = age_problem(backup, 7 * 1440, variable='pg_restore_backup_max_age_minutes')
    assert re.match(
        rf"backup {re.escape(backup['path'])} is 14[45]\d\d minutes old, over the limit of 10080 minutes", message
    )
    assert 'raise pg_restore_backup_max_age_minutes' in message
    assert age_problem(backup, 0) is None and age_problem(backup, 20 * 1440) is None


def test_picking_reads_checksums_newest_first_only_until_one_passes(tmp_path, monkeypatch):
    """Issue #20: a restore reads the file it restores from, not every backup of the
    directory; a damaged newer one is still found and skipped."""
    make_backup(tmp_path, 'oldest.dump', minutes_ago=300)
    make_backup(tmp_path, 'old.dump', minutes_ago=120)
    flip_byte(make_backup(tmp_path, 'new.dump', minutes_ago=10))
    read = []
    real = _backup.sha256_of
    monkeypatch.setattr(_backup, 'sha256_of', lambda path: read.append(path.rsplit('/', 1)[1]) or real(path))
    backups = list_backups(str(tmp_path), 'o4o_platform', verify_checksum=False)
    assert read == [] and all(b['usable'] for b in backups)
    chosen, skipped = pick_newest(backups, verify=True)
    assert chosen['path'].endswith('/old.dump') and chosen['checksum_ok']
    assert read == ['new.dump', 'old.dump']
    assert len(skipped) == 1 and skipped[0].startswith(f'{tmp_path}/new.dump: sha256 ')
    compromise = (NOW - datetime.timedelta(minutes=200)).isoformat()
    read.clear()
    backups = list_backups(str(tmp_path), 'o4o_platform', verify_checksum=False)
    chosen, _skipped = pick_clean(backups, compromise, verify=True)
    assert chosen['path'].endswith('/oldest.dump') and read == ['oldest.dump']
    assert chosen['minutes_before_compromise'] == 100.0
