"""Measure 8: the PlayCode Kubernetes deploy and rollback (runbook P1, P3) against the
Kubernetes API stand-in (tests/standin/k8s_standin), beside kubectl doing the same
(`set image` + `rollout status`; `rollout undo` + `rollout status`), with the
controller's peak memory and the re-run's changes. The stand-in answers at once and its
pods are ready in 0.3 s, so these figures are the controller's cost (ansible-playbook,
kubernetes.core), not a cluster's. Needs no lab."""

from __future__ import annotations

import os
import sys
import time

from .common import ROOT, changed_count, median, say
from .memory import watched

sys.path.insert(0, str(ROOT))
from tests.support.k8s import k8s_standin

IMAGE = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'
DEPLOYMENT = 'deployment/playcode-app'


def _timed(argv: list[str], env: dict[str, str]) -> dict:
    """Seconds, peak memory of the process tree (MiB) and the changed count of a run."""
    run = watched(argv, ROOT, env)
    if run['rc'] != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n" + '\n'.join(run['out'].splitlines()[-25:]))
    return {'s': run['s'], 'peak_mib': run['peak_mib'], 'changed': changed_count(run['out'])}


def _one_run(standin) -> dict:
    env = {
        **os.environ,
        **standin.env,
        'SRE_K8S_KUBECONFIG': str(standin.kubeconfig),
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
    }
    play = ['ansible-playbook', '-i', 'inventories/playcode_lab']
    standin.reset()
    deploy = _timed([*play, 'playbooks/k8s_deploy.yml', '-e', 'tag=v2'], env)
    rerun = _timed([*play, 'playbooks/k8s_deploy.yml', '-e', 'tag=v2'], env)
    rollback = _timed([*play, 'playbooks/k8s_rollback.yml'], env)
    standin.reset()
    started = time.monotonic()
    standin.kubectl('set', 'image', DEPLOYMENT, f'playcode-app={IMAGE}:v2')
    standin.kubectl('rollout', 'status', DEPLOYMENT, '--timeout=60s')
    kubectl_deploy = time.monotonic() - started
    started = time.monotonic()
    standin.kubectl('rollout', 'undo', DEPLOYMENT)
    standin.kubectl('rollout', 'status', DEPLOYMENT, '--timeout=60s')
    kubectl_undo = time.monotonic() - started
    return {
        'deploy': deploy,
        'rerun': rerun,
        'rollback': rollback,
        'kubectl_deploy_s': round(kubectl_deploy, 3),
        'kubectl_undo_s': round(kubectl_undo, 3),
    }


def measure(runs: int) -> dict:
    results = []
    with k8s_standin() as standin:
        for index in range(runs):
            say(f'k8s {index + 1}/{runs}: deploy v2, deploy v2 again, roll back; then kubectl the same')
            results.append(_one_run(standin))
    return {
        'deploy_s': median([each['deploy']['s'] for each in results]),
        'kubectl_deploy_s': median([each['kubectl_deploy_s'] for each in results]),
        'rollback_s': median([each['rollback']['s'] for each in results]),
        'kubectl_undo_s': median([each['kubectl_undo_s'] for each in results]),
        'rerun_s': median([each['rerun']['s'] for each in results]),
        'rerun_changed': max(each['rerun']['changed'] for each in results),
        'controller_peak_mib': max(each[key]['peak_mib'] for each in results for key in ('deploy', 'rollback')),
    }
