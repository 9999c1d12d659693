# SPDX-License-Identifier: GPL-3.0-or-later
"""The recovery filters: assessment of each host, joined, and the path it selects."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.recovery import (
    ab_figures,
    assessment_summary,
    last_good_release,
    merge_assessments,
    record_release,
    recovery_plan,
    recovery_results,
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


def test_merged_assessment_carries_each_hosts_logs():
    api = assessment_summary([], [], [], 'api') | {'logs': {'postgresql': {'path': 'p', 'lines': ['a'], 'error': ''}}}
    merged = merge_assessments([api, assessment_summary([], [], [], 'web')])
    assert merged['logs'] == {'api': api['logs']}


OLD, GOOD, BAD = 'a' * 40, 'b' * 40, 'c' * 40


def test_a_release_is_recorded_once_and_the_replaced_commit_marked_bad():
    state = record_release({}, OLD, 'v1.1.0', 't1')
    state = record_release(state, GOOD, 'v1.2.0', 't2', replaced=OLD)
    assert state == {
        'history': [{'value': OLD, 'at': 't1', 'bad': True}, {'value': GOOD, 'at': 't2'}],
        'refs': {OLD: 'v1.1.0', GOOD: 'v1.2.0'},
    }
    assert record_release(state, GOOD, 'v1.2.0', 't3', replaced=GOOD) == state


def test_the_last_good_release_skips_the_running_commit_and_bad_ones():
    state = {'history': [{'value': OLD, 'at': 't1'}, {'value': GOOD, 'at': 't2'}], 'refs': {GOOD: 'v1.2.0'}}
    chosen = last_good_release(state, BAD)
    assert chosen['commit'] == GOOD and chosen['ref'] == 'v1.2.0'
    assert 'v1.2.0' in chosen['reason'] and 'never recorded' in chosen['reason']
    assert last_good_release(state, GOOD)['commit'] == OLD
    marked = {'history': [{'value': OLD, 'at': 't1', 'bad': True}, {'value': GOOD, 'at': 't2'}]}
    with pytest.raises(AnsibleFilterError, match='dr_stable_ref'):
        last_good_release(marked, GOOD)


def test_a_healthy_running_newest_release_is_kept():
    state = {'history': [{'value': OLD, 'at': 't1'}, {'value': GOOD, 'at': 't2'}]}
    assert last_good_release(state, GOOD, head_healthy=True)['commit'] == GOOD
    assert last_good_release(state, OLD, head_healthy=True)['commit'] == GOOD


def test_no_history_names_what_to_give():
    with pytest.raises(AnsibleFilterError, match='recorded: nothing'):
        last_good_release(None, BAD)


RESTORED_HOST = {
    'inventory_hostname': 'db1',
    'disaster_recovery_postgresql_restart': {'changed': True},
    'pm2_app_last_good': {'reason': 'newest healthy release'},
    'pm2_app_result': {
        'name': 'api',
        'app': {'status': 'online', 'pid': 42, 'restarts': 1},
        'fallback_used': True,
        'commit': '0123456789abcdef',
    },
    'nginx_reload_result': {'state': 'reloaded'},
    'pg_restore_result': {
        'backup': {'path': '/backup/o4o.dump', 'created_at': '2026-01-01T00:00:00Z'},
        'tables': {'users': 10, 'orders': 3},
        'broken': 'o4o_broken_1',
    },
    'full_restore_result': {'app_files': ['uploads']},
    'health_check_result': {'checks': [1, 2], 'failed_checks': ['api']},
    'post_recovery_result': {
        'integrity': {'o4o': {'users': {'rows': 10, 'backup_rows': 10}}},
        'failed_logins': 0,
        'changed_files': ['a'],
        'load_test': {'requests': 100, 'failed': 0, 'requests_per_second': 50, 'mean_ms': 4, 'p99_ms': 9},
    },
    'monitoring_on_result': {'newest_backup': {'path': '/backup/o4o.dump', 'age_minutes': 90}},
}


def test_recovery_results_report_each_stage_of_a_full_recovery():
    plan = {'release': True, 'restart_api': True, 'recover_web': True, 'restore_database': True}
    assert recovery_results([RESTORED_HOST], plan) == {
        'respond': ['db1: PostgreSQL restarted', 'db1: nginx configuration test passed; nginx reloaded'],
        'restore': [
            'db1: release chosen from the deploy history: newest healthy release',
            'db1: api online (pid 42, restarts 1), after the fallback (delete, install, build, start), '
            'commit 0123456789ab',
            'db1: restored from /backup/o4o.dump (taken 2026-01-01T00:00:00Z); the damaged database is kept as '
            'o4o_broken_1; rows: orders=3, users=10',
            'db1: app files restored from the same backup: uploads',
        ],
        'verify': [
            'db1: 2 checks, FAILED: api',
            'db1: o4o rows users=10 (backup 10)',
            'db1: 0 failed logins, 1 files changed in the watched directories in the last day',
            'db1: load test 100 requests, 0 failed, 50 req/s, mean 4 ms, p99 9 ms',
        ],
        'monitor': ['db1: auto-recovery on; newest verified backup /backup/o4o.dump, 1.5 h old'],
    }


def test_recovery_results_leave_out_what_the_plan_did_not_do():
    """A restart only: the app line is a response, nothing is said of a restore or nginx."""
    results = recovery_results([RESTORED_HOST, {'inventory_hostname': 'web1'}], {'restart_api': True})
    assert results['respond'] == [
        'db1: PostgreSQL restarted',
        'db1: api online (pid 42, restarts 1), after the fallback (delete, install, build, start), commit 0123456789ab',
    ]
    assert 'restore' not in results
    assert results['verify'][0] == 'db1: 2 checks, FAILED: api'
