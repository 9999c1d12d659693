# SPDX-License-Identifier: GPL-3.0-or-later
"""The off-host backup store of kind s3 (roles/offsite_store, amazon.aws.s3_object)
against an S3 stand-in: moto's server on 127.0.0.1. These are API-contract tests (the
calls and answers of the S3 API as moto serves them), not tests of AWS itself. The
lab's api host backs up into the bucket and is restored from it; a corrupt newest
backup is passed over, an empty store and an unreachable one are refused."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.s3 import BUCKET, CREDENTIALS, free_port, moto_s3, s3_location

from .conftest import api_health, task_results

RESTORE = '../tests/integration/playbooks/full_restore_from_store.yml'
TASK = 'Backup | Dump, validate, checksum and prune backups of o4o_platform'


@pytest.fixture(scope='module')
def s3_endpoint():
    with moto_s3() as endpoint_and_client:
        yield endpoint_and_client


def store(endpoint: str, prefix: str) -> dict:
    return {'o4o_backup_store': s3_location(endpoint, prefix)}


def backup_into(lab, location: dict) -> str:
    runner = lab.playbook('backup.yml', extravars={'pg_backup_force': True, **location}, env=CREDENTIALS)
    assert runner.rc == 0, runner.stdout.read()
    return task_results(runner, TASK)['api']['backup']['path'].rsplit('/', 1)[-1]


def restored_backup(lab) -> str:
    sql = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'o4o_platform'"
    comment = lab.exec('api', 'psql', '-XAtq', '-c', sql, user='postgres').strip()
    return json.loads(comment.split(' ', 1)[1])['backup']


def refusal(runner, task: str) -> str:
    assert runner.rc != 0
    return next(iter(task_results(runner, task).values()))['msg']


def test_backup_into_s3_then_restore_passing_over_a_corrupt_newest_backup(lab, s3_endpoint):
    endpoint, client = s3_endpoint
    location = store(endpoint, 'o4o')
    clean = backup_into(lab, location)
    time.sleep(1.1)  # backups are named by the second
    damaged = backup_into(lab, location)
    keys = {item['Key'] for item in client.list_objects_v2(Bucket=BUCKET, Prefix='o4o/')['Contents']}
    assert {f'o4o/{name}{suffix}' for name in (clean, damaged) for suffix in ('', '.sha256', '.manifest.json')} <= keys
    size = client.head_object(Bucket=BUCKET, Key=f'o4o/{damaged}')['ContentLength']
    client.put_object(Bucket=BUCKET, Key=f'o4o/{damaged}', Body=b'\0' * size)  # same size, other bytes

    runner = lab.playbook(RESTORE, extravars=location, env=CREDENTIALS)
    assert runner.rc == 0, runner.stdout.read()
    choice = task_results(runner, 'Select | Report the choice')['api']['msg']
    assert clean in choice[0]
    assert f's3://{BUCKET}/o4o/{damaged}: sha256' in str(choice[1])
    assert restored_backup(lab) == clean
    for _second in range(30):  # the app's pool reconnects to the restored database
        if api_health().get('database') == 'up':
            break
        time.sleep(1)
    assert api_health()['status'] == 'ok'

    again = lab.playbook(RESTORE, extravars=location, env=CREDENTIALS)
    assert again.rc == 0 and again.stats['changed'] == {}


def test_an_empty_store_is_refused(lab, s3_endpoint):
    endpoint, _client = s3_endpoint
    runner = lab.playbook(RESTORE, extravars=store(endpoint, 'nothing-here'), env=CREDENTIALS)
    message = refusal(runner, 'Select | Refuse when no clean backup exists')
    assert f's3://{BUCKET}/nothing-here' in message and 'the store is empty' in message


def test_an_unreachable_store_is_refused(lab):
    runner = lab.playbook(RESTORE, extravars=store(f'http://127.0.0.1:{free_port()}', 'o4o'), env=CREDENTIALS)
    message = refusal(runner, 'Choose | Stop when the store cannot be listed')
    assert 'cannot be listed' in message and 'nothing was restored' in message
