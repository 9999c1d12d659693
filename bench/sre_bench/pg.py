"""Measures 1 and 2: the pg_backup and pg_restore roles against the raw PostgreSQL tools,
on the same database and dump of the lab api host, with the host's peak memory."""

from __future__ import annotations

import json

from . import dataset
from .common import API, DATABASE_ONLY, lab, median, playbook, psql, say, timed_on_lab, where_the_time_goes
from .memory import PeakSampler, container_pid

TABLES = ['public.accounts', 'public.orders', 'public.events', 'public.bench_writes']
# The split of the last role run of each kind (where_the_time_goes), for the report.
BREAKDOWN: dict[str, dict] = {}


def _host_memory(action):
    """Run action() while sampling the api host's processes; returns (result, peak MiB over idle)."""
    root = container_pid(API)
    with PeakSampler(lambda: [root]) as peak:
        result = action()
    return result, round(peak.peak_mib - peak.baseline_mib, 1)


def _role_backup(db: str, layout: str) -> float:
    run = playbook(
        'playbooks/backup.yml',
        *('-e', f'pg_backup_database={db}', '-e', f'pg_backup_dir=/backup/{db}/{layout}'),
        *('-e', f'pg_backup_layout={layout}', '-e', f'pg_backup_prefix={db}', '-e', 'pg_backup_force=true'),
        *('-e', 'pg_backup_keep=1', '-e', DATABASE_ONLY),
    )
    BREAKDOWN[f'backup {layout}'] = where_the_time_goes(run, 'Backup | Dump')
    return run['seconds']


def _newest_manifest(db: str, layout: str) -> dict:
    text = lab(f'cat "$(ls -t /backup/{db}/{layout}/*.manifest.json | head -1)"')
    return json.loads(text)


def _sample(runs: int, pairs: dict) -> dict:
    """Run each named callable `runs` times, interleaved; returns times and memory per name."""
    times = {name: [] for name in pairs}
    memory = {name: [] for name in pairs}
    for _run in range(runs):
        for name, action in pairs.items():
            seconds, mib = _host_memory(action)
            times[name].append(seconds)
            memory[name].append(mib)
    return {name: {'s': median(times[name]), 'runs': times[name], 'host_peak_mib': max(memory[name])} for name in pairs}


def backup(db: str, runs: int) -> dict:
    lab(f'install -d -o postgres -g postgres -m 0700 /backup/{db} /backup/{db}/raw')
    raw_custom = f'pg_dump -Fc -f /backup/{db}/raw/raw.dump {db}'
    raw_archive = f'pg_dump {db} | gzip > /backup/{db}/raw/raw.sql.gz'
    result = _sample(
        runs,
        {
            'raw pg_dump -Fc': lambda: timed_on_lab(raw_custom),
            'pg_backup role (custom)': lambda: _role_backup(db, 'custom'),
            'raw pg_dump | gzip': lambda: timed_on_lab(raw_archive),
            'pg_backup role (o4o_archive)': lambda: _role_backup(db, 'o4o_archive'),
        },
    )
    manifest = _newest_manifest(db, 'custom')
    sizes = lab(f'stat -c "%s %n" /backup/{db}/raw/raw.dump /backup/{db}/raw/raw.sql.gz').split()
    result['pg_backup role (custom)']['engine_s'] = manifest['duration_s']
    result['pg_backup role (custom)']['file_mb'] = round(manifest['size'] / 2**20, 1)
    result['pg_backup role (o4o_archive)']['engine_s'] = _newest_manifest(db, 'o4o_archive')['duration_s']
    result['raw pg_dump -Fc']['file_mb'] = round(int(sizes[0]) / 2**20, 1)
    result['pg_backup role (custom)']['where'] = BREAKDOWN['backup custom']
    result['pg_backup role (o4o_archive)']['where'] = BREAKDOWN['backup o4o_archive']
    return result


def _role_restore(db: str) -> float:
    # The role is idempotent: a live database marked as restored from this very backup
    # makes it a no-op. Forget the mark, so that every run rehearses and swaps again.
    psql(f'COMMENT ON DATABASE {db} IS NULL')
    run = playbook(
        'playbooks/restore_database.yml',
        *('-e', f'pg_restore_database={db}', '-e', f'pg_restore_backup_dir=/backup/{db}/custom'),
        *('-e', json.dumps({'pg_restore_required_tables': TABLES})),
    )
    BREAKDOWN['restore'] = where_the_time_goes(run, 'Restore | Rehearse')
    dataset.drop_leftovers(db)
    return run['seconds']


def _raw_restore(command: str) -> float:
    psql('DROP DATABASE IF EXISTS bench_raw_restore')
    psql('CREATE DATABASE bench_raw_restore')
    try:
        return timed_on_lab(command)
    finally:
        psql('DROP DATABASE bench_raw_restore')


def restore(db: str, runs: int) -> dict:
    dump = _newest_manifest(db, 'custom')['file']
    lab(f'pg_dump -Fp -f /backup/{db}/raw/plain.sql {db}', user='postgres')
    result = _sample(
        runs,
        {
            'raw pg_restore': lambda: _raw_restore(f'pg_restore -d bench_raw_restore /backup/{db}/custom/{dump}'),
            'pg_restore role (rehearse + verify + swap)': lambda: _role_restore(db),
            "runbook's psql -f (plain dump)": lambda: _raw_restore(
                f'psql -Xq -v ON_ERROR_STOP=1 -d bench_raw_restore -f /backup/{db}/raw/plain.sql >/dev/null'
            ),
        },
    )
    result['pg_restore role (rehearse + verify + swap)']['where'] = BREAKDOWN['restore']
    say(f"restore role, where the time goes: {BREAKDOWN['restore']}")
    return result


def measure(sizes: dict[str, float], runs: int) -> dict:
    results = {}
    for label, scale in sizes.items():
        db = dataset.database_name(label)
        info = dataset.ensure(db, scale)
        say(f'backup of {db} ({info["size_mb"]} MB), {runs} runs each')
        backups = backup(db, runs)
        say(f'restore of {db}, {runs} runs each')
        restores = restore(db, runs)
        results[label] = {'database': info, 'backup': backups, 'restore': restores}
    return results
