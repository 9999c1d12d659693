# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_backup against a real PostgreSQL 15 and real file systems: a full disk, a lost
server session, orphans left by a dead run, and check mode's retention prediction."""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._backup import find_orphans, list_backups
from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import BackupError, take_backup
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import Target
from tests.support.adhoc import run_adhoc
from tests.support.services import terminate_when_busy

NAME = 'shop'


def sql(target: Target, text: str, database: str = 'postgres', **variables: str) -> list[list[str]]:
    return target.script(text, variables, database=database)


@pytest.fixture
def target(postgres_port):
    target = Target(host='127.0.0.1', port=postgres_port, user='postgres')
    sql(target, 'CREATE DATABASE :"db";', db=NAME)
    sql(
        target,
        """CREATE TABLE users (id int PRIMARY KEY, email text);
           INSERT INTO users SELECT i, 'u' || i FROM generate_series(1, 100) i;""",
        database=NAME,
    )
    yield target
    sql(target, 'DROP DATABASE :"db" WITH (FORCE);', db=NAME)


def grow(target: Target, rows: int = 200_000) -> None:
    """Rows of md5 text, which compress badly: about 3.5 MB per 200 000 rows at -Z1."""
    sql(target, f'INSERT INTO users SELECT i, md5(i::text) FROM generate_series(1000, {rows + 999}) i', database=NAME)


def module(target: Target, backup_dir: Path, *extra: str, **args) -> tuple[int, dict]:
    return run_adhoc(
        'sre.runbooks.pg_backup',
        {
            'database': NAME,
            'backup_dir': str(backup_dir),
            'host': '127.0.0.1',
            'port': target.port,
            'user': 'postgres',
            'max_age_minutes': 0,
            **args,
        },
        *extra,
    )


def files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a given size as a backup directory; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        path = tmp_path / f'small{len(mounted)}'
        path.mkdir()
        proc = subprocess.run(
            ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)], capture_output=True, check=False
        )
        if proc.returncode != 0:
            pytest.skip(f'cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): {proc.stderr.decode().strip()}')
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(['umount', str(path)], check=False)


def assert_clean_failure(rc: int, result: dict) -> None:
    assert rc != 0, result
    assert 'module_stderr' not in result and 'Traceback' not in json.dumps(result), result
    assert 'nothing was kept' in result['msg'], result


def test_disk_full_during_the_dump_fails_cleanly_and_keeps_the_old_backups(target, tmp_path, small_disk):
    disk = small_disk(2 * 1024 * 1024)
    rc, result = module(target, disk)
    assert rc == 0 and result['taken'], result
    before = files(disk)
    grow(target)
    rc, result = module(target, disk)
    assert_clean_failure(rc, result)
    assert 'No space left on device' in result['msg'] and 'free space' in result['msg'].lower()
    assert files(disk) == before, 'no partial file, no file under a final name, the old backup untouched'
    [old] = list_backups(str(disk), NAME)
    assert old['usable'] and old['tables'] == {'public.users': 100}
    roomy = tmp_path / 'roomy'
    roomy.mkdir()
    rc, result = module(target, roomy)
    assert rc == 0 and result['taken'], result
    [new] = list_backups(str(roomy), NAME)
    assert new['usable'] and new['tables'] == {'public.users': 200_100}
    rc, result = module(target, roomy, max_age_minutes=60)
    assert rc == 0 and not result['changed'], result


def test_disk_full_when_the_manifest_is_written_leaves_no_backup_without_manifest(target, tmp_path, small_disk):
    """The dump fits, its manifest does not: before issue #18 the dump stood under its
    final name without a manifest, and the module died with a traceback."""
    grow(target, 50_000)
    probe = tmp_path / 'probe'
    probe.mkdir()
    size = os.path.getsize(
        take_backup(target, NAME, str(probe), layout='custom', prefix='p', compress=1, mode=0o600)['path']
    )
    disk = small_disk(math.ceil(size / 4096) * 4096)
    rc, result = module(target, disk)
    assert_clean_failure(rc, result)
    assert files(disk) == []
    assert list_backups(str(disk), NAME) == [] and find_orphans(str(disk)) == []


@pytest.mark.parametrize('layout', ['custom', 'o4o_archive'])
def test_a_lost_server_session_mid_dump_fails_cleanly_and_leaves_nothing(target, tmp_path, layout):
    grow(target, 400_000)
    found: list[int] = []
    watcher = terminate_when_busy(target, NAME, 'pg_dump', found)
    with pytest.raises(BackupError, match='pg_dump failed'):
        take_backup(target, NAME, str(tmp_path), layout=layout, prefix='bk', compress=1, mode=0o600)
    watcher.join()
    assert found, 'the dump ended before its backend could be terminated'
    assert files(tmp_path) == []
    taken = take_backup(target, NAME, str(tmp_path), layout=layout, prefix='bk', compress=1, mode=0o600)
    assert [b['path'] for b in list_backups(str(tmp_path), NAME) if b['usable']] == [taken['path']]


def make_backups(target: Target, directory: Path, hours_ago: list[float]) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return [
        take_backup(
            target,
            NAME,
            str(directory),
            layout='custom',
            prefix=NAME,
            compress=1,
            mode=0o600,
            moment=now - datetime.timedelta(hours=hours),
        )['path']
        for hours in hours_ago
    ]


def test_check_mode_predicts_the_retention_of_the_backup_it_would_take(target, tmp_path):
    """Issue #18 (3): the backup this run adds counts in the prediction."""
    older, newer = make_backups(target, tmp_path, [2, 1])
    rc, predicted = module(target, tmp_path, '--check', keep=2)
    assert rc == 0 and predicted['changed'] and predicted['taken'], predicted
    assert predicted['pruned'] == [older], predicted
    assert files(tmp_path) == sorted(
        n + s for n in (os.path.basename(older), os.path.basename(newer)) for s in ('', '.manifest.json', '.sha256')
    )
    rc, applied = module(target, tmp_path, keep=2)
    assert rc == 0 and applied['pruned'] == predicted['pruned'], applied
    assert [b['path'] for b in list_backups(str(tmp_path), NAME)] == [applied['backup']['path'], newer]


def test_check_mode_on_a_host_that_never_had_a_backup_predicts_one(target, tmp_path):
    """The directory does not exist yet (the role's preflight makes it, not in check
    mode): check mode predicts the backup instead of failing, and creates nothing."""
    missing = tmp_path / 'never'
    rc, predicted = module(target, missing, '--check')
    assert rc == 0 and predicted['changed'] and predicted['taken'], predicted
    assert predicted['msg'].startswith(f'would create {missing} and take ')
    assert not missing.exists()
    rc, refused = module(target, missing)
    assert rc != 0 and 'does not exist' in refused['msg']


def test_orphans_are_reported_and_partial_files_of_dead_runs_removed(target, tmp_path):
    [good] = make_backups(target, tmp_path, [1])
    old = time.time() - 3600
    partial = tmp_path / f'.{NAME}_20200101_000000.dump.partial'
    partial.write_bytes(b'half a dump')
    os.utime(partial, (old, old))
    dangling = tmp_path / f'{NAME}_20200101_000000.dump.manifest.json'
    dangling.write_text(Path(good + '.manifest.json').read_text().replace(os.path.basename(good), dangling.name[:-14]))
    os.utime(dangling, (old, old))
    manual = tmp_path / 'by_hand.dump'
    manual.write_bytes(b'PGDMP')
    orphans = {Path(o['path']).name: o for o in find_orphans(str(tmp_path))}
    assert set(orphans) == {partial.name, dangling.name, manual.name}
    assert 'partial file' in orphans[partial.name]['problem']
    assert 'backup file is missing' in orphans[dangling.name]['problem']
    assert 'no manifest' in orphans[manual.name]['problem']
    rc, result = module(target, tmp_path, max_age_minutes=600)
    assert rc == 0 and result['changed'] and not result['taken'], result
    assert sorted(Path(p).name for p in result['removed_orphans']) == sorted([partial.name, dangling.name])
    assert not partial.exists() and not dangling.exists()
    assert manual.exists(), 'a backup file without manifest may be a person\'s: reported, never removed'
    assert any('by_hand.dump' in text for text in result['orphans'])
