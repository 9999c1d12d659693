# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json

import pytest

from tests.support.adhoc import run_adhoc, run_adhoc_output

ARGS = {'target': 'o4o_platform', 'action': 'swap the restored database into place of'}


def confirm(*extra, **variables):
    return run_adhoc('sre.runbooks.confirm', ARGS, *extra, '-e', json.dumps(variables))


def test_lab_needs_no_confirmation():
    rc, result = confirm(sre_environment='lab')
    assert rc == 0 and result['confirmed'] and 'no confirmation needed' in result['msg']


@pytest.mark.parametrize('given', [None, '', 'yes', 'O4O_PLATFORM', 'o4o_platform '])
def test_production_refuses_without_the_exact_name(given):
    variables = {'sre_environment': 'production'}
    if given is not None:
        variables['sre_confirm'] = given
    rc, result = confirm(**variables)
    assert rc != 0
    assert 'refusing to swap the restored database into place of o4o_platform in production' in result['msg']
    assert '-e sre_confirm=o4o_platform' in result['msg']


def test_production_with_confirmation_passes_and_is_audited(tmp_path):
    log = tmp_path / 'audit.log'
    rc, result = confirm(sre_environment='production', sre_confirm='o4o_platform', sre_audit_log=str(log))
    assert rc == 0 and result['confirmed']
    record = json.loads(log.read_text())
    assert record['event'] == 'production_confirmed' and record['target'] == 'o4o_platform'


def test_the_audit_record_is_also_a_job_artifact(tmp_path):
    # AWX throws the job's disk away: the record must reach the job's artifacts
    # (the run's custom stats), not only the controller's audit log.
    variables = {'sre_environment': 'production', 'sre_confirm': 'o4o_platform', 'sre_audit_log': str(tmp_path / 'a')}
    rc, output = run_adhoc_output('sre.runbooks.confirm', ARGS, '-e', json.dumps(variables))
    assert rc == 0
    (record,) = output['global_custom_stats']['sre_audit'].values()
    assert record == json.loads((tmp_path / 'a').read_text())


def test_check_mode_reports_what_would_need_confirming():
    rc, result = confirm('--check', sre_environment='production')
    assert rc == 0 and result['would_need_confirmation'] and not result['confirmed']


@pytest.mark.parametrize('environment', [None, '', 'prod', 'Production', 'live'])
def test_an_unknown_environment_counts_as_production(environment):
    variables = {} if environment is None else {'sre_environment': environment}
    rc, result = confirm(**variables)
    assert rc != 0
    assert 'refusing to swap the restored database into place of o4o_platform in production' in result['msg']


@pytest.mark.parametrize('environment', ['lab', 'molecule', 'staging'])
def test_known_non_production_environments_pass(environment):
    rc, result = confirm(sre_environment=environment)
    assert rc == 0 and result['confirmed']
