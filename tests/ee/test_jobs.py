# SPDX-License-Identifier: GPL-3.0-or-later
"""Every job template of awx/configs/controller_templates.yml, launched as AWX launches it
(conftest.py), in the execution environment, against the lab. Read-only templates run
for real; the ones that change something run as AWX's `check` job type (--check), which
still loads every module, collection, Python library and credential the job needs; the
ransomware rebuild runs for real from containers that keep nothing."""

from __future__ import annotations

import datetime
import json
import subprocess
import time

import pytest

from tests.integration.conftest import Lab, api_health
from tests.integration.test_rebuild_lab import MARK, bring_the_api_host_back, psql, restored_backup, wait_for
from tests.unit.playcode.test_mongo_restore_api_contract import changes

from .conftest import EE_IMAGE, NODE_ADDRESS, ROOT, JobRunner, Result, launch, templates
from .playcode import INVENTORY as PLAYCODE
from .test_ee_definition import CARRIED

# Jobs that run for real: the read-only ones, and the backup (it only adds a verified
# backup to the store). Every other template runs as a `check` job.
REAL = {
    'playbooks/health_check.yml',
    'playbooks/compose_status.yml',
    'playbooks/compose_logs.yml',
    'playbooks/daily_check.yml',
    'playbooks/weekly_check.yml',
    'playbooks/backup.yml',
    # PlayCode (tests/ee/playcode.py): the read-only ones.
    'playbooks/k8s_verify.yml',
    'playbooks/k8s_diagnose.yml',
    'playbooks/k8s_monitoring.yml',
    'playbooks/mongo_indexes.yml',
    'playbooks/ecr_cleanup.yml',
}
# Jobs whose report AWX shows: set_stats' sre_reports in the job's artifacts (run_outputs).
REPORTING = {'playbooks/daily_check.yml', 'playbooks/weekly_check.yml'}
# rebuild_host runs here as a check job (the assessment node of the production rebuild
# workflow), and for real in
# test_ransomware_rebuild_job_restores_the_newest_clean_backup_from_the_remote_store.
# What an operator answers on the lab where the survey's defaults do not fit its stacks:
# survey answers, and the limit the templates ask on launch (ask_limit_on_launch).
LAB_ANSWERS = {
    'playbooks/rebuild_host.yml': {'dr_scenario': 'hardware_failure'},
    'playbooks/compose_restart.yml': {'service': 'backend'},
    'playbooks/scale.yml': {'services': 'worker-llm', 'replicas': '1'},
    'playbooks/maintenance.yml': {'watch_minutes': 0.1},
    'playbooks/guarded_deploy.yml': {'version': 'v1.1.0'},
    'playbooks/incident.yml': {
        'incident_action': 'open',
        'incident_team': 'refit',
        'incident_severity': 'P2',
        'incident_summary': 'AWX check job',
    },
    # What the EDA rulebook passes from an alert (run_job_template's extra vars).
    'playbooks/remediate.yml': {
        'remediation': 'diagnose',
        'remediation_host': 'refit-ai',
        'remediation_severity': 'P2',
        'remediation_alert': 'HighResponseTime',
    },
}
# The lab's two compose stacks share one host and its /backup/postgres: the weekly check's
# backups of both, side by side, collide on the directory's lock, so it runs on one.
LAB_LIMITS = {
    'playbooks/compose_restart.yml': 'qa-arena',
    'playbooks/scale.yml': 'fragrance-ai',
    'playbooks/redeploy.yml': 'qa-arena',
    'playbooks/weekly_check.yml': 'fragrance-ai',
    'playbooks/escalate.yml': 'refit-ai',
}
# The real jobs first: the weekly check's backup is the one the maintenance check needs.
TEMPLATES = sorted(templates(), key=lambda t: (t['playbook'] not in REAL, t['name']))


def test_there_are_job_templates_to_launch() -> None:
    assert TEMPLATES, 'awx/configs/controller_templates.yml has no job template'


def test_the_image_carries_the_collection_and_its_dependencies() -> None:
    listed = subprocess.run(
        ['docker', 'run', '--rm', EE_IMAGE, 'ansible-galaxy', 'collection', 'list', '--format', 'json'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    carried = json.loads(listed)['/usr/share/ansible/collections/ansible_collections']
    assert {'sre.runbooks', *CARRIED} <= set(carried)


def assert_succeeded(result: Result) -> None:
    """The job succeeded and its artifacts hold what AWX shows: the events, the play's
    output and its recap."""
    tail = result.stdout[-3000:]
    assert (result.runner.status, result.runner.rc) == ('successful', 0), tail
    assert 'PLAY RECAP' in result.stdout, tail
    stats = result.stats()
    assert not stats.get('failures') and not stats.get('dark'), stats


def two_at_a_time(template: dict) -> bool:
    """A check job, or a PlayCode job (it shares no lab host with another job)."""
    return template['playbook'] not in REAL or template['inventory'] == PLAYCODE


# `make jobs` runs the check jobs and the PlayCode jobs (marker check_job) two at a time,
# after the real ones and before the ransomware rebuild (marker rebuild).
@pytest.mark.parametrize(
    'template',
    [pytest.param(t, marks=[pytest.mark.check_job] if two_at_a_time(t) else []) for t in TEMPLATES],
    ids=[t['name'] for t in TEMPLATES],
)
def test_job_template_runs_in_the_execution_environment(jobs: JobRunner, template: dict, request) -> None:
    playbook = template['playbook']
    if template['inventory'] == PLAYCODE:
        run_playcode_job(jobs, template, request.getfixturevalue('playcode'))
        return
    job = launch(template, LAB_ANSWERS.get(playbook), check=playbook not in REAL)
    job.cmdline += ['--limit', LAB_LIMITS[playbook]] if playbook in LAB_LIMITS else []
    result = jobs.run(template['name'], job)
    assert_succeeded(result)
    assert any(e['event'] == 'playbook_on_play_start' for e in result.events)
    if playbook in REPORTING:
        assert reports(result), 'the job returned no report as an artifact'


def run_playcode_job(jobs: JobRunner, template: dict, playcode) -> None:
    """A PlayCode job against the Kubernetes API stand-in: with the kubeconfig its credential
    writes into the job, it succeeds and changes nothing in the cluster (the read-only jobs
    for real, the others as check jobs: dry runs only)."""
    playbook = template['playbook']
    playcode.prepare(playbook)
    job = launch(template, playcode.answers.get(playbook), check=playbook not in REAL, inputs=playcode.inputs)
    job.envvars |= playcode.env
    result = jobs.run(template['name'], job)
    assert_succeeded(result)
    assert 'playcode-standin' in result.stdout, result.stdout[-3000:]
    requests = playcode.k8s.requests()
    if 'PlayCode kubeconfig' in template['credentials']:
        assert requests, 'the job sent the Kubernetes API nothing'
    assert changes(requests) == []


def reports(result: Result) -> list[str]:
    """The reports the job returned as artifacts (set_stats), which AWX keeps with the job."""
    return result.stats().get('artifact_data', {}).get('sre_reports', [])


def template_of(playbook: str) -> dict:
    return next(t for t in TEMPLATES if t['playbook'] == playbook)


def restore_the_api_host(jobs: JobRunner) -> None:
    """api serves again and web points at it, whatever the rebuild did."""
    bring_the_api_host_back(Lab)
    back = launch(
        template_of('playbooks/rebuild_host.yml'),
        {'dr_scenario': 'hardware_failure', 'o4o_api_upstream': '172.30.53.10:4000'},
    )
    back.cmdline += ['--tags', 'switch']
    assert_succeeded(jobs.run('rebuild_host: switch back to api (cleanup)', back))
    wait_for(lambda: api_health()['status'] == 'ok')


@pytest.fixture
def rebuild_lab(jobs: JobRunner):
    subprocess.run([str(ROOT / 'lab/lab.sh'), 'reset', 'spare'], check=True, cwd=ROOT)
    yield
    restore_the_api_host(jobs)


def backup_path(event: dict) -> str:
    backup = event['event_data'].get('res', {}).get('backup')
    return backup.get('path', '') if isinstance(backup, dict) else ''


def backup_job(jobs: JobRunner, name: str) -> str:
    result = jobs.run(name, launch(template_of('playbooks/backup.yml'), {'pg_backup_force': 'true'}))
    assert_succeeded(result)
    taken = [path for event in result.events if event['event'] == 'runner_on_ok' and (path := backup_path(event))]
    assert taken, 'the backup job reported no backup'
    return taken[-1].rsplit('/', 1)[-1]


@pytest.mark.rebuild
def test_ransomware_rebuild_job_restores_the_newest_clean_backup_from_the_remote_store(
    jobs: JobRunner, rebuild_lab
) -> None:
    clean = backup_job(jobs, 'backup (clean, real)')
    time.sleep(1.1)
    compromised_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    time.sleep(1.1)
    psql(Lab, 'api', f"UPDATE users SET name = name || '{MARK}' WHERE id <= 50")
    infected = backup_job(jobs, 'backup (after the compromise, real)')
    assert infected != clean

    # A new job: a fresh container and private data dir, nothing of the backups' jobs.
    rebuild = launch(
        template_of('playbooks/rebuild_host.yml'), {'dr_scenario': 'ransomware', 'dr_compromised_at': compromised_at}
    )
    result = jobs.run('rebuild_host ransomware (real)', rebuild)
    assert_succeeded(result)
    assert any('/ransomware_' in report for report in reports(result)), reports(result)
    assert not list(result.artifacts.parents[1].rglob(f'{clean}*')), 'the backup was on the job disk'
    assert restored_backup(Lab) == clean
    assert psql(Lab, 'spare', f"SELECT count(*) FROM users WHERE name LIKE '%{MARK}'") == '0'
    assert api_health()['status'] == 'ok'  # through nginx, from the spare
    assert 'sre.runbooks isolation' in Lab.exec('api', 'iptables', '-S', 'INPUT')
    assert f'{NODE_ADDRESS}/32' in Lab.exec('api', 'iptables', '-S', 'INPUT')  # SSH kept for the job's address
