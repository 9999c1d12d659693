# SPDX-License-Identifier: GPL-3.0-or-later
"""The recovery filters: assessment of each host, joined, and the path it selects."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.recovery import (
    ab_figures,
    assessment_summary,
    merge_assessments,
    recovery_plan,
    timeline_stages,
)


def probe(component: str, *checks: tuple[str, str, bool]) -> dict:
    return {
        'item': {'key': component},
        'checks': [{'name': name, 'kind': kind, 'ok': ok, 'detail': 'x'} for name, kind, ok in checks],
    }


def integrity(ok: bool, reachable: bool = True) -> dict:
    return {
        'item': {'component': 'db', 'database': 'o4o'},
        'ok': ok,
        'reachable': reachable,
        'exists': True,
        'msg': 'm',
    }


def assess(*, api_ok=True, pm2_ok=True, pg_ok=True, intact=True, nginx_ok=True, test_rc=0) -> dict:
    api = assessment_summary(
        [probe('api', ('health', 'http', api_ok), ('pm2 api', 'pm2', pm2_ok)), probe('db', ('pg', 'postgres', pg_ok))],
        [integrity(intact, reachable=pg_ok)],
        [],
        'api',
    )
    web = assessment_summary(
        [probe('web', ('service nginx', 'service', nginx_ok))],
        [],
        [{'item': {'component': 'web', 'cmd': ['nginx', '-t']}, 'rc': test_rc, 'stderr': 'nginx: test'}],
        'web',
    )
    return merge_assessments([api, web])


def test_a_healthy_system_needs_nothing():
    assessment = assess()
    assert assessment['healthy'] and assessment['affected'] == []
    plan = recovery_plan(assessment)
    assert plan['actions'] == [] and plan['refusal'] == ''


@pytest.mark.parametrize(
    ('symptoms', 'scenario', 'actions'),
    [
        ({'intact': False}, 'auto', ['restore_database']),
        ({'intact': False}, 'db_corruption', ['restore_database']),
        ({'pg_ok': False, 'api_ok': False}, 'auto', ['restart_database']),
        ({'pm2_ok': False, 'api_ok': False}, 'auto', ['restart_api']),
        ({'api_ok': False}, 'auto', ['restart_api']),
        ({'api_ok': False, 'intact': False}, 'auto', ['restore_database']),
        ({'nginx_ok': False}, 'auto', ['recover_web']),
        ({'test_rc': 1}, 'auto', ['recover_web']),
        ({'pm2_ok': False, 'api_ok': False}, 'deploy_failure', ['release']),
        ({}, 'full_restore', ['restore_database']),
        ({'intact': False}, 'deploy_failure', ['release']),
    ],
)
def test_the_path_follows_the_symptoms_and_the_scenario(symptoms, scenario, actions):
    assert recovery_plan(assess(**symptoms), scenario)['actions'] == actions


def test_db_corruption_on_an_intact_database_is_refused_unless_forced():
    assert 'dr_force_restore=true' in recovery_plan(assess(), 'db_corruption')['refusal']
    forced = recovery_plan(assess(), 'db_corruption', force_restore=True)
    assert forced['refusal'] == '' and forced['actions'] == ['restore_database']


def test_unknown_scenario_is_an_error():
    with pytest.raises(AnsibleFilterError, match='unknown scenario'):
        recovery_plan(assess(), 'ransomwre')


def test_a_component_seen_from_two_hosts_is_affected_when_either_says_so():
    merged = assess(api_ok=False)
    assert merged['components']['api']['hosts'] == ['api']
    assert merged['affected'] == ['api']
    assert merged['components']['api']['findings'] == ['api: health: x']


def test_timeline_pairs_starts_and_ends_in_order():
    marks = [
        {'stage': 'assess', 'event': 'start', 'at': '2026-11-22T10:00:00.000000Z'},
        {'stage': 'assess', 'event': 'end', 'at': '2026-11-22T10:00:03.500000Z'},
        {'stage': 'restore', 'event': 'start', 'at': '2026-11-22T10:00:04.000000Z'},
    ]
    assert timeline_stages(marks) == [
        {'stage': 'assess', 'start': marks[0]['at'], 'end': marks[1]['at'], 'seconds': 3.5},
        {'stage': 'restore', 'start': marks[2]['at'], 'end': None, 'seconds': None},
    ]


AB_OUTPUT = """
Complete requests:      1000
Failed requests:        3
Requests per second:    812.44 [#/sec] (mean)
Time per request:       12.309 [ms] (mean)
Percentage of the requests served within a certain time (ms)
  50%     11
  99%     31
 100%     40 (longest request)
"""


def test_ab_figures_are_read_from_its_report():
    assert ab_figures(AB_OUTPUT) == {
        'requests': 1000,
        'failed': 3,
        'requests_per_second': 812.44,
        'mean_ms': 12.309,
        'p99_ms': 31,
    }
    assert ab_figures('')['requests'] is None


@pytest.mark.parametrize('code', ['no_reference', 'not_in_backup'])
def test_nothing_to_compare_is_a_warning_and_never_a_reason_to_restore(code):
    """pg_integrity's ok is false for a warning too; only damage plans a restore."""
    result = {
        **integrity(False),
        'msg': 'not compared: no verified backup',
        'findings': [{'severity': 'warning', 'code': code, 'msg': 'not compared'}],
    }
    summary = assessment_summary([], [result], [], 'api')
    assert summary['components']['db']['ok'] and summary['components']['db']['warnings']
    assessment = merge_assessments([summary])
    assert assessment['healthy'] and assessment['components']['db']['warnings']
    assert recovery_plan(assessment)['actions'] == []
    damaged = {**result, 'findings': [{'severity': 'critical', 'code': 'fewer_rows', 'msg': 'users: 950 < 1000'}]}
    assert 'db' in merge_assessments([assessment_summary([], [damaged], [], 'api')])['affected']
