# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of the PlayCode Kubernetes playbooks (runbook P1, P3, P10):
k8s_deploy.yml, k8s_rollback.yml and mongo_backup.yml run by ansible-playbook with
inventories/playcode_lab against the Kubernetes API stand-in (tests/standin/k8s_standin),
which speaks the Kubernetes REST API to kubernetes.core unchanged. They check what the
roles send and how they read the answers; they are not cluster tests.

The production inventory is only parsed and listed (--syntax-check, --list-hosts)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ansible_collections.sre.runbooks.plugins.filter.k8s_rollout import canonical

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
IMAGE = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'
DEPLOY = '/apis/apps/v1/namespaces/playcode/deployments/playcode-app'
WRITES = ('POST', 'PUT', 'PATCH', 'DELETE')


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.out = proc.returncode, proc.stdout + proc.stderr
        recap = re.search(r'playcode-standin\s*:.*?changed=(\d+)', proc.stdout)
        self.changed = int(recap.group(1)) if recap else -1

    def __repr__(self) -> str:
        return f'rc={self.rc} changed={self.changed}\n{self.out[-4000:]}'


def play(k8s, playbook: str, *args: str) -> Run:
    env = {
        **os.environ,
        **k8s.env,
        'SRE_K8S_KUBECONFIG': str(k8s.kubeconfig),
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
    }
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode_lab', f'playbooks/{playbook}', *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    return Run(proc)


def image(k8s) -> str:
    return k8s.get(DEPLOY)['spec']['template']['spec']['containers'][0]['image']


def only_reads_and_dry_runs(requests: list[dict]) -> list[dict]:
    """The requests that changed something (a write without dryRun=All)."""
    return [each for each in requests if each['method'] in WRITES and (each.get('query') or {}).get('dryRun') != 'All']


def kubectl_deploy(k8s, tag: str) -> None:
    k8s.kubectl('set', 'image', 'deployment/playcode-app', f'playcode-app={IMAGE}:{tag}')
    k8s.kubectl('annotate', 'deployment/playcode-app', f'kubernetes.io/change-cause=deploy {tag}', '--overwrite')
    k8s.kubectl('rollout', 'status', 'deployment/playcode-app', '--timeout=20s')


def test_deploy_check_mode_predicts_through_the_dry_run_and_changes_nothing(k8s):
    """API contract (P1): --check --diff sends the patch as dryRun=All only, shows the image change."""
    before = k8s.get(DEPLOY)
    k8s.requests(clear=True)
    run = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2', '--check', '--diff')
    assert run.rc == 0 and run.changed == 1, run
    # The diff of the dry run: the old image out, the new one in.
    assert re.search(rf'^-.*{re.escape(IMAGE)}:v1', run.out, re.M), run
    assert re.search(rf'^\+.*{re.escape(IMAGE)}:v2', run.out, re.M), run
    assert 'would set' in run.out, run
    assert only_reads_and_dry_runs(k8s.requests()) == []
    assert k8s.get(DEPLOY)['metadata']['resourceVersion'] == before['metadata']['resourceVersion']


def test_deploy_sets_the_image_records_the_cause_waits_and_a_rerun_changes_nothing(k8s):
    """API contract (P1): one patch, the rollout waited for, the cause in rollout history; rerun changed=0."""
    run = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2')
    assert run.rc == 0 and run.changed == 1, run
    deployment = k8s.get(DEPLOY)
    assert image(k8s) == f'{IMAGE}:v2'
    assert deployment['status']['updatedReplicas'] == deployment['status']['availableReplicas'] == 2
    history = k8s.kubectl('rollout', 'history', 'deployment/playcode-app').stdout
    assert 'sre.runbooks k8s_deploy: image tag v2' in history, history
    again = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2')
    assert again.rc == 0 and again.changed == 0, again
    assert 'already runs' in again.out


def test_a_crashlooping_tag_fails_at_the_progress_deadline_and_the_rollback_brings_v1_back(k8s):
    """API contract (P1, P3): ProgressDeadlineExceeded ends the wait at once (the deadline is 4 s, the
    timeout 300 s); the rollback to the previous revision rolls out."""
    started = time.monotonic()
    run = play(k8s, 'k8s_deploy.yml', '-e', 'tag=crashloop-1')
    assert run.rc != 0, run
    assert 'exceeded its progress deadline' in run.out and 'playbooks/k8s_rollback.yml' in run.out, run
    assert time.monotonic() - started < 60
    # A re-run does not call the failed rollout done because the image is set.
    assert play(k8s, 'k8s_deploy.yml', '-e', 'tag=crashloop-1').rc != 0
    back = play(k8s, 'k8s_rollback.yml')
    assert back.rc == 0 and back.changed == 1, back
    assert image(k8s) == f'{IMAGE}:v1'
    assert 'successfully rolled out' in back.out
    # The same command again stays: kubectl rollout undo would flip forward to the crash-looping release.
    again = play(k8s, 'k8s_rollback.yml')
    assert again.rc == 0 and again.changed == 0 and 'is already a rollback' in again.out, again
    assert image(k8s) == f'{IMAGE}:v1'


def _after_undo(k8s) -> dict:
    deployment = k8s.get(DEPLOY)
    return {
        'template': canonical(deployment['spec']['template']),
        'annotations': deployment['metadata']['annotations'],
        'replicasets': sorted(
            (rs['metadata']['name'], rs['metadata']['annotations'].get('deployment.kubernetes.io/revision'))
            for rs in k8s.get('/apis/apps/v1/namespaces/playcode/replicasets?labelSelector=app%3Dplaycode-app')['items']
        ),
    }


def test_rollback_to_a_revision_does_what_kubectl_rollout_undo_does(k8s):
    """API contract (P3): on the same history, the role's rollback to revision 1 leaves the Deployment and
    its ReplicaSets as `kubectl rollout undo --to-revision=1` does (templates compared as the API server's
    types compare them: kubectl's patch carries an empty `resources`); a rerun changes nothing."""
    kubectl_deploy(k8s, 'v2')
    kubectl_deploy(k8s, 'v3')
    k8s.kubectl('rollout', 'undo', 'deployment/playcode-app', '--to-revision=1')
    k8s.kubectl('rollout', 'status', 'deployment/playcode-app', '--timeout=20s')
    by_kubectl = _after_undo(k8s)

    k8s.reset()
    kubectl_deploy(k8s, 'v2')
    kubectl_deploy(k8s, 'v3')
    run = play(k8s, 'k8s_rollback.yml', '-e', 'to_revision=1')
    assert run.rc == 0 and run.changed == 1, run
    assert 'revisions: 1: v1 (seed: playcode-app v1); 2: v2 (deploy v2); 3: v3 (deploy v3)' in run.out, run
    assert _after_undo(k8s) == by_kubectl
    assert image(k8s) == f'{IMAGE}:v1'
    again = play(k8s, 'k8s_rollback.yml', '-e', 'to_revision=1')
    assert again.rc == 0 and again.changed == 0, again
    assert 'already at revision 4' in again.out


def test_rollback_to_a_tag_and_an_unknown_target_lists_the_revisions(k8s):
    """API contract (P3): to_tag picks the newest revision that ran it; an unknown revision or tag stops the
    run with the history and sends no write; --check sends only reads and dry runs."""
    kubectl_deploy(k8s, 'v2')
    kubectl_deploy(k8s, 'v3')
    k8s.requests(clear=True)
    for target in ('to_revision=9', 'to_tag=v7'):
        run = play(k8s, 'k8s_rollback.yml', '-e', target)
        assert run.rc != 0 and '1: v1 (seed: playcode-app v1); 2: v2 (deploy v2); 3: v3 (deploy v3)' in run.out, run
    # Only the run lock was written (and left by the failed runs, for the next run to take over).
    assert {each['path'].rsplit('/', 1)[-1] for each in only_reads_and_dry_runs(k8s.requests(clear=True))} <= {
        'configmaps',
        'sre-runbooks-lock-playcode-standin',
    }
    check = play(k8s, 'k8s_rollback.yml', '-e', 'to_tag=v2', '--check')
    assert check.rc == 0 and check.changed == 1 and 'would go back to revision 2' in check.out, check
    assert only_reads_and_dry_runs(k8s.requests()) == []
    assert image(k8s) == f'{IMAGE}:v3'
    run = play(k8s, 'k8s_rollback.yml', '-e', 'to_tag=v2')
    assert run.rc == 0 and run.changed == 1, run
    assert image(k8s) == f'{IMAGE}:v2'


def _job(k8s, name: str) -> dict:
    return k8s.get(f'/apis/batch/v1/namespaces/playcode/jobs/{name}')


def test_backup_job_is_made_from_the_cronjob_waited_for_and_its_log_read(k8s):
    """API contract (P10): the Job kubectl create job --from=cronjob makes, Complete, its log shown; rerun
    changed=0; --check of another name creates nothing."""
    cronjob = k8s.get('/apis/batch/v1/namespaces/playcode/cronjobs/mongodb-backup')
    run = play(k8s, 'mongo_backup.yml', '-e', 'job_name=manual-backup-test')
    assert run.rc == 0 and run.changed == 1, run
    job = _job(k8s, 'manual-backup-test')
    assert job['metadata']['annotations']['cronjob.kubernetes.io/instantiate'] == 'manual'
    owner = job['metadata']['ownerReferences'][0]
    assert (owner['kind'], owner['uid'], owner['controller']) == ('CronJob', cronjob['metadata']['uid'], True)
    assert (
        job['spec']['template']['spec']['containers']
        == cronjob['spec']['jobTemplate']['spec']['template']['spec']['containers']
    )
    lines = json.loads(
        k8s.kubectl('get', 'job', 'manual-backup-test', '-o', 'jsonpath={.status.conditions}').stdout or '[]'
    )
    assert any(each['type'] == 'Complete' for each in lines)
    log = k8s.kubectl('logs', 'job/manual-backup-test').stdout.strip().splitlines()
    assert log and log[-1] in run.out, run
    again = play(k8s, 'mongo_backup.yml', '-e', 'job_name=manual-backup-test')
    assert again.rc == 0 and again.changed == 0, again
    k8s.requests(clear=True)
    check = play(k8s, 'mongo_backup.yml', '-e', 'job_name=manual-backup-check', '--check')
    assert check.rc == 0 and check.changed == 1, check
    assert only_reads_and_dry_runs(k8s.requests()) == []


def test_a_failing_backup_job_stops_the_run_at_once_and_a_rerun_refuses_it(k8s):
    """API contract (P10): a Failed Job ends the wait at once (not after 1800 s), with its log; the re-run
    of the same name says how to run again instead of taking it for a backup."""
    k8s.set_images({'*mongo*backup*': {'behaviour': 'fail', 'after': 0.5, 'logs': ['error: auth failed']}})
    started = time.monotonic()
    run = play(k8s, 'mongo_backup.yml', '-e', 'job_name=manual-backup-bad')
    assert run.rc != 0 and 'failed' in run.out and 'error: auth failed' in run.out, run
    assert time.monotonic() - started < 60
    again = play(k8s, 'mongo_backup.yml', '-e', 'job_name=manual-backup-bad')
    assert again.rc != 0 and 'with another name' in again.out and again.changed == 0, again


def test_on_production_the_confirmation_comes_before_any_request(k8s):
    """Guard: an environment that counts as production refuses the deploy and the rollback without
    -e sre_confirm=playcode-app before the first request reaches the API server."""
    k8s.requests(clear=True)
    for playbook, extra in (('k8s_deploy.yml', 'tag=v2'), ('k8s_rollback.yml', 'to_revision=1')):
        run = play(k8s, playbook, '-e', extra, '-e', 'sre_environment=production')
        assert run.rc != 0 and 'sre_confirm' in run.out, run
    assert k8s.requests() == []
    run = play(
        k8s, 'k8s_deploy.yml', '-e', 'tag=v2', '-e', 'sre_environment=production', '-e', 'sre_confirm=playcode-app'
    )
    assert run.rc == 0 and image(k8s) == f'{IMAGE}:v2', run


def test_the_run_lock_in_the_cluster_refuses_a_second_run_before_any_change(k8s):
    """Guard (API contract): the lock is a ConfigMap in the namespace, not a file on the throwaway
    controller. Held by a run of another controller, the deploy is refused naming it, before any write;
    check mode only warns; -e sre_lock_break=true takes it over; a run that ends gives it back."""
    holder = {'run_id': 'awx-job-42:17:123', 'controller': 'awx-job-42', 'pid': 17, 'operator': 'ops'}
    holder |= {'play': 'Deploy an image tag to the PlayCode app', 'started_at': time.time()}
    lock = {
        'apiVersion': 'v1',
        'kind': 'ConfigMap',
        'metadata': {'name': 'sre-runbooks-lock-playcode-standin', 'namespace': 'playcode'},
        'data': {'holder': json.dumps(holder)},
    }
    k8s.seed(lock)
    k8s.requests(clear=True)
    refused = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2')
    assert refused.rc != 0 and 'is locked by another run: ops on awx-job-42' in refused.out, refused
    assert 'configmap playcode/sre-runbooks-lock-playcode-standin in the cluster' in refused.out, refused
    # The one write is the lock's own create, which the API server refused (409).
    writes = only_reads_and_dry_runs(k8s.requests())
    assert [(each['method'], each['path']) for each in writes] == [('POST', '/api/v1/namespaces/playcode/configmaps')]
    assert image(k8s) == f'{IMAGE}:v1'
    check = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2', '--check')
    assert check.rc == 0 and 'the real run would be refused' in check.out, check
    broken = play(k8s, 'k8s_deploy.yml', '-e', 'tag=v2', '-e', 'sre_lock_break=true')
    assert broken.rc == 0 and image(k8s) == f'{IMAGE}:v2', broken
    assert 'taking over the lock' in broken.out
    locks = k8s.get('/api/v1/namespaces/playcode/configmaps')['items']
    assert [each['metadata']['name'] for each in locks if each['metadata']['name'].startswith('sre-runbooks')] == []
