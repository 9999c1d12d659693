# SPDX-License-Identifier: GPL-3.0-or-later
"""ReplicaSet and StatefulSet controllers of the stand-in: keep the pod count, report status."""

from __future__ import annotations

import copy

from .objects import PODS, RS, STS, is_ready, make, pod_from_template, save
from .store import owner_ref, random_suffix


def _status(obj: dict, pods: list[dict]) -> dict:
    ready = sum(1 for pod in pods if is_ready(pod))
    status = {
        'replicas': len(pods),
        'fullyLabeledReplicas': len(pods),
        'readyReplicas': ready,
        'availableReplicas': ready,
        'observedGeneration': obj['metadata'].get('generation', 1),
    }
    return {k: v for k, v in status.items() if v or k in ('replicas', 'observedGeneration')}


def _write_status(state, res, obj: dict, status: dict):
    if obj.get('status') != status:
        new = copy.deepcopy(obj)
        new['status'] = status
        save(state, res, new)


def sync_replicasets(state):
    for rs in state.store.list(RS):
        pods = state.store.owned(PODS, rs['metadata']['uid'])
        want = rs['spec'].get('replicas', 1)
        ns = rs['metadata']['namespace']
        for _index in range(want - len(pods)):
            name = f'{rs["metadata"]["name"]}-{random_suffix()}'
            pods.append(make(state, PODS, pod_from_template(rs['spec']['template'], name, owner_ref(RS, rs)), ns))
        if len(pods) > want:
            doomed = sorted(pods, key=lambda p: (is_ready(p), p['metadata']['creationTimestamp']))[: len(pods) - want]
            for pod in doomed:
                state.store.delete(PODS, ns, pod['metadata']['name'])
            pods = [pod for pod in pods if pod not in doomed]
        _write_status(state, RS, rs, _status(rs, pods))


def sync_statefulsets(state):
    for sts in state.store.list(STS):
        ns, name = sts['metadata']['namespace'], sts['metadata']['name']
        want = sts['spec'].get('replicas', 1)
        for index in range(want):
            pod_name = f'{name}-{index}'
            if state.store.find(PODS, ns, pod_name) is None:
                pod = pod_from_template(sts['spec'].get('template', {}), pod_name, owner_ref(STS, sts))
                pod['metadata']['labels']['statefulset.kubernetes.io/pod-name'] = pod_name
                make(state, PODS, pod, ns)
        pods = state.store.owned(PODS, sts['metadata']['uid'])
        for pod in pods:
            if int(pod['metadata']['name'].rsplit('-', 1)[1]) >= want:
                state.store.delete(PODS, ns, pod['metadata']['name'])
        pods = state.store.owned(PODS, sts['metadata']['uid'])
        status = _status(sts, pods)
        status.pop('fullyLabeledReplicas', None)
        status.update(currentReplicas=len(pods), updatedReplicas=len(pods))
        _write_status(state, STS, sts, status)
