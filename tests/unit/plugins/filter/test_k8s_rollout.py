# SPDX-License-Identifier: GPL-3.0-or-later
"""The PlayCode Kubernetes filters: rollout status as kubectl reads it, the revisions of a
Deployment, the revision-aware rollback plan (kubectl rollout undo's patch), and the Job
made from a CronJob."""

from __future__ import annotations

import copy
import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.k8s_rollout import (
    FilterModule,
    k8s_container_image,
    k8s_job_from_cronjob,
    k8s_job_state,
    k8s_revisions,
    k8s_rollback_plan,
    k8s_rollout_status,
    k8s_selector,
)

REPO = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'


def _template(tag: str, pod_hash: str = '') -> dict:
    labels = {'app': 'playcode-app'}
    if pod_hash:
        labels['pod-template-hash'] = pod_hash
    return {
        'metadata': {'labels': labels, 'creationTimestamp': None},
        'spec': {'containers': [{'name': 'playcode-app', 'image': f'{REPO}:{tag}', 'resources': {}}]},
    }


def _deployment(tag: str, **status) -> dict:
    return {
        'metadata': {
            'name': 'playcode-app',
            'uid': 'dep-uid',
            'generation': 3,
            'annotations': {'deployment.kubernetes.io/revision': '3', 'kubernetes.io/change-cause': f'deploy {tag}'},
        },
        'spec': {
            'replicas': 2,
            'selector': {'matchLabels': {'app': 'playcode-app'}},
            'template': {
                'metadata': {'labels': {'app': 'playcode-app'}},
                'spec': {'containers': [{'name': 'playcode-app', 'image': f'{REPO}:{tag}'}]},
            },
        },
        'status': {'observedGeneration': 3, 'replicas': 2, 'updatedReplicas': 2, 'availableReplicas': 2} | status,
    }


def _replicaset(revision: int, tag: str, owner: str = 'dep-uid') -> dict:
    return {
        'metadata': {
            'name': f'playcode-app-{tag}',
            'annotations': {
                'deployment.kubernetes.io/revision': str(revision),
                'kubernetes.io/change-cause': f'deploy {tag}',
                'deployment.kubernetes.io/desired-replicas': '2',
            },
            'ownerReferences': [{'kind': 'Deployment', 'uid': owner, 'controller': True}],
        },
        'spec': {'replicas': 0, 'template': _template(tag, f'h{tag}')},
    }


HISTORY = [_replicaset(1, 'v1'), _replicaset(3, 'v3'), _replicaset(2, 'v2'), _replicaset(9, 'v9', owner='other')]


def test_rollout_status_reads_as_kubectl_does() -> None:
    assert k8s_rollout_status(_deployment('v3'))['state'] == 'complete'
    waiting = k8s_rollout_status(_deployment('v3', updatedReplicas=1))
    assert waiting == {'state': 'progressing', 'message': '1 out of 2 new replicas have been updated'}
    assert 'old replicas are pending' in k8s_rollout_status(_deployment('v3', replicas=3))['message']
    assert '1 of 2 updated' in k8s_rollout_status(_deployment('v3', availableReplicas=1))['message']
    unobserved = k8s_rollout_status(_deployment('v3', observedGeneration=2))
    assert unobserved['state'] == 'progressing'


def test_a_missed_progress_deadline_or_a_pause_fails_at_once() -> None:
    deadline = {'type': 'Progressing', 'status': 'False', 'reason': 'ProgressDeadlineExceeded', 'message': 'RS x'}
    failed = k8s_rollout_status(_deployment('v3', updatedReplicas=1, conditions=[deadline]))
    assert failed['state'] == 'failed' and 'exceeded its progress deadline: RS x' in failed['message']
    paused = _deployment('v3')
    paused['spec']['paused'] = True
    assert 'paused' in k8s_rollout_status(paused)['message']


def test_revisions_are_the_owned_replicasets_oldest_first() -> None:
    revisions = k8s_revisions(HISTORY, _deployment('v3'))
    assert [each['revision'] for each in revisions] == [1, 2, 3]
    assert revisions[0]['images'] == [f'{REPO}:v1'] and revisions[0]['change_cause'] == 'deploy v1'


def test_rollback_to_previous_is_kubectl_undo_patch() -> None:
    deployment = _deployment('v3')
    plan = k8s_rollback_plan(deployment, HISTORY)
    assert plan['target'] == 2 and plan['needed'] is True
    template, annotations = plan['patch'][0]['value'], plan['patch'][1]['value']
    assert plan['patch'][0]['path'] == '/spec/template' and plan['patch'][1]['path'] == '/metadata/annotations'
    assert 'pod-template-hash' not in template['metadata']['labels']
    # The Deployment keeps its own revision; the change cause is the revision's.
    assert annotations == {'deployment.kubernetes.io/revision': '3', 'kubernetes.io/change-cause': 'deploy v2'}
    assert deployment['spec']['template']['spec']['containers'][0]['image'].endswith(':v3')


def test_rollback_to_revision_or_tag_and_already_there() -> None:
    assert k8s_rollback_plan(_deployment('v3'), HISTORY, 1)['images_after'] == [f'{REPO}:v1']
    assert k8s_rollback_plan(_deployment('v3'), HISTORY, 0, 'v2')['target'] == 2
    # Nulls and empty maps in the stored template do not make it "different".
    assert k8s_rollback_plan(_deployment('v3'), HISTORY, 3)['needed'] is False


@pytest.mark.parametrize(
    ('revision', 'tag', 'message'),
    [
        (7, '', 'unable to find the specified revision 7; the revisions are: 1: v1 (deploy v1); 2: v2'),
        (0, 'v9', "no revision runs the image tag 'v9'"),
    ],
)
def test_an_unknown_target_lists_what_exists(revision: int, tag: str, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        k8s_rollback_plan(_deployment('v3'), HISTORY, revision, tag)


def test_no_history_or_a_paused_deployment_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match='no rollout history'):
        k8s_rollback_plan(_deployment('v1'), HISTORY[:1])
    paused = _deployment('v3')
    paused['spec']['paused'] = True
    with pytest.raises(AnsibleFilterError, match='resume it first'):
        k8s_rollback_plan(paused, HISTORY)


def test_container_image_and_selector() -> None:
    deployment = _deployment('v3')
    assert k8s_container_image(deployment, 'playcode-app').endswith(':v3')
    assert k8s_container_image(deployment).endswith(':v3')
    with pytest.raises(AnsibleFilterError, match="no container 'web' \\(it has: playcode-app\\)"):
        k8s_container_image(deployment, 'web')
    deployment['spec']['selector']['matchExpressions'] = [{'key': 'tier', 'operator': 'In', 'values': ['a', 'b']}]
    assert k8s_selector(deployment) == ['app=playcode-app', 'tier in (a,b)']


CRONJOB = {
    'apiVersion': 'batch/v1',
    'kind': 'CronJob',
    'metadata': {'name': 'mongodb-backup', 'namespace': 'playcode', 'uid': 'cron-uid'},
    'spec': {
        'schedule': '0 3 * * *',
        'jobTemplate': {
            'metadata': {'labels': {'app': 'mongodb-backup'}},
            'spec': {'template': {'spec': {'containers': [{'name': 'backup', 'image': 'mongo:7'}]}}},
        },
    },
}


def test_job_from_cronjob_is_what_kubectl_creates() -> None:
    job = k8s_job_from_cronjob(copy.deepcopy(CRONJOB), 'manual-backup-20261205')
    assert job['metadata']['annotations'] == {'cronjob.kubernetes.io/instantiate': 'manual'}
    assert job['metadata']['labels'] == {'app': 'mongodb-backup'}
    assert job['metadata']['ownerReferences'] == [
        {
            'apiVersion': 'batch/v1',
            'kind': 'CronJob',
            'name': 'mongodb-backup',
            'uid': 'cron-uid',
            'controller': True,
        }
    ]
    assert job['spec'] == CRONJOB['spec']['jobTemplate']['spec']
    with pytest.raises(AnsibleFilterError, match=r'no spec\.jobTemplate\.spec'):
        k8s_job_from_cronjob({'metadata': {'name': 'x'}, 'spec': {}}, 'y')


def test_job_state_from_its_conditions() -> None:
    assert k8s_job_state({'metadata': {'name': 'j'}, 'status': {'active': 1}})['state'] == 'running'
    done = {'metadata': {'name': 'j'}, 'status': {'conditions': [{'type': 'Complete', 'status': 'True'}]}}
    assert k8s_job_state(done)['state'] == 'complete'
    failed = {
        'metadata': {'name': 'j'},
        'status': {'conditions': [{'type': 'Failed', 'status': 'True', 'reason': 'BackoffLimitExceeded'}]},
    }
    assert k8s_job_state(failed) == {'state': 'failed', 'message': 'job j failed (BackoffLimitExceeded)'}


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) >= {'k8s_rollout_status', 'k8s_rollback_plan', 'k8s_job_from_cronjob'}


def test_after_a_rollback_a_rerun_stays_and_the_old_number_still_finds_it():
    """kubectl rollout undo reuses revision 1 as revision 4 (revision-history 1): a re-run without a
    target must not flip forward to the release it rolled back from; -e to_revision=1 finds it."""
    reused = _replicaset(4, 'v1')
    reused['metadata']['annotations']['deployment.kubernetes.io/revision-history'] = '1'
    history = [reused, _replicaset(2, 'v2'), _replicaset(3, 'v3')]
    deployment = _deployment('v1')
    rerun = k8s_rollback_plan(deployment, history)
    assert (rerun['target'], rerun['needed']) == (4, False)
    assert 'already a rollback (to what revision 1 ran)' in rerun['note']
    by_old_number = k8s_rollback_plan(deployment, history, 1)
    assert (by_old_number['target'], by_old_number['needed']) == (4, False)
    assert k8s_rollback_plan(deployment, history, 2)['needed'] is True
    assert '4 (was 1): v1' in '; '.join(rerun['history'])
