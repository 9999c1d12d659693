"""Measure 9: the guarded deploy of runbook R2 (playbooks/guarded_deploy.yml) on the lab's
compose host (Fragrance AI), set up as tests/integration/test_guarded_compose_lab.py is
(tests/support/guarded_compose.py):
a good deploy of another VERSION, the same again (changed must be 0), and a release that
is not the app (the lab-only bad image) rolled back automatically, with the notices posted
to the loopback webhook receiver. Beside them, the runbook's raw steps for the same deploy
(VERSION in .env, `docker compose up -d`, curl /health until it answers the VERSION), timed
on the host. The stack is left at GOOD."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .common import ROOT, changed_count, median, run, say
from .memory import watched

sys.path.insert(0, str(ROOT))
from tests.integration.conftest import Lab
from tests.support import guarded_compose as guarded
from tests.support.webhooks import WebhookReceiver

OTHER = 'v0.1.0'  # the lab's other good release (lab/lab.sh builds it)
PROJECT = '/home/ubuntu/fragrance-ai'
ROLLED_BACK = 'rolled back: rollback done'
FLOOR = guarded.FAST['health_retries'] * guarded.FAST['health_delay']  # what a failed health check waits


def raw_deploy_script(release: str) -> str:
    """The runbook's deploy by hand on the compose host, timed there (no transport)."""
    return (
        f"cd {PROJECT}; s=$(date +%s%N)\n"
        f"sed -i 's/^VERSION=.*/VERSION={release}/' .env\n"
        'docker compose -f docker-compose.production.yml --env-file .env up -d --quiet-pull\n'
        f"for i in $(seq 600); do curl -fsS --max-time 2 {guarded.URL}/health | grep -q '\"{release}\"' && break; "
        f'[ "$i" != 600 ] || exit 1; sleep 0.1; done\n'
        'e=$(date +%s%N); echo "elapsed $(( (e - s) / 1000000 ))"\n'
    )  # fmt: skip


def raw_deploy(release: str) -> float:
    argv = ['docker', 'exec', '-i', '-u', 'ubuntu', 'sre-lab-compose', 'bash', '-euo', 'pipefail', '-s']
    out = run(argv, input_text=raw_deploy_script(release))
    return int(out.strip().splitlines()[-1].split()[1]) / 1000


def _play(release: str, url: str, *, fails: bool = False) -> dict:
    """guarded_deploy.yml from the controller: seconds, the controller's peak memory, changed."""
    argv = ['ansible-playbook', '-i', 'inventories/lab', 'playbooks/guarded_deploy.yml',
            '-e', json.dumps({'version': release, **guarded.FAST})]  # fmt: skip
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'ANSIBLE_FORCE_COLOR': '0',
           'SRE_NOTIFY_WEBHOOK_URL': url}  # fmt: skip
    played = watched(argv, ROOT, env)
    if (played['rc'] != 0) != fails or (fails and ROLLED_BACK not in played['out']):
        want = f"to fail with '{ROLLED_BACK}'" if fails else 'to pass'
        tail = '\n'.join(played['out'].splitlines()[-25:])
        raise RuntimeError(f'guarded_deploy.yml {release}: expected {want}:\n' + tail)
    return {'s': played['s'], 'peak_mib': played['peak_mib'], 'changed': changed_count(played['out'])}


@contextlib.contextmanager
def _stack() -> Iterator[tuple[Lab, WebhookReceiver]]:
    """The test's set-up (guarded_compose.bad_release_staged), then the stack checked healthy on GOOD."""
    lab = Lab(Path(tempfile.mkdtemp(prefix='bench-deploy.')))
    with guarded.bad_release_staged(lab) as rx:
        yield lab, rx
    if guarded.version() != guarded.GOOD or not guarded.healthy():
        raise RuntimeError(f'{guarded.HOST} is not healthy on {guarded.GOOD} after the bench')


def _one_run(lab: Lab, rx: WebhookReceiver) -> dict:
    lab.exec('compose', 'rm', '-f', guarded.STATE)
    raw = raw_deploy(OTHER)  # GOOD -> OTHER by hand, then back by hand (untimed)
    raw_deploy(guarded.GOOD)
    url = rx.url('/discord/1234/bench-token')
    seen = len(rx.messages())
    deploy = _play(OTHER, url)
    rerun = _play(OTHER, url)
    bad = _play(guarded.BAD, url, fails=True)
    if guarded.version() != OTHER or not guarded.healthy():
        raise RuntimeError(f'{guarded.BAD} was not rolled back to {OTHER}: /version says {guarded.version()!r}')
    notices = len(rx.wait_for(seen + 5, timeout=10)) - seen  # start + ok; start + P0 + rollback done
    _play(guarded.GOOD, url)  # back to GOOD through the guard, so that the deploy history ends on it
    return {'raw_s': raw, 'deploy': deploy, 'rerun': rerun, 'bad': bad, 'notices': notices}


def measure(runs: int) -> dict:
    results = []
    with _stack() as (lab, rx):
        for index in range(runs):
            say(f'deploy {index + 1}/{runs}: {OTHER} by hand, then guarded; again; bad {guarded.BAD}; back')
            results.append(_one_run(lab, rx))
    return {
        'from': guarded.GOOD,
        'release': OTHER,
        'bad_release': guarded.BAD,
        'deploy_s': median([each['deploy']['s'] for each in results]),
        'raw_deploy_s': median([each['raw_s'] for each in results]),
        'rerun_s': median([each['rerun']['s'] for each in results]),
        'rerun_changed': max(each['rerun']['changed'] for each in results),
        'rollback_s': median([each['bad']['s'] for each in results]),
        'health_retries': guarded.FAST['health_retries'],
        'health_delay_s': guarded.FAST['health_delay'],
        'health_floor_s': FLOOR,
        'notices': max(each['notices'] for each in results),
        'controller_peak_mib': max(each[key]['peak_mib'] for each in results for key in ('deploy', 'bad')),
    }
