"""Measures 4, 5 and the controller's memory: the README drill (database corruption) with
its stage times beside the runbook's plan, then disaster_recovery.yml again on the
healthy system: changed count and time against the drill's recovery."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from .common import ROOT, playbook, say
from .memory import PeakSampler

RUNBOOK_PLAN_MIN = {'assess': 5, 'respond': 10, 'restore': 30, 'verify': 15, 'monitor': 10}


def _stages(report: str) -> dict[str, float]:
    """The seconds column of the report's timeline table."""
    stages = {}
    for line in Path(report).read_text(encoding='utf-8').splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 5 and cells[0] in RUNBOOK_PLAN_MIN and cells[3]:
            stages[cells[0]] = float(cells[3])
    return stages


def _drill() -> dict:
    started = time.monotonic()
    proc = subprocess.Popen(['scripts/drill.sh'], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakSampler(lambda: [proc.pid]) as peak:
        out = proc.communicate()[0]
    if proc.returncode != 0:
        raise RuntimeError('the drill failed:\n' + '\n'.join(out.splitlines()[-20:]))
    recovery = float(re.search(r'recovered in ([\d.]+) s', out)[1])
    report = re.search(r'Post-mortem report: (\S+)', out)[1]
    return {
        'drill_s': round(time.monotonic() - started, 3),
        'recovery_s': recovery,
        'stages_s': _stages(report),
        'controller_peak_mib': peak.peak_mib,
    }


def measure(runs: int) -> dict:
    drills, reruns = [], []
    for index in range(runs):
        say(f'drill {index + 1}/{runs}: back up, break, recover, prove')
        drills.append(_drill())
        say('disaster_recovery.yml again, on the healthy system')
        rerun = playbook('playbooks/disaster_recovery.yml')
        reruns.append({'s': rerun['seconds'], 'changed': sum(h['changed'] for h in rerun['recap'].values())})
    best = sorted(drills, key=lambda d: d['recovery_s'])[len(drills) // 2]
    recovery = best['recovery_s']
    rerun_s = sorted(r['s'] for r in reruns)[len(reruns) // 2]
    return {
        'drill': best | {'runs_recovery_s': [d['recovery_s'] for d in drills]},
        'runbook_plan_min': RUNBOOK_PLAN_MIN,
        'rerun': {
            's': rerun_s,
            'runs_s': [r['s'] for r in reruns],
            'changed': max(r['changed'] for r in reruns),
            'ratio_to_recovery': round(rerun_s / recovery, 3),
        },
    }
