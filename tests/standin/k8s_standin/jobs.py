# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's Job controller: one pod at a time until one succeeds (Complete) or more than
backoffLimit have failed (Failed, BackoffLimitExceeded). CronJobs are stored only, never scheduled."""

from __future__ import annotations

import copy

from .objects import JOBS, PODS, is_ready, make, pod_from_template, save, set_condition
from .store import now, owner_ref, random_suffix


def _finished(job: dict) -> bool:
    return any(
        c['type'] in ('Complete', 'Failed') and c['status'] == 'True'
        for c in job.get('status', {}).get('conditions', [])
    )


def _job_condition(conditions: list, kind: str, reason: str, message: str) -> list:
    return set_condition(conditions, kind, 'True', reason, message, stamp_key='lastProbeTime')


def _conclude(status: dict, job: dict, succeeded: int, failed: int):
    spec = job['spec']
    if succeeded >= spec.get('completions', 1):
        message = 'Reached expected number of succeeded pods'
        conditions = _job_condition(status.get('conditions', []), 'SuccessCriteriaMet', 'CompletionsReached', message)
        status['conditions'] = _job_condition(conditions, 'Complete', 'CompletionsReached', message)
        status['completionTime'] = now()
    elif failed > spec.get('backoffLimit', 6):
        message = 'Job has reached the specified backoff limit'
        conditions = _job_condition(status.get('conditions', []), 'FailureTarget', 'BackoffLimitExceeded', message)
        status['conditions'] = _job_condition(conditions, 'Failed', 'BackoffLimitExceeded', message)


def _sync_job(state, job: dict):
    ns = job['metadata']['namespace']
    pods = state.store.owned(PODS, job['metadata']['uid'])
    succeeded = sum(1 for p in pods if p.get('status', {}).get('phase') == 'Succeeded')
    failed = sum(1 for p in pods if p.get('status', {}).get('phase') == 'Failed')
    active = [p for p in pods if p.get('status', {}).get('phase') not in ('Succeeded', 'Failed')]
    status = copy.deepcopy(job.get('status') or {})
    _conclude(status, job, succeeded, failed)
    if not active and not _finished({'status': status}) and not job['spec'].get('suspend'):
        name = f'{job["metadata"]["name"]}-{random_suffix()}'
        active.append(make(state, PODS, pod_from_template(job['spec']['template'], name, owner_ref(JOBS, job)), ns))
        status.setdefault('startTime', now())
    status.update(
        active=len(active),
        succeeded=succeeded,
        failed=failed,
        ready=sum(1 for p in active if is_ready(p)),
        terminating=0,
        uncountedTerminatedPods={},
    )
    status = {k: v for k, v in status.items() if v or k in ('ready', 'terminating', 'uncountedTerminatedPods')}
    if status != job.get('status'):
        new = copy.deepcopy(job)
        new['status'] = status
        save(state, JOBS, new)


def sync_jobs(state):
    for job in state.store.list(JOBS):
        if not _finished(job):
            _sync_job(state, job)
