# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's control loop: every tick (about 100 ms) the Deployment, ReplicaSet, StatefulSet and
Job controllers, the fake kubelet and the cert-manager controller each run one pass over the store."""

from __future__ import annotations

import asyncio
import logging
import time

from .certificates import sync_certificates
from .deployments import DeploymentController
from .jobs import sync_jobs
from .kubelet import Kubelet
from .objects import DEPLOY, STS
from .replicasets import sync_replicasets, sync_statefulsets

TICK = 0.1
SETTLE_TIMEOUT = 3.0
LOG = logging.getLogger('k8s_standin')
DONE = ('NewReplicaSetAvailable', 'ProgressDeadlineExceeded', 'DeploymentPaused')


class Controllers:
    def __init__(self, state):
        self.state = state
        self.deployments = DeploymentController(state)
        self.kubelet = Kubelet(state)

    def tick(self):
        self.deployments.sync()
        sync_replicasets(self.state)
        sync_statefulsets(self.state)
        sync_jobs(self.state)
        self.kubelet.sync()
        sync_certificates(self.state)

    async def run(self):
        while True:
            try:
                self.tick()
            except Exception:
                LOG.exception('controller tick failed')
            await asyncio.sleep(TICK)

    def settled(self) -> bool:
        for deploy in self.state.store.list(DEPLOY):
            status = deploy.get('status', {})
            progressing = next((c for c in status.get('conditions', []) if c['type'] == 'Progressing'), {})
            if status.get('observedGeneration') != deploy['metadata'].get('generation') or (
                progressing.get('reason') not in DONE
            ):
                return False
        return all(
            sts.get('status', {}).get('readyReplicas', 0) == sts['spec'].get('replicas', 1)
            for sts in self.state.store.list(STS)
        )

    async def settle(self, timeout: float = SETTLE_TIMEOUT):
        """Wait until seeded workloads have rolled out (or timeout): tests start from a steady state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            if self.settled():
                return
            await asyncio.sleep(TICK / 2)
