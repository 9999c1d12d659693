# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's fake kubelet: no process runs; each pod's status follows the behaviour of its image
(ready, crashloop, pullerror, succeed, fail) and the time since the pod was created."""

from __future__ import annotations

import copy
import time

from .objects import PODS, emit_event, save

STARTUP = 0.3
CRASH_PERIOD = 1.0
NODE = 'standin-node-1'


def _waiting(reason: str, message: str = '') -> dict:
    state = {'reason': reason}
    if message:
        state['message'] = message
    return {'waiting': state}


def _terminated(code: int, reason: str, stamp: str) -> dict:
    return {'terminated': {'exitCode': code, 'reason': reason, 'startedAt': stamp, 'finishedAt': stamp}}


def _observe(behaviour: dict, elapsed: float, image: str, stamp: str) -> tuple[str, dict, dict, int]:
    """(phase, state, lastState, restartCount) for a container of this behaviour after elapsed seconds."""
    kind = behaviour.get('behaviour', 'ready')
    startup = float(behaviour.get('startup', STARTUP))
    after = float(behaviour.get('after', STARTUP if kind == 'ready' else 1.0))
    if kind == 'pullerror':
        reason = 'ErrImagePull' if elapsed < 1 else 'ImagePullBackOff'
        return 'Pending', _waiting(reason, f'Back-off pulling image "{image}"'), {}, 0
    begin = after if kind == 'ready' else startup
    if elapsed < begin:
        return 'Pending', _waiting('ContainerCreating'), {}, 0
    if kind == 'crashloop':
        restarts = 1 + int((elapsed - begin) / float(behaviour.get('period', CRASH_PERIOD)))
        message = 'back-off restarting failed container'
        return 'Running', _waiting('CrashLoopBackOff', message), _terminated(1, 'Error', stamp), restarts
    if kind in ('succeed', 'fail') and elapsed >= startup + after:
        code = 0 if kind == 'succeed' else int(behaviour.get('exit_code', 1))
        phase = 'Succeeded' if code == 0 else 'Failed'
        return phase, _terminated(code, 'Completed' if code == 0 else 'Error', stamp), {}, 0
    return 'Running', {'running': {'startedAt': stamp}}, {}, 0


def _conditions(stamp: str, ready: bool, phase: str) -> list[dict]:
    flag = 'True' if ready else 'False'
    scheduled = [{'type': 'PodScheduled', 'status': 'True', 'lastTransitionTime': stamp}]
    if phase == 'Pending':
        return [*scheduled, {'type': 'Initialized', 'status': 'True', 'lastTransitionTime': stamp}]
    rest = [{'type': t, 'status': flag, 'lastTransitionTime': stamp} for t in ('ContainersReady', 'Ready')]
    if not ready:
        for cond in rest:
            cond['reason'] = 'PodCompleted' if phase in ('Succeeded', 'Failed') else 'ContainersNotReady'
    return [*scheduled, {'type': 'Initialized', 'status': 'True', 'lastTransitionTime': stamp}, *rest]


class Kubelet:
    def __init__(self, state):
        self.state = state
        self.born: dict[str, float] = {}
        self.seen: dict[str, str] = {}

    def sync(self):
        live = set()
        for pod in self.state.store.list(PODS):
            uid = pod['metadata']['uid']
            live.add(uid)
            if pod.get('status', {}).get('phase') not in ('Succeeded', 'Failed'):
                self._sync_pod(pod, time.monotonic() - self.born.setdefault(uid, time.monotonic()))
        for uid in set(self.born) - live:
            self.born.pop(uid, None)
            self.seen.pop(uid, None)

    def _sync_pod(self, pod: dict, elapsed: float):
        stamp = pod['metadata']['creationTimestamp']
        statuses, phase = [], 'Running'
        for container in pod['spec'].get('containers', []):
            image = container.get('image', '')
            behaviour = self.state.image_behaviour(image)
            phase, cstate, last, restarts = _observe(behaviour, elapsed, image, stamp)
            ready = 'running' in cstate and behaviour.get('behaviour', 'ready') != 'crashloop'
            entry = {
                'name': container['name'],
                'image': image,
                'imageID': '',
                'ready': ready,
                'started': ready,
                'restartCount': restarts,
                'state': cstate,
                'lastState': last,
                'containerID': f'containerd://{pod["metadata"]["uid"]}',
            }
            statuses.append(entry)
        ready = bool(statuses) and all(s['ready'] for s in statuses)
        new = copy.deepcopy(pod)
        new['status'] = {
            'phase': phase,
            'conditions': _conditions(stamp, ready, phase),
            'hostIP': '10.0.0.10',
            'podIP': '10.244.0.10',
            'startTime': stamp,
            'containerStatuses': statuses,
            'qosClass': 'BestEffort',
        }
        saved = save(self.state, PODS, new)
        self._events(saved, statuses)

    def _events(self, pod: dict, statuses: list[dict]):
        uid = pod['metadata']['uid']
        first = statuses[0] if statuses else {}
        waiting = first.get('state', {}).get('waiting', {}).get('reason', '')
        key = f'{pod["status"]["phase"]}/{waiting}/{first.get("restartCount", 0)}'
        if self.seen.get(uid) == key:
            return
        previous = self.seen.get(uid)
        self.seen[uid] = key
        name, ns = pod['metadata']['name'], pod['metadata'].get('namespace')
        if previous is None:
            emit_event(self.state, pod, 'Scheduled', f'Successfully assigned {ns}/{name} to {NODE}')
        if waiting in ('ErrImagePull', 'ImagePullBackOff'):
            emit_event(self.state, pod, 'Failed', f'Failed to pull image "{first["image"]}"', 'Warning')
        elif waiting == 'CrashLoopBackOff':
            emit_event(
                self.state,
                pod,
                'BackOff',
                f'Back-off restarting failed container {first["name"]} in pod {name}_{ns}({uid})',
                'Warning',
            )
        elif 'running' in first.get('state', {}):
            emit_event(self.state, pod, 'Pulled', f'Container image "{first["image"]}" already present on machine')
            emit_event(self.state, pod, 'Started', f'Started container {first["name"]}')
