# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's Deployment controller, after the documented Kubernetes behaviour: one ReplicaSet per
pod template (pod-template-hash), revisions with reuse on undo, rolling update within maxSurge and
maxUnavailable, status with Available/Progressing (ProgressDeadlineExceeded), history trimming, paused."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time

from .objects import DEPLOY, PODS, RS, emit_event, is_ready, make, save, set_condition
from .store import SAFE_ALPHABET, canonical, owner_ref

REVISION = 'deployment.kubernetes.io/revision'
HISTORY = 'deployment.kubernetes.io/revision-history'
DESIRED = 'deployment.kubernetes.io/desired-replicas'
MAX = 'deployment.kubernetes.io/max-replicas'
NOT_COPIED = {
    'kubectl.kubernetes.io/last-applied-configuration',
    REVISION,
    HISTORY,
    DESIRED,
    MAX,
    'deprecated.deployment.rollback.to',
}
HASH = 'pod-template-hash'


def template_hash(template: dict) -> str:
    digest = hashlib.sha256(json.dumps(canonical(template), sort_keys=True).encode()).digest()
    return ''.join(SAFE_ALPHABET[ord(char) % len(SAFE_ALPHABET)] for char in str(int.from_bytes(digest[:4], 'big')))


def bare_template(template: dict) -> dict:
    """The template without pod-template-hash, canonical: what "same template" means."""
    template = copy.deepcopy(template or {})
    (template.get('metadata') or {}).get('labels', {}).pop(HASH, None)
    return canonical(template)


def revision(rs: dict) -> int:
    return int((rs['metadata'].get('annotations') or {}).get(REVISION, '0'))


def _resolve(value, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith('%'):
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(value)


def _limits(deploy: dict) -> tuple[int, int]:
    desired = deploy['spec'].get('replicas', 1)
    rolling = deploy['spec'].get('strategy', {}).get('rollingUpdate') or {}
    surge = _resolve(rolling.get('maxSurge', '25%'), desired, True)
    unavailable = _resolve(rolling.get('maxUnavailable', '25%'), desired, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


class DeploymentController:
    def __init__(self, state):
        self.state = state
        self.signatures: dict[str, tuple] = {}
        self.progress_at: dict[str, float] = {}
        self.progress_note: dict[str, tuple[str, str]] = {}

    def sync(self):
        for deploy in self.state.store.list(DEPLOY):
            self._sync(deploy)

    def _owned(self, deploy: dict) -> list[dict]:
        return sorted(self.state.store.owned(RS, deploy['metadata']['uid']), key=revision)

    def _sync(self, deploy: dict):
        template = bare_template(deploy['spec'].get('template'))
        replica_sets = self._owned(deploy)
        new_rs = next((rs for rs in replica_sets if bare_template(rs['spec'].get('template')) == template), None)
        if not deploy['spec'].get('paused'):
            new_rs = self._ensure_new(deploy, replica_sets, new_rs)
            olds = [rs for rs in self._owned(deploy) if rs['metadata']['uid'] != new_rs['metadata']['uid']]
            new_rs = self._scale(deploy, new_rs, olds)
            self._trim(deploy, olds)
        self._status(self.state.store.get(DEPLOY, deploy['metadata']['namespace'], deploy['metadata']['name']), new_rs)

    def _rs_annotations(self, deploy: dict, rs_revision: int, history: str) -> dict:
        annotations = {k: v for k, v in (deploy['metadata'].get('annotations') or {}).items() if k not in NOT_COPIED}
        annotations.update(
            {
                REVISION: str(rs_revision),
                DESIRED: str(deploy['spec'].get('replicas', 1)),
                MAX: str(deploy['spec'].get('replicas', 1) + _limits(deploy)[0]),
            }
        )
        if history:
            annotations[HISTORY] = history
        return annotations

    def _ensure_new(self, deploy: dict, replica_sets: list[dict], new_rs: dict | None) -> dict:
        top = max((revision(rs) for rs in replica_sets), default=0)
        if new_rs is None:
            new_rs = self._create_rs(deploy, replica_sets, top + 1)
        else:
            history = (new_rs['metadata'].get('annotations') or {}).get(HISTORY, '')
            number = revision(new_rs)
            if number < top:
                history = ','.join(filter(None, [history, str(number)]))
                number = top + 1
            updated = copy.deepcopy(new_rs)
            updated['metadata']['annotations'] = {
                **(new_rs['metadata'].get('annotations') or {}),
                **self._rs_annotations(deploy, number, history),
            }
            new_rs = save(self.state, RS, updated)
        self._set_revision(deploy, revision(new_rs))
        return new_rs

    def _create_rs(self, deploy: dict, replica_sets: list[dict], number: int) -> dict:
        meta = deploy['metadata']
        template = copy.deepcopy(deploy['spec'].get('template') or {})
        pod_hash = template_hash(template)
        template.setdefault('metadata', {}).setdefault('labels', {})[HASH] = pod_hash
        selector = copy.deepcopy(deploy['spec'].get('selector') or {})
        selector.setdefault('matchLabels', {})[HASH] = pod_hash
        busy = any(rs['spec'].get('replicas', 0) for rs in replica_sets)
        rs = {
            'metadata': {
                'name': f'{meta["name"]}-{pod_hash}',
                'labels': dict(template['metadata']['labels']),
                'annotations': self._rs_annotations(deploy, number, ''),
                'ownerReferences': [owner_ref(DEPLOY, deploy)],
            },
            'spec': {
                'replicas': 0 if busy else deploy['spec'].get('replicas', 1),
                'selector': selector,
                'template': template,
            },
        }
        created = make(self.state, RS, rs, meta['namespace'])
        self._note(deploy, 'NewReplicaSetCreated', f'Created new replica set "{rs["metadata"]["name"]}"')
        if not busy:
            emit_event(
                self.state,
                deploy,
                'ScalingReplicaSet',
                f'Scaled up replica set {rs["metadata"]["name"]} from 0 to {rs["spec"]["replicas"]}',
            )
        return created

    def _set_revision(self, deploy: dict, number: int):
        annotations = deploy['metadata'].get('annotations') or {}
        if annotations.get(REVISION) != str(number):
            updated = copy.deepcopy(deploy)
            updated['metadata']['annotations'] = {**annotations, REVISION: str(number)}
            save(self.state, DEPLOY, updated)

    def _set_replicas(self, deploy: dict, rs: dict, count: int) -> dict:
        if rs['spec'].get('replicas', 0) == count:
            return rs
        verb = 'up' if count > rs['spec'].get('replicas', 0) else 'down'
        emit_event(
            self.state,
            deploy,
            'ScalingReplicaSet',
            f'Scaled {verb} replica set {rs["metadata"]["name"]} from {rs["spec"].get("replicas", 0)} to {count}',
        )
        updated = copy.deepcopy(rs)
        updated['spec']['replicas'] = count
        return save(self.state, RS, updated)

    def _ready(self, rs: dict) -> int:
        return sum(1 for pod in self.state.store.owned(PODS, rs['metadata']['uid']) if is_ready(pod))

    def _scale(self, deploy: dict, new_rs: dict, olds: list[dict]) -> dict:
        desired = deploy['spec'].get('replicas', 1)
        if deploy['spec'].get('strategy', {}).get('type') == 'Recreate':
            for rs in olds:
                self._set_replicas(deploy, rs, 0)
            if any(self.state.store.owned(PODS, rs['metadata']['uid']) for rs in olds):
                return new_rs
            return self._set_replicas(deploy, new_rs, desired)
        surge, unavailable = _limits(deploy)
        total = sum(rs['spec'].get('replicas', 0) for rs in [new_rs, *olds])
        current = new_rs['spec'].get('replicas', 0)
        target = desired if current > desired else min(desired, current + max(0, desired + surge - total))
        new_rs = self._set_replicas(deploy, new_rs, target)
        total += target - current
        budget = total - (desired - unavailable) - (target - self._ready(new_rs))
        for rs in olds:
            count = rs['spec'].get('replicas', 0)
            cut = min(count, max(0, budget))
            if cut:
                self._set_replicas(deploy, rs, count - cut)
                budget -= cut
        return new_rs

    def _trim(self, deploy: dict, olds: list[dict]):
        idle = [
            rs
            for rs in olds
            if not rs['spec'].get('replicas') and not self.state.store.owned(PODS, rs['metadata']['uid'])
        ]
        excess = len(idle) - deploy['spec'].get('revisionHistoryLimit', 10)
        for rs in idle[: max(0, excess)]:
            self.state.store.delete(RS, rs['metadata']['namespace'], rs['metadata']['name'])

    def _note(self, deploy: dict, reason: str, message: str):
        self.progress_note[deploy['metadata']['uid']] = (reason, message)

    def _counts(self, deploy: dict, new_rs: dict | None) -> dict:
        replica_sets = self._owned(deploy)
        pods = {rs['metadata']['uid']: self.state.store.owned(PODS, rs['metadata']['uid']) for rs in replica_sets}
        ready = sum(1 for group in pods.values() for pod in group if is_ready(pod))
        updated = len(pods.get(new_rs['metadata']['uid'], [])) if new_rs else 0
        desired = deploy['spec'].get('replicas', 1)
        return {
            'replicas': sum(len(group) for group in pods.values()),
            'updatedReplicas': updated,
            'readyReplicas': ready,
            'availableReplicas': ready,
            'unavailableReplicas': max(0, desired - ready),
        }

    def _status(self, deploy: dict, new_rs: dict | None):
        uid = deploy['metadata']['uid']
        counts = self._counts(deploy, new_rs)
        signature = (new_rs['metadata']['name'] if new_rs else '', tuple(counts.values()))
        if self.signatures.get(uid) != signature:
            self.signatures[uid] = signature
            self.progress_at[uid] = time.monotonic()
            progressed = True
        else:
            progressed = False
        status = copy.deepcopy(deploy.get('status') or {})
        status['conditions'] = self._conditions(deploy, new_rs, counts, progressed, status.get('conditions', []))
        status.update(observedGeneration=deploy['metadata'].get('generation', 1), **counts)
        status = {k: v for k, v in status.items() if v or k in ('observedGeneration', 'conditions')}
        if status != deploy.get('status'):
            updated = copy.deepcopy(deploy)
            updated['status'] = status
            save(self.state, DEPLOY, updated)

    def _conditions(self, deploy: dict, new_rs, counts: dict, progressed: bool, conditions: list) -> list:
        desired = deploy['spec'].get('replicas', 1)
        if counts['availableReplicas'] >= desired - _limits(deploy)[1]:
            conditions = set_condition(
                conditions, 'Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'
            )
        else:
            conditions = set_condition(
                conditions,
                'Available',
                'False',
                'MinimumReplicasUnavailable',
                'Deployment does not have minimum availability.',
            )
        return self._progressing(deploy, new_rs, counts, progressed, conditions)

    def _progressing(self, deploy: dict, new_rs, counts: dict, progressed: bool, conditions: list) -> list:
        uid, desired = deploy['metadata']['uid'], deploy['spec'].get('replicas', 1)
        name = new_rs['metadata']['name'] if new_rs else ''
        old = next((c for c in conditions if c['type'] == 'Progressing'), {})
        if deploy['spec'].get('paused'):
            return set_condition(conditions, 'Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused')
        if new_rs and counts['updatedReplicas'] == desired == counts['replicas'] == counts['availableReplicas']:
            self.progress_note.pop(uid, None)
            return set_condition(
                conditions,
                'Progressing',
                'True',
                'NewReplicaSetAvailable',
                f'ReplicaSet "{name}" has successfully progressed.',
            )
        if progressed:
            reason, message = self.progress_note.pop(uid, ('ReplicaSetUpdated', f'ReplicaSet "{name}" is progressing.'))
            return set_condition(conditions, 'Progressing', 'True', reason, message, touch=True)
        deadline = deploy['spec'].get('progressDeadlineSeconds', 600)
        if old.get('reason') != 'ProgressDeadlineExceeded' and time.monotonic() - self.progress_at[uid] > deadline:
            return set_condition(
                conditions,
                'Progressing',
                'False',
                'ProgressDeadlineExceeded',
                f'ReplicaSet "{name}" has timed out progressing.',
            )
        return conditions
