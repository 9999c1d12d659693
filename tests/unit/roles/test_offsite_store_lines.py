# SPDX-License-Identifier: GPL-3.0-or-later
"""offsite_store's append_line and read_lines (the incident log's writer and reader) on a
store of kind dir, through ansible-playbook on this machine: a line is added once, writers
at the same time lose no line (the directory's flock), files are read in name order, a
store not made yet has no lines, check mode writes nothing, and S3 is refused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def run(tmp: Path, tasks: list[dict], *, hosts: int = 1, check: bool = False) -> subprocess.CompletedProcess:
    """Runs tasks on `hosts` local hosts at once (forks), each with its own index `n`."""
    names = [f'writer{n}' for n in range(hosts)]
    inventory = {'all': {'hosts': {name: {'n': n, 'ansible_connection': 'local'} for n, name in enumerate(names)}}}
    (tmp / 'hosts.yml').write_text(yaml.safe_dump(inventory))
    playbook = tmp / 'play.yml'
    playbook.write_text(yaml.safe_dump([{'name': 'Lines', 'hosts': 'all', 'gather_facts': False, 'tasks': tasks}]))
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'ANSIBLE_FORKS': str(max(hosts, 5))}
    command = ['ansible-playbook', '-i', str(tmp / 'hosts.yml'), str(playbook), *(['--check'] if check else [])]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def append(store: Path, line: str, file: str = 'incident_20261205.log') -> dict:
    return {
        'name': 'Append',
        'ansible.builtin.include_role': {'name': 'sre.runbooks.offsite_store', 'tasks_from': 'append_line'},
        'vars': {
            'offsite_store_location': str(store),
            'offsite_store_subdir': 'incidents',
            'offsite_store_file': file,
            'offsite_store_line': line,
        },
    }


def read(store: Path, out: Path, pattern: str = 'incident_*.log') -> list[dict]:
    return [
        {
            'name': 'Read',
            'ansible.builtin.include_role': {'name': 'sre.runbooks.offsite_store', 'tasks_from': 'read_lines'},
            'vars': {
                'offsite_store_location': str(store),
                'offsite_store_subdir': 'incidents',
                'offsite_store_pattern': pattern,
            },
        },
        {
            'name': 'Record',
            'ansible.builtin.copy': {
                'content': '{{ offsite_store_lines | to_json }}',
                'dest': str(out),
                'mode': '0600',
            },
            'changed_when': False,
        },
    ]


def changed(result: subprocess.CompletedProcess) -> int:
    return sum(int(part.split('changed=')[1].split()[0]) for part in result.stdout.split('\n') if 'changed=' in part)


def test_a_line_is_appended_once_in_a_private_file(tmp_path):
    store, line = (
        tmp_path / 'store',
        json.dumps({'id': 'refit-20261205-060000', 'event': 'open', 'summary': "it's 'quoted' $HOME"}),
    )
    first = run(tmp_path, [append(store, line)])
    assert first.returncode == 0, first.stdout[-2000:]
    assert changed(first) == 1
    again = run(tmp_path, [append(store, line)])
    assert again.returncode == 0 and changed(again) == 0, 'the same line is not added twice'
    log = store / 'incidents' / 'incident_20261205.log'
    assert log.read_text() == line + '\n', 'the line is an argument, never shell text'
    assert (log.stat().st_mode & 0o777, (store / 'incidents').stat().st_mode & 0o777) == (0o600, 0o700)


def test_writers_at_the_same_time_lose_no_line(tmp_path):
    store = tmp_path / 'store'
    result = run(tmp_path, [append(store, '{"writer": {{ n }}}')], hosts=8)
    assert result.returncode == 0, result.stdout[-2000:]
    lines = (store / 'incidents' / 'incident_20261205.log').read_text().splitlines()
    assert sorted(lines) == sorted(f'{{"writer": {n}}}' for n in range(8))


def test_files_are_read_in_name_order_and_a_missing_newline_ends_a_line(tmp_path):
    store, out = tmp_path / 'store', tmp_path / 'lines.json'
    empty = run(tmp_path, read(store, out))
    assert empty.returncode == 0, empty.stdout[-2000:]
    assert json.loads(out.read_text()) == [], 'a store not made yet has no lines'
    folder = store / 'incidents'
    folder.mkdir(parents=True)
    (folder / 'incident_20261205.log').write_text('c\n')
    (folder / 'incident_20261204.log').write_text('a\nb')  # no newline at its end
    (folder / 'other.log').write_text('not read\n')
    result = run(tmp_path, read(store, out))
    assert result.returncode == 0 and changed(result) == 0, result.stdout[-2000:]
    assert json.loads(out.read_text()) == ['a', 'b', 'c']


def test_check_mode_appends_nothing(tmp_path):
    store = tmp_path / 'store'
    result = run(tmp_path, [append(store, 'line')], check=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert not (store / 'incidents' / 'incident_20261205.log').exists()


def test_an_s3_store_or_a_line_with_a_newline_is_refused_before_anything_is_written(tmp_path):
    s3 = {
        **append(tmp_path, 'line'),
        'vars': {**append(tmp_path, 'line')['vars'], 'offsite_store_location': {'kind': 's3', 'bucket': 'b'}},
    }
    result = run(tmp_path, [s3])
    assert result.returncode != 0 and 'S3 objects cannot be appended to under a lock' in result.stdout
    two = run(tmp_path, [append(tmp_path / 'store', 'one\ntwo')])
    assert two.returncode != 0 and 'no newline' in two.stdout
    assert not (tmp_path / 'store').exists()
