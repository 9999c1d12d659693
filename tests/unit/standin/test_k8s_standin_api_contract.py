# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of the Kubernetes API stand-in (tests/standin/k8s_standin): the real kubectl 1.31
and the kubernetes python client talk to it unchanged, and get the answers a cluster would give for
the runbook's commands. They check the stand-in, not a cluster."""

from __future__ import annotations

import json
import time

from kubernetes import config, dynamic
from kubernetes.client import CoreV1Api
from kubernetes.stream import stream

IMAGE = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'
DEPLOY = '/apis/apps/v1/namespaces/playcode/deployments/playcode-app'
WRITES = ('POST', 'PUT', 'PATCH', 'DELETE')


def _kubectl_json(k8s, *args) -> dict:
    return json.loads(k8s.kubectl(*args, '-o', 'json').stdout)


def _roll_to_v2(k8s):
    k8s.kubectl('set', 'image', 'deployment/playcode-app', f'playcode-app={IMAGE}:v2')
    k8s.kubectl('annotate', 'deployment/playcode-app', 'kubernetes.io/change-cause=deploy v2', '--overwrite')
    k8s.kubectl('rollout', 'status', 'deployment/playcode-app', '--timeout=20s')


def test_get_deployment_json(k8s):
    """API contract: kubectl get deploy -o json shows the seeded rollout, revision 1, all available."""
    deploy = _kubectl_json(k8s, 'get', 'deploy', 'playcode-app')
    assert deploy['spec']['template']['spec']['containers'][0]['image'] == f'{IMAGE}:v1'
    assert deploy['metadata']['annotations']['deployment.kubernetes.io/revision'] == '1'
    assert deploy['status']['availableReplicas'] == 2
    assert deploy['status']['observedGeneration'] == deploy['metadata']['generation']


def test_set_image_rollout_status_and_history(k8s):
    """API contract: set image, rollout status succeeds, rollout history lists 1 and 2 with change-cause."""
    _roll_to_v2(k8s)
    history = k8s.kubectl('rollout', 'history', 'deployment/playcode-app').stdout
    rows = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
    assert rows == [['1', 'seed: playcode-app v1'], ['2', 'deploy v2']]
    patch = next(
        r for r in k8s.requests() if r['method'] == 'PATCH' and r['query'].get('fieldManager') == 'kubectl-set'
    )
    assert patch['content_type'] == 'application/strategic-merge-patch+json'


def test_rollout_undo_to_revision_reuses_the_replicaset(k8s):
    """API contract: rollout undo --to-revision=1 restores the v1 template as revision 3 of the same RS."""
    _roll_to_v2(k8s)
    k8s.kubectl('rollout', 'undo', 'deployment/playcode-app', '--to-revision=1')
    k8s.kubectl('rollout', 'status', 'deployment/playcode-app', '--timeout=20s')
    deploy = k8s.get(DEPLOY)
    assert deploy['spec']['template']['spec']['containers'][0]['image'] == f'{IMAGE}:v1'
    assert deploy['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    replica_sets = _kubectl_json(k8s, 'get', 'rs', '-l', 'app=playcode-app')['items']
    assert len(replica_sets) == 2
    reused = next(
        rs for rs in replica_sets if rs['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    )
    assert reused['metadata']['annotations']['deployment.kubernetes.io/revision-history'] == '1'
    assert reused['spec']['template']['spec']['containers'][0]['image'] == f'{IMAGE}:v1'


def test_crashloop_rollout_exceeds_progress_deadline(k8s):
    """API contract: a crash-looping image makes rollout status fail on ProgressDeadlineExceeded, fast."""
    k8s.set_images({'*:broken': 'crashloop'})
    k8s.kubectl('set', 'image', 'deployment/playcode-app', f'playcode-app={IMAGE}:broken')
    started = time.monotonic()
    result = k8s.kubectl('rollout', 'status', 'deployment/playcode-app', '--timeout=20s', check=False)
    assert result.returncode != 0
    assert 'exceeded its progress deadline' in result.stderr
    assert time.monotonic() - started < 10
    status = k8s.get(DEPLOY)['status']
    progressing = next(c for c in status['conditions'] if c['type'] == 'Progressing')
    assert progressing['reason'] == 'ProgressDeadlineExceeded'
    assert status['availableReplicas'] == 2  # the old pods keep serving
    pods = _kubectl_json(k8s, 'get', 'pods', '-l', 'app=playcode-app')['items']
    crashing = [p for p in pods if p['spec']['containers'][0]['image'].endswith(':broken')]
    assert crashing[0]['status']['containerStatuses'][0]['state']['waiting']['reason'] == 'CrashLoopBackOff'
    previous = k8s.kubectl('logs', crashing[0]['metadata']['name'], '--previous').stdout
    assert 'exit status 1' in previous


def test_create_job_from_cronjob_completes_with_logs(k8s):
    """API contract: create job --from=cronjob gets the manual annotation and owner, completes, has logs."""
    k8s.kubectl('create', 'job', '--from=cronjob/mongodb-backup', 'manual-backup-x')
    job = _kubectl_json(k8s, 'get', 'job', 'manual-backup-x')
    assert job['metadata']['annotations']['cronjob.kubernetes.io/instantiate'] == 'manual'
    (owner,) = job['metadata']['ownerReferences']
    assert (owner['kind'], owner['name'], owner['controller']) == ('CronJob', 'mongodb-backup', True)
    assert job['spec']['selector']['matchLabels'] == {'batch.kubernetes.io/controller-uid': job['metadata']['uid']}
    k8s.kubectl('wait', '--for=condition=complete', 'job/manual-backup-x', '--timeout=20s')
    assert k8s.kubectl('logs', 'job/manual-backup-x').stdout.splitlines()[-1] == 'done'


def test_exec_canned_rule_stdout_and_rc(k8s):
    """API contract: kubectl exec (WebSocket v5) gets a canned rule's stdout and exit code."""
    k8s.set_exec(
        [
            {'pod': 'mongodb-0', 'argv': ['mongosh', '--eval', 'rs.status()'], 'stdout': '{"ok": 1}\n'},
            {'labels': {'app': 'redis'}, 'prefix': ['redis-cli'], 'stderr': 'LOADING\n', 'rc': 3},
        ]
    )
    result = k8s.kubectl('exec', 'mongodb-0', '--', 'mongosh', '--eval', 'rs.status()')
    assert result.stdout == '{"ok": 1}\n'
    result = k8s.kubectl('exec', 'deployment/redis', '--', 'redis-cli', 'ping', check=False)
    assert (result.returncode, 'LOADING' in result.stderr) == (3, True)
    assert k8s.kubectl('exec', 'mongodb-0', '--', 'ls', check=False).returncode == 127
    argvs = [r['exec']['argv'] for r in k8s.requests() if 'exec' in r]
    assert argvs == [['mongosh', '--eval', 'rs.status()'], ['redis-cli', 'ping'], ['ls']]


def test_kubectl_server_dry_run_persists_nothing(k8s):
    """API contract: kubectl --dry-run=server sends dryRun=All and the stand-in stores nothing."""
    before = k8s.get(DEPLOY)
    k8s.requests(clear=True)
    result = _kubectl_json(k8s, 'patch', 'deployment/playcode-app', '--dry-run=server', '-p', '{"spec":{"replicas":5}}')
    assert result['spec']['replicas'] == 5
    writes = [r for r in k8s.requests() if r['method'] in WRITES]
    assert writes and all(r['query'].get('dryRun') == 'All' for r in writes)
    time.sleep(0.3)
    assert k8s.get(DEPLOY) == before


def test_python_client_dry_run_and_noop_patch(k8s):
    """API contract: the kubernetes DynamicClient's dry_run='All' patch changes nothing, and a no-op
    patch returns the object with the same resourceVersion (what kubernetes.core's changed relies on)."""
    client = dynamic.DynamicClient(config.new_client_from_config(config_file=str(k8s.kubeconfig)))
    deployments = client.resources.get(api_version='apps/v1', kind='Deployment')
    before = k8s.get(DEPLOY)
    patched = deployments.patch(
        name='playcode-app',
        namespace='playcode',
        body={'spec': {'replicas': 4}},
        content_type='application/merge-patch+json',
        dry_run='All',
    )
    assert patched.spec.replicas == 4
    time.sleep(0.3)
    assert k8s.get(DEPLOY) == before
    same = deployments.patch(
        name='playcode-app',
        namespace='playcode',
        body={'spec': {'replicas': 2}},
        content_type='application/strategic-merge-patch+json',
    )
    assert same.metadata.resourceVersion == before['metadata']['resourceVersion']
    assert same.metadata.generation == before['metadata']['generation']


def test_python_client_exec_stream_rc(k8s):
    """API contract: the python client's exec stream (as kubernetes.core k8s_exec uses it) gets stdout and rc."""
    k8s.set_exec(
        [
            {'pod': 'mongodb-0', 'prefix': ['df'], 'stdout': '/dev/xvda 10G 2G 8G 20% /data/db\n', 'rc': 0},
            {'pod': 'mongodb-0', 'prefix': ['false'], 'rc': 2},
        ]
    )
    core = CoreV1Api(config.new_client_from_config(config_file=str(k8s.kubeconfig)))
    for argv, rc, out in ((['df', '-h', '/data/db'], 0, '20%'), (['false'], 2, '')):
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            'mongodb-0',
            'playcode',
            command=argv,
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=5)
        assert out in resp.read_stdout() if out else True
        assert resp.returncode == rc
