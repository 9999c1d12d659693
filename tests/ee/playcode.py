# SPDX-License-Identifier: GPL-3.0-or-later
"""What the PlayCode job templates reach when they run in the execution environment: the
Kubernetes API stand-in (API-contract tests: it is not a cluster) with the pods' canned and
real answers of the API-contract tests in tests/unit/playcode, a real redis-server behind
the redis pod's exec, moto's ECR and S3 (the MongoDB archives' bucket), a real Prometheus and
the Loki API stand-in. All on this machine's loopback: the PlayCode jobs' containers use the
host's network (they connect to no lab host), as an AWX node reaches the cluster's API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from tests.standin.loki_standin.client import loki_standin
from tests.support.ecr import REGION, moto_ecr
from tests.support.k8s import K8sStandin, k8s_standin
from tests.support.monitoring import AlertLoop
from tests.support.s3 import CREDENTIALS
from tests.support.services import redis_server
from tests.unit.playcode import test_k8s_diagnose_api_contract as diagnose
from tests.unit.playcode import test_k8s_playbooks_api_contract as playbooks
from tests.unit.playcode import test_mongo_profiling_api_contract as profiling
from tests.unit.playcode import test_mongo_restore_api_contract as restore

INVENTORY = 'PlayCode production'
BUCKET, PREFIX = 'playcode-backups', 'mongodb-backups'
# What a template's job needs of the cluster beyond the seed: a second revision to roll back
# from, the MongoDB credentials from the Secret in the StatefulSet's environment.
SETUPS = {
    'playbooks/k8s_rollback.yml': lambda k8s: playbooks.kubectl_deploy(k8s, 'v2'),
    'playbooks/mongo_restore.yml': restore.with_credentials,
}


@dataclass
class PlaycodeLab:
    """The servers, and what a job needs of them: answers, environment, credential inputs."""

    k8s: K8sStandin
    rules: list[dict]
    answers: dict[str, dict] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)

    def prepare(self, playbook: str) -> None:
        """The seed again, the pods' answers and what the playbook needs: each job starts
        from the same cluster; the request log starts empty."""
        self.k8s.reset()
        SETUPS.get(playbook, lambda k8s: None)(self.k8s)
        self.k8s.set_exec(self.rules)
        self.k8s.requests(clear=True)


def exec_rules(redis_port: int) -> list[dict]:
    """A healthy cluster's answers to every exec the templates' jobs make (P2, P4-P8, P11, P12)."""
    mongosh = [
        {'pod': 'mongodb-0', 'argv': [*diagnose.MONGOSH, script], 'stdout': json.dumps(answer)}
        for script, answer in diagnose.MONGO_ANSWERS.items()
    ]
    return [
        *mongosh,
        *profiling.rules(0),
        {'pod': 'mongodb-0', 'argv': restore.STATE, 'stdout': restore.state({'users': 1}, None) + '\n'},
        {'pod': 'mongodb-0', 'argv': ['df', '-h', '/data/db'], 'stdout': diagnose.DF},
        {'labels': {'app': 'redis'}, 'prefix': ['redis-cli'], 'host': ['/usr/bin/redis-cli', '-p', str(redis_port)]},
        {'labels': {'app': 'playcode-app'}, 'argv': diagnose.HEALTH, 'stdout': '{"status":"ok"}'},
    ]


def store_archive(endpoint: str, tmp: Path) -> dict:
    """The MongoDB backups' bucket with one verified archive (and its manifest), as a store."""
    s3 = boto3.client(
        's3',
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS['AWS_ACCESS_KEY_ID'],
        aws_secret_access_key=CREDENTIALS['AWS_SECRET_ACCESS_KEY'],
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={'LocationConstraint': REGION})
    for path in restore.make_store(tmp / 'archives').iterdir():
        s3.upload_file(str(path), BUCKET, f'{PREFIX}/{path.name}')
    return {'kind': 's3', 'bucket': BUCKET, 'prefix': PREFIX, 'endpoint_url': endpoint, 'region': REGION}


@contextlib.contextmanager
def playcode_lab(tmp: Path) -> Iterator[PlaycodeLab]:
    with contextlib.ExitStack() as stack:
        k8s = stack.enter_context(k8s_standin())
        redis_port = stack.enter_context(redis_server(tmp))
        ecr = stack.enter_context(moto_ecr())
        ecr.push('untagged-1')
        loki = stack.enter_context(loki_standin(tmp))
        (tmp / 'prometheus').mkdir()
        prometheus = AlertLoop(tmp / 'prometheus')
        stack.callback(prometheus.stop)
        prometheus.start_prometheus(rule_files=[], scrape_jobs=[])  # no series: the report says so
        lab = PlaycodeLab(k8s, exec_rules(redis_port))
        lab.inputs = {'kubeconfig': k8s.kubeconfig.read_text()}
        lab.env = {'AWS_ENDPOINT_URL_ECR': ecr.endpoint}
        lab.answers = {
            'playbooks/k8s_deploy.yml': {'tag': 'v2'},
            'playbooks/mongo_restore.yml': {'store': store_archive(ecr.endpoint, tmp)},
            'playbooks/k8s_monitoring.yml': {
                'playcode_prometheus_url': prometheus.prometheus_url,
                'playcode_loki_url': loki.url,
            },
        }
        yield lab
