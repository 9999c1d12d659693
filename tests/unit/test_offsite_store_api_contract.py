# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/offsite_store on this machine, no lab: kinds dir (a directory) and s3 (moto's
S3 server on loopback - an API-contract test of the S3 calls, not of AWS). Backups are
put from a local 'host' directory, the newest is corrupted in the store, and
choose_backup must pass it over, naming it, while get_backup brings the older one back;
put_files is idempotent; an empty store has no candidate."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.backups import make_backup
from tests.support.s3 import BUCKET, CREDENTIALS, moto_s3, s3_location

ROOT = Path(__file__).resolve().parents[2]


def role_task(entry: str, **variables) -> dict:
    return {
        'name': f'Run {entry}',
        'ansible.builtin.include_role': {'name': 'sre.runbooks.offsite_store', 'tasks_from': entry},
        'vars': variables,
    }


def play(tmp: Path, location, tasks: list[dict], name: str) -> dict:
    """Runs tasks on localhost with offsite_store_location; returns the recorded facts."""
    out = tmp / f'{name}.json'
    record = {
        'name': 'Record the results',
        'ansible.builtin.copy': {
            'content': '{{ {"put": offsite_store_put_result | default(none),'
            ' "choice": offsite_store_choice | default(none)} | to_json }}',
            'dest': str(out),
            'mode': '0600',
        },
        'changed_when': False,
    }
    playbook = tmp / f'{name}.yml'
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    'name': name,
                    'hosts': 'localhost',
                    'gather_facts': False,
                    'vars': {'offsite_store_location': location},
                    'tasks': [*tasks, record],
                }
            ]
        )
    )
    env = {
        **os.environ,
        **CREDENTIALS,
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_BECOME_METHOD': 'su',  # root here, without sudo
    }
    run = subprocess.run(
        ['ansible-playbook', '-i', 'localhost,', '-c', 'local', str(playbook)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    facts = json.loads(out.read_text())
    facts['changed'] = int(run.stdout.rsplit('changed=', 1)[1].split()[0])
    return facts


@pytest.fixture(scope='module')
def s3():
    with moto_s3() as endpoint_and_client:
        yield endpoint_and_client


@pytest.fixture(params=['dir', 's3'])
def store(request, tmp_path):
    """(location, a function that corrupts a stored file by name)."""
    if request.param == 'dir':
        directory = tmp_path / 'store'

        def corrupt_dir(name: str) -> None:
            path = directory / name
            path.write_bytes(b'\0' * path.stat().st_size)

        return str(directory), corrupt_dir
    endpoint, client = request.getfixturevalue('s3')
    prefix = f'unit-{tmp_path.name}'

    def corrupt_object(name: str) -> None:
        key = f'{prefix}/{name}'
        size = client.head_object(Bucket=BUCKET, Key=key)['ContentLength']
        client.put_object(Bucket=BUCKET, Key=key, Body=b'\0' * size)

    return s3_location(endpoint, prefix), corrupt_object


def test_a_corrupt_newest_backup_is_passed_over_and_the_older_one_is_got(store, tmp_path):
    location, corrupt = store
    host = tmp_path / 'host'
    host.mkdir()
    older = make_backup(host, 'o4o_backup_20261201_000000.dump', minutes_ago=60)
    newer = make_backup(host, 'o4o_backup_20261201_010000.dump', minutes_ago=5)
    puts = [role_task('put_backup', offsite_store_backup=str(path)) for path in (older, newer)]
    put = play(tmp_path, location, puts, 'put')
    assert put['changed'] > 0 and put['put']['files'][-1].endswith(f'{newer.name}.manifest.json')
    assert play(tmp_path, location, puts, 'put-again')['changed'] == 0

    corrupt(newer.name)
    dest = tmp_path / 'restore'
    user = getpass.getuser()
    get = [
        role_task('choose_backup', offsite_store_database='o4o_platform'),
        role_task(
            'get_backup', offsite_store_dest_dir=str(dest), offsite_store_dest_owner=user, offsite_store_dest_group=user
        ),
    ]
    choice = play(tmp_path, location, get, 'get')['choice']
    assert Path(choice['newest_usable']['path']).name == older.name
    (skipped,) = choice['skipped_backups']
    assert newer.name in skipped and 'sha256' in skipped and skipped.startswith(choice['where'])
    assert sorted(os.listdir(dest)) == sorted(older.name + suffix for suffix in ('', '.manifest.json', '.sha256'))
    assert (dest / older.name).read_bytes() == older.read_bytes()


def test_an_empty_store_has_no_candidate_and_files_go_into_their_subdirectory(store, tmp_path):
    location, _corrupt = store
    empty = play(tmp_path, location, [role_task('choose_backup', offsite_store_database='o4o_platform')], 'empty')
    assert empty['choice']['newest_usable'] is None and empty['choice']['skipped_backups'] == []
    report = tmp_path / 'report.md'
    report.write_text('# post-mortem\n')
    files = [role_task('put_files', offsite_store_files=[str(report)], offsite_store_subdir='reports')]
    put = play(tmp_path, location, files, 'files')
    assert put['put']['files'] == [f"{put['put']['where'].rstrip('/')}/reports/report.md"]
    assert put['changed'] >= 1
    assert play(tmp_path, location, files, 'files-again')['changed'] == 0
    if isinstance(location, str):  # a directory store: the new sub-directory is private to its owner
        assert (Path(location) / 'reports').stat().st_mode & 0o777 == 0o700


def test_an_unreachable_ssh_store_stops_the_put_with_a_message(tmp_path):
    report = tmp_path / 'report.md'
    report.write_text('# post-mortem\n')
    playbook = tmp_path / 'unreachable.yml'
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    'hosts': 'localhost',
                    'gather_facts': False,
                    'vars': {'offsite_store_location': {'kind': 'ssh', 'host': 'store', 'path': str(tmp_path / 'x')}},
                    'tasks': [
                        role_task('put_files', offsite_store_files=[str(report)], offsite_store_subdir='reports')
                    ],
                }
            ]
        )
    )
    inventory = tmp_path / 'hosts.yml'  # nothing listens on port 1 of loopback
    hosts = {'localhost': {'ansible_connection': 'local'}, 'store': {'ansible_host': '127.0.0.1', 'ansible_port': 1}}
    inventory.write_text(yaml.safe_dump({'all': {'hosts': hosts}}))
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')}
    run = subprocess.run(
        ['ansible-playbook', '-i', str(inventory), str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert f"The backup store store:{tmp_path / 'x'} cannot be reached" in run.stdout, run.stdout[-3000:]
    assert 'nothing was copied' in run.stdout and not (tmp_path / 'x').exists()
