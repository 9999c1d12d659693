# SPDX-License-Identifier: GPL-3.0-or-later
"""API defaulting, as the apiserver fills unset fields on every write (the subset clients read back)."""

from __future__ import annotations

JOB_LABELS = ('batch.kubernetes.io/controller-uid', 'batch.kubernetes.io/job-name', 'controller-uid', 'job-name')
WITH_STATUS_FROM_CONTROLLERS = ('Deployment', 'ReplicaSet', 'StatefulSet', 'Job', 'CronJob', 'Pod', 'Certificate')


def _deployment(obj: dict):
    spec = obj.setdefault('spec', {})
    spec.setdefault('replicas', 1)
    spec.setdefault('revisionHistoryLimit', 10)
    spec.setdefault('progressDeadlineSeconds', 600)
    strategy = spec.setdefault('strategy', {'type': 'RollingUpdate'})
    if strategy.get('type', 'RollingUpdate') == 'RollingUpdate':
        strategy['type'] = 'RollingUpdate'
        rolling = strategy.setdefault('rollingUpdate', {})
        rolling.setdefault('maxSurge', '25%')
        rolling.setdefault('maxUnavailable', '25%')


def _replicas(obj: dict):
    obj.setdefault('spec', {}).setdefault('replicas', 1)


def _job(obj: dict):
    meta, spec = obj['metadata'], obj.setdefault('spec', {})
    uid, name = meta['uid'], meta['name']
    spec.setdefault('backoffLimit', 6)
    spec.setdefault('completions', 1)
    spec.setdefault('parallelism', 1)
    spec.setdefault('completionMode', 'NonIndexed')
    spec.setdefault('suspend', False)
    spec.setdefault('selector', {'matchLabels': {'batch.kubernetes.io/controller-uid': uid}})
    labels = spec.setdefault('template', {}).setdefault('metadata', {}).setdefault('labels', {})
    for key, value in zip(JOB_LABELS, (uid, name, uid, name)):
        labels.setdefault(key, value)
    if not meta.get('labels'):
        meta['labels'] = dict(labels)


def _namespace(obj: dict):
    obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
    obj.setdefault('status', {}).setdefault('phase', 'Active')


def _pod(obj: dict):
    spec = obj.setdefault('spec', {})
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('nodeName', 'standin-node-1')
    obj.setdefault('status', {}).setdefault('phase', 'Pending')


DEFAULTERS = {
    'Deployment': _deployment,
    'ReplicaSet': _replicas,
    'StatefulSet': _replicas,
    'Job': _job,
    'Namespace': _namespace,
    'Pod': _pod,
}


def apply_defaults(obj: dict) -> dict:
    defaulter = DEFAULTERS.get(obj.get('kind'))
    if defaulter:
        defaulter(obj)
    return obj
