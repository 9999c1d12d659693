# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the PlayCode Kubernetes roles (runbook P1, P3, P10): the state of a
Deployment's rollout as ``kubectl rollout status`` reads it, its revisions as ``kubectl
rollout history`` reads them from the ReplicaSets it controls, the patch of a
revision-aware rollback as ``kubectl rollout undo`` builds it, and a Job made from a
CronJob's template as ``kubectl create job --from=cronjob/...`` makes it.

They read the objects that kubernetes.core.k8s_info returns (plain dicts), so that the
roles change the cluster only through kubernetes.core modules, whose check mode is the
API server's dry run."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

REVISION = 'deployment.kubernetes.io/revision'
REVISION_HISTORY = 'deployment.kubernetes.io/revision-history'
CHANGE_CAUSE = 'kubernetes.io/change-cause'
TEMPLATE_HASH = 'pod-template-hash'
# Annotations `kubectl rollout undo` keeps from the Deployment rather than the ReplicaSet
# (kubectl/pkg/polymorphichelpers/rollback.go, annotationsToSkip).
UNDO_KEEPS = (
    'kubectl.kubernetes.io/last-applied-configuration',
    REVISION,
    'deployment.kubernetes.io/revision-history',
    'deployment.kubernetes.io/desired-replicas',
    'deployment.kubernetes.io/max-replicas',
    'deprecated.deployment.rollback.to',
)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get('metadata') or {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get('name', '?'))


def canonical(value: Any) -> Any:
    """The value without nulls, empty maps and empty lists, as the API server's Go structs
    read it: ``"creationTimestamp": null`` and ``"resources": {}`` equal nothing at all."""
    if isinstance(value, Mapping):
        kept = {key: canonical(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [])}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    """A pod template without the ReplicaSet's pod-template-hash label."""
    stripped = copy.deepcopy(dict(template))
    labels = (stripped.get('metadata') or {}).get('labels') or {}
    labels.pop(TEMPLATE_HASH, None)
    return stripped


def _same_template(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    return canonical(template_without_hash(left)) == canonical(template_without_hash(right))


def _containers(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(((template or {}).get('spec') or {}).get('containers') or [])


def k8s_container_image(deployment: Mapping[str, Any], container: str = '') -> str:
    """The image of the named container (the first one when no name is given)."""
    containers = _containers((deployment.get('spec') or {}).get('template') or {})
    for each in containers:
        if not container or each.get('name') == container:
            return str(each.get('image', ''))
    names = ', '.join(str(each.get('name')) for each in containers) or 'none'
    raise AnsibleFilterError(f'{_name(deployment)} has no container {container!r} (it has: {names})')


def image_tag(image: str) -> str:
    """The tag of an image reference (``repo:tag`` or ``repo@sha256:...``; ``latest`` when none)."""
    if '@' in image:
        return image.rsplit('@', 1)[1]
    last = image.rsplit('/', 1)[-1]
    return last.rsplit(':', 1)[1] if ':' in last else 'latest'


def _rollout_failure(deployment: Mapping[str, Any]) -> str:
    """Why the rollout will not finish however long one waits, or ''."""
    name = _name(deployment)
    if (deployment.get('spec') or {}).get('paused'):
        return f'deployment {name} is paused: resume it (kubectl rollout resume)'
    for condition in (deployment.get('status') or {}).get('conditions') or []:
        if condition.get('type') == 'Progressing' and condition.get('reason') == 'ProgressDeadlineExceeded':
            detail = condition.get('message') or 'no progress'
            return f'deployment {name} exceeded its progress deadline: {detail}'
    return ''


def _rollout_wait(deployment: Mapping[str, Any]) -> str:
    """What the rollout still waits for (kubectl's messages), or ''."""
    spec, status = deployment.get('spec') or {}, deployment.get('status') or {}
    wanted = int(spec.get('replicas', 1))
    updated = int(status.get('updatedReplicas') or 0)
    replicas = int(status.get('replicas') or 0)
    available = int(status.get('availableReplicas') or 0)
    if updated < wanted:
        return f'{updated} out of {wanted} new replicas have been updated'
    if replicas > updated:
        return f'{replicas - updated} old replicas are pending termination'
    if available < updated:
        return f'{available} of {updated} updated replicas are available'
    return ''


def k8s_rollout_status(deployment: Mapping[str, Any]) -> dict[str, str]:
    """``state`` (complete, progressing or failed) and ``message``, read as ``kubectl rollout
    status`` reads them; a ProgressDeadlineExceeded condition fails at once, and so does a
    paused Deployment (it would never finish)."""
    observed = int(((deployment.get('status') or {}).get('observedGeneration')) or 0)
    if int(_meta(deployment).get('generation') or 0) > observed:
        return {'state': 'progressing', 'message': 'waiting for the deployment spec update to be observed'}
    failure = _rollout_failure(deployment)
    if failure:
        return {'state': 'failed', 'message': failure}
    waiting = _rollout_wait(deployment)
    if waiting:
        return {'state': 'progressing', 'message': waiting}
    return {'state': 'complete', 'message': f'deployment {_name(deployment)} successfully rolled out'}


def k8s_selector(obj: Mapping[str, Any]) -> list[str]:
    """The object's ``spec.selector`` as label selectors (``app=playcode-app``, ``tier in (a,b)``)."""
    selector = (obj.get('spec') or {}).get('selector') or {}
    found = [f'{key}={value}' for key, value in (selector.get('matchLabels') or {}).items()]
    for expression in selector.get('matchExpressions') or []:
        key, operator = expression.get('key'), str(expression.get('operator', ''))
        values = ','.join(str(value) for value in expression.get('values') or [])
        words = {'In': f'{key} in ({values})', 'NotIn': f'{key} notin ({values})', 'Exists': key}
        found.append(words.get(operator, f'!{key}'))
    if not found:
        raise AnsibleFilterError(f'{_name(obj)} has no spec.selector to find what it controls')
    return found


def _controlled_by(replicaset: Mapping[str, Any], deployment: Mapping[str, Any]) -> bool:
    uid = _meta(deployment).get('uid')
    return any(
        ref.get('controller') and ref.get('uid') == uid for ref in _meta(replicaset).get('ownerReferences') or []
    )


def _numbers(text: Any) -> list[int]:
    return [int(word) for word in str(text or '').split(',') if word.strip().isdigit()]


def k8s_revisions(replicasets: list[Mapping[str, Any]], deployment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Deployment's revisions, oldest first, from the ReplicaSets it controls (others
    matching its labels are not its history): revision, replicaset, images, change_cause,
    replicas and template."""
    revisions = []
    for replicaset in replicasets or []:
        annotations = _meta(replicaset).get('annotations') or {}
        if not _controlled_by(replicaset, deployment) or not str(annotations.get(REVISION, '')).isdigit():
            continue
        template = (replicaset.get('spec') or {}).get('template') or {}
        revisions.append(
            {
                'revision': int(annotations[REVISION]),
                # The numbers this ReplicaSet had before it was reused (a rollback to it).
                'earlier': _numbers(annotations.get(REVISION_HISTORY, '')),
                'replicaset': _name(replicaset),
                'images': [str(each.get('image', '')) for each in _containers(template)],
                'change_cause': annotations.get(CHANGE_CAUSE, ''),
                'replicas': int((replicaset.get('spec') or {}).get('replicas') or 0),
                'annotations': dict(annotations),
                'template': template,
            }
        )
    return sorted(revisions, key=lambda each: each['revision'])


def _history_line(revision: Mapping[str, Any]) -> str:
    images = ', '.join(image_tag(image) for image in revision['images'])
    cause = f" ({revision['change_cause']})" if revision['change_cause'] else ''
    earlier = f" (was {', '.join(str(n) for n in revision['earlier'])})" if revision.get('earlier') else ''
    return f"{revision['revision']}{earlier}: {images}{cause}"


def _pick(
    revisions: list[dict[str, Any]], to_revision: int, to_tag: str, current: dict[str, Any] | None
) -> dict[str, Any]:
    """The target revision. A revision reused by an earlier rollback is found under its old
    number too; with no target, a Deployment that already runs a reused revision (a rollback)
    stays where it is: kubectl would flip back to the release that was rolled back from."""
    history = '; '.join(_history_line(each) for each in revisions) or 'none'
    if to_tag:
        tagged = [each for each in revisions if to_tag in (image_tag(image) for image in each['images'])]
        if not tagged:
            raise AnsibleFilterError(
                f'no revision runs the image tag {to_tag!r}; the revisions are: {history}. '
                'To run an image that is not in the history, deploy it (playbooks/k8s_deploy.yml -e tag=...).'
            )
        return tagged[-1]
    if to_revision:
        for each in revisions:
            if to_revision == each['revision'] or to_revision in each['earlier']:
                return each
        raise AnsibleFilterError(f'unable to find the specified revision {to_revision}; the revisions are: {history}')
    if current is not None and current['earlier']:
        return current
    older = [each for each in revisions if current is None or each['revision'] < current['revision']]
    if not older or (current is None and len(revisions) < 2):
        raise AnsibleFilterError(f'no rollout history to go back to (revisions: {history})')
    return older[-1] if current is not None else revisions[-2]


def k8s_rollback_plan(
    deployment: Mapping[str, Any], replicasets: list[Mapping[str, Any]], to_revision: int = 0, to_tag: str = ''
) -> dict[str, Any]:
    """What ``kubectl rollout undo [--to-revision=N]`` would do, or a rollback to the newest
    revision that ran ``to_tag``: ``target`` (the revision), ``needed`` (false when the
    running template already is that revision's), ``patch`` (the JSON patch kubectl sends:
    the revision's template without its hash label, and its annotations with the
    Deployment's own revision bookkeeping kept), ``history`` and the images before and after."""
    if (deployment.get('spec') or {}).get('paused'):
        raise AnsibleFilterError(
            f'{_name(deployment)} is paused: a paused deployment cannot be rolled back; '
            'resume it first (kubectl rollout resume) and run again'
        )
    revisions = k8s_revisions(replicasets, deployment)
    current = (deployment.get('spec') or {}).get('template') or {}
    running = next((each for each in reversed(revisions) if _same_template(each['template'], current)), None)
    target = _pick(revisions, int(to_revision or 0), str(to_tag or ''), running)
    own = _meta(deployment).get('annotations') or {}
    annotations = {key: own[key] for key in UNDO_KEEPS if key in own}
    annotations.update({key: value for key, value in target['annotations'].items() if key not in UNDO_KEEPS})
    return {
        'target': target['revision'],
        'replicaset': target['replicaset'],
        'needed': not _same_template(target['template'], current),
        'patch': [
            {'op': 'replace', 'path': '/spec/template', 'value': template_without_hash(target['template'])},
            {'op': 'replace', 'path': '/metadata/annotations', 'value': annotations},
        ],
        'images_before': [str(each.get('image', '')) for each in _containers(current)],
        'images_after': target['images'],
        'history': [_history_line(each) for each in revisions],
        'note': (
            f"revision {target['revision']} is already a rollback (to what revision "
            f"{', '.join(str(n) for n in target['earlier'])} ran); to go further back, name the revision "
            '(-e to_revision=N)'
            if target is running and target['earlier'] and not to_revision and not to_tag
            else ''
        ),
    }


def k8s_job_from_cronjob(cronjob: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The Job ``kubectl create job NAME --from=cronjob/...`` makes: the CronJob's job
    template, annotation ``cronjob.kubernetes.io/instantiate: manual`` and a controller
    owner reference to the CronJob (without blockOwnerDeletion, as kubectl: that would need
    rights on the CronJob's finalizers)."""
    template = (cronjob.get('spec') or {}).get('jobTemplate') or {}
    if not template.get('spec'):
        raise AnsibleFilterError(f'CronJob {_name(cronjob)} has no spec.jobTemplate.spec to make a Job from')
    meta = _meta(cronjob)
    annotations = dict((template.get('metadata') or {}).get('annotations') or {})
    annotations['cronjob.kubernetes.io/instantiate'] = 'manual'
    owner = {
        'apiVersion': cronjob.get('apiVersion', 'batch/v1'),
        'kind': 'CronJob',
        'name': meta.get('name'),
        'uid': meta.get('uid'),
        'controller': True,
    }
    job_meta = {
        'name': name,
        'namespace': meta.get('namespace'),
        'annotations': annotations,
        'ownerReferences': [owner],
    }
    labels = (template.get('metadata') or {}).get('labels')
    if labels:
        job_meta['labels'] = dict(labels)
    return {'apiVersion': 'batch/v1', 'kind': 'Job', 'metadata': job_meta, 'spec': copy.deepcopy(template['spec'])}


def k8s_job_state(job: Mapping[str, Any]) -> dict[str, str]:
    """``state`` (complete, failed or running) and ``message`` of a Job, from its
    Complete and Failed conditions (a failed Job ends the wait at once)."""
    for condition in (job.get('status') or {}).get('conditions') or []:
        if condition.get('status') != 'True':
            continue
        if condition.get('type') == 'Complete':
            return {'state': 'complete', 'message': f'job {_name(job)} completed'}
        if condition.get('type') == 'Failed':
            why = ': '.join(str(part) for part in (condition.get('reason'), condition.get('message')) if part)
            return {'state': 'failed', 'message': f'job {_name(job)} failed ({why or "no reason given"})'}
    status = job.get('status') or {}
    return {
        'state': 'running',
        'message': f"job {_name(job)}: {status.get('active', 0)} active, {status.get('failed', 0)} failed pods",
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'k8s_container_image': k8s_container_image,
            'k8s_rollout_status': k8s_rollout_status,
            'k8s_selector': k8s_selector,
            'k8s_revisions': k8s_revisions,
            'k8s_rollback_plan': k8s_rollback_plan,
            'k8s_job_from_cronjob': k8s_job_from_cronjob,
            'k8s_job_state': k8s_job_state,
        }
