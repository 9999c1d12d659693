# SPDX-License-Identifier: GPL-3.0-or-later
"""sre.runbooks.incident_severity against each team's real policy (playbooks/group_vars):
the runbooks' levels and boundaries (R1, F3/F8/F10/F11), unknown when nothing was
measured, none when measured and fine, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.sre.runbooks.plugins.filter.incident_severity import (
    OPERATORS,
    SIGNALS,
    FilterModule,
    incident_severity,
)

ROOT = Path(__file__).resolve().parents[4]
GROUP_VARS = ROOT / 'playbooks' / 'group_vars'
POLICY_FILES = {
    'refit': GROUP_VARS / 'refit' / 'incident.yml',
    'fragrance': GROUP_VARS / 'fragrance.yml',
    'o4o': GROUP_VARS / 'o4o.yml',
    'qa_arena': GROUP_VARS / 'qa_arena.yml',
}


def policy(team: str) -> dict[str, Any]:
    return yaml.safe_load(POLICY_FILES[team].read_text())


def levels(team: str) -> list[dict[str, Any]]:
    return policy(team)['sre_incident_severities']


def severity(team: str, **signals: Any) -> str:
    return incident_severity(signals, levels(team))['severity']


def test_registered() -> None:
    assert FilterModule().filters() == {'incident_severity': incident_severity}


@pytest.mark.parametrize('team', sorted(POLICY_FILES))
def test_policy_shape(team: str) -> None:
    """Every team names itself, its levels in order, known signals and operators, an
    escalation in increasing time; the filter accepts the policy."""
    data = policy(team)
    assert data['sre_incident_team'] == team
    names = [level['severity'] for level in data['sre_incident_severities']]
    assert names == sorted(names) and names[0] == 'P0'
    for level in data['sre_incident_severities']:
        assert isinstance(level['respond_within_minutes'], int)
        assert level['action'] and isinstance(level['mentions'], list)
        for cond in level['conditions']:
            assert cond['signal'] in SIGNALS
            assert set(cond) - {'signal'} <= set(OPERATORS)
    minutes = [step['after_minutes'] for step in data['sre_incident_escalation']]
    assert minutes == sorted(minutes)
    assert [step['level'] for step in data['sre_incident_escalation']] == [f'L{n}' for n in range(1, len(minutes) + 1)]
    assert incident_severity({'health_ok': True}, data['sre_incident_severities'])['severity'] == 'none'


@pytest.mark.parametrize(
    ('signals', 'expected'),
    [
        # R1 P0: health failing, 5xx > 50%, full outage.
        ({'health_ok': False}, 'P0'),
        ({'consecutive_health_failures': 1}, 'P0'),
        ({'error_5xx_ratio': 0.51}, 'P0'),
        ({'error_5xx_ratio': 1.0}, 'P0'),
        ({'success_ratio': 0.0}, 'P0'),
        # 50% exactly is not "> 50%": P1's 10-50% holds it.
        ({'error_5xx_ratio': 0.5}, 'P1'),
        ({'error_5xx_ratio': 0.1}, 'P1'),
        ({'error_5xx_ratio': 0.0999}, 'P2'),
        ({'success_ratio': 0.49}, 'P1'),
        ({'success_ratio': 0.5}, 'none'),
        ({'build_failed': True}, 'P1'),
        ({'build_failed': 'true'}, 'P1'),
        ({'build_failed': False}, 'none'),
        # P2: 5xx 3-10%, slower answers, intermittent ERROR lines.
        ({'error_5xx_ratio': 0.03}, 'P2'),
        ({'error_5xx_ratio': 0.0299}, 'none'),
        ({'latency_p95_seconds': 1.2}, 'P2'),
        ({'latency_p95_seconds': 1.0}, 'none'),
        ({'error_lines': 3}, 'P2'),
        ({'error_lines': 0}, 'none'),
        # The most severe level that any condition reaches wins.
        ({'health_ok': True, 'error_5xx_ratio': 0.2, 'error_lines': 5}, 'P1'),
        ({'health_ok': False, 'error_5xx_ratio': 0.04}, 'P0'),
        ({'health_ok': True, 'error_5xx_ratio': 0.0, 'success_ratio': 1.0}, 'none'),
        # Numbers as Jinja renders them.
        ({'error_5xx_ratio': '0.62'}, 'P0'),
        ({'health_ok': 'False'}, 'P0'),
    ],
)
def test_refit_r1(signals: dict[str, Any], expected: str) -> None:
    assert incident_severity(signals, levels('refit'))['severity'] == expected


def test_refit_p0_answer() -> None:
    result = incident_severity({'health_ok': True, 'error_5xx_ratio': 0.62}, levels('refit'))
    assert result == {
        'severity': 'P0',
        'reasons': ['error_5xx_ratio 0.62 > 0.5 (P0)'],
        'respond_within_minutes': 5,
        'action': 'rollback',
        'mentions': ['@devops-oncall'],
        'measured': ['health_ok', 'error_5xx_ratio'],
    }
    p1 = incident_severity({'error_5xx_ratio': 0.2}, levels('refit'))
    assert (p1['respond_within_minutes'], p1['action'], p1['mentions']) == (15, 'diagnose', [])
    p2 = incident_severity({'error_5xx_ratio': 0.05}, levels('refit'))
    assert (p2['respond_within_minutes'], p2['action']) == (60, 'monitor')


def test_refit_escalation() -> None:
    """R5: oncall -> ai-backend-lead -> cto after 30 minutes."""
    steps = policy('refit')['sre_incident_escalation']
    assert [(s['after_minutes'], s['mentions']) for s in steps] == [
        (0, ['@devops-oncall']),
        (15, ['@ai-backend-lead']),
        (30, ['@cto']),
    ]


@pytest.mark.parametrize(
    ('signals', 'expected'),
    [
        # F3: the API health alerts after 2 consecutive failures.
        ({'consecutive_health_failures': 2}, 'P0'),
        ({'consecutive_health_failures': 1}, 'P1'),
        ({'consecutive_health_failures': 0}, 'none'),
        ({'health_ok': False}, 'P1'),
        ({'health_ok': False, 'consecutive_health_failures': 3}, 'P0'),
        ({'success_ratio': 0}, 'P0'),
        # F8/F11: 5xx over 5%, 2x slower, DB pool over 90%.
        ({'error_5xx_ratio': 0.0501}, 'P1'),
        ({'error_5xx_ratio': 0.05}, 'none'),
        ({'latency_ratio': 2.0}, 'P1'),
        ({'latency_ratio': 1.9}, 'none'),
        ({'db_connections_ratio': 0.91}, 'P1'),
        ({'db_connections_ratio': 0.9}, 'none'),
        # F11 warnings: p95 over 1 s, queue over 100 (F3).
        ({'latency_p95_seconds': 1.01}, 'P2'),
        ({'queue_backlog': 101}, 'P2'),
        ({'queue_backlog': 100}, 'none'),
        # The runbook gives no threshold for these.
        ({'build_failed': True}, 'none'),
        ({'error_lines': 40}, 'none'),
    ],
)
def test_fragrance_f10(signals: dict[str, Any], expected: str) -> None:
    assert severity('fragrance', **signals) == expected


def test_fragrance_levels() -> None:
    """F10: response times immediate(5)/15 min/4 h/2 days; P3 never from signals; L1-L4."""
    by_name = {level['severity']: level for level in levels('fragrance')}
    assert [by_name[p]['respond_within_minutes'] for p in ('P0', 'P1', 'P2', 'P3')] == [5, 15, 240, 2880]
    assert by_name['P3']['conditions'] == []
    steps = policy('fragrance')['sre_incident_escalation']
    assert [(s['level'], s['after_minutes']) for s in steps] == [('L1', 0), ('L2', 15), ('L3', 30), ('L4', 60)]


def test_o4o_escalation_matches_incident_report() -> None:
    """O11: the escalation of the post-mortem (incident_report's default when the team
    sets none) and of the policy agree."""
    default = yaml.safe_load((ROOT / 'roles' / 'incident_report' / 'defaults' / 'main.yml').read_text())
    report = default['incident_report_escalation']
    if isinstance(report, str):  # a template over sre_incident_escalation: its fallback
        report = NativeEnvironment().from_string(report).render()
    expected = [(s['level'], s['who'], s['after_minutes']) for s in report]
    got = [(s['level'], s['who'], s['after_minutes']) for s in policy('o4o')['sre_incident_escalation']]
    assert got == expected


@pytest.mark.parametrize('team', ['o4o', 'qa_arena'])
@pytest.mark.parametrize(
    ('signals', 'expected'),
    [
        ({'health_ok': False}, 'P0'),
        ({'error_5xx_ratio': 0.51}, 'P0'),
        ({'error_5xx_ratio': 0.5}, 'P1'),
        ({'error_5xx_ratio': 0.06}, 'P1'),
        ({'error_5xx_ratio': 0.05}, 'P2'),
        ({'error_5xx_ratio': 0.01}, 'none'),
        ({'build_failed': True}, 'P1'),
        ({'latency_p95_seconds': 1.5}, 'P2'),
        ({'health_ok': True}, 'none'),
    ],
)
def test_default_policies(team: str, signals: dict[str, Any], expected: str) -> None:
    """O4O and QA-Arena: the conservative default (their runbooks define no severities)."""
    assert severity(team, **signals) == expected


@pytest.mark.parametrize('team', sorted(POLICY_FILES))
@pytest.mark.parametrize(
    'signals',
    [None, {}, {'health_ok': None}, {'error_5xx_ratio': float('nan'), 'latency_p95_seconds': ''}],
)
def test_nothing_measured_is_unknown(team: str, signals: dict[str, Any] | None) -> None:
    result = incident_severity(signals, levels(team))
    assert result['severity'] == 'unknown'
    assert result['measured'] == [] and result['respond_within_minutes'] is None
    assert result['action'] == 'diagnose'
    assert 'no signal was measured' in result['reasons'][0]


def test_none_names_what_was_measured() -> None:
    result = incident_severity({'health_ok': True, 'error_5xx_ratio': 0.01, 'queue_backlog': None}, levels('refit'))
    assert result['severity'] == 'none' and result['action'] == 'none'
    assert result['measured'] == ['health_ok', 'error_5xx_ratio']
    assert result['reasons'] == ['measured health_ok=true, error_5xx_ratio=0.01: no condition of P0, P1, P2 is met']


@pytest.mark.parametrize(
    ('cond', 'value', 'matches'),
    [
        ({'equals': 3}, 3, True),
        ({'equals': 3}, 4, False),
        ({'above': 3}, 3, False),
        ({'above': 3}, 3.5, True),
        ({'below': 3}, 3, False),
        ({'below': 3}, 2, True),
        ({'at_least': 3}, 3, True),
        ({'at_least': 3}, 2.9, False),
        ({'at_most': 3}, 3, True),
        ({'at_most': 3}, 3.1, False),
        # Several operators make a range; all must hold.
        ({'above': 0.03, 'at_most': 0.1}, 0.1, True),
        ({'above': 0.03, 'at_most': 0.1}, 0.11, False),
        ({'above': 0.03, 'at_most': 0.1}, 0.03, False),
    ],
)
def test_operators(cond: dict[str, Any], value: float, matches: bool) -> None:
    policy_ = [{'severity': 'P1', 'action': 'diagnose', 'conditions': [{'signal': 'queue_backlog', **cond}]}]
    result = incident_severity({'queue_backlog': value}, policy_)
    assert result['severity'] == ('P1' if matches else 'none')
    if matches:
        assert result['reasons'][0].startswith(f'queue_backlog {value:g} ')


def test_custom_signal_named_by_policy() -> None:
    policy_ = [{'severity': 'P2', 'conditions': [{'signal': 'worker_failure_ratio', 'above': 0.5}]}]
    assert incident_severity({'worker_failure_ratio': 0.6}, policy_)['severity'] == 'P2'


GOOD = [{'severity': 'P0', 'conditions': [{'signal': 'health_ok', 'equals': False}]}]


@pytest.mark.parametrize(
    ('signals', 'severities', 'message'),
    [
        ('health_ok=false', GOOD, 'the signals must be a dict'),
        (['health_ok'], GOOD, 'the signals must be a dict'),
        ({'healthy': False}, GOOD, "unknown signals ['healthy']"),
        ({'health_ok': 'maybe'}, GOOD, 'signal health_ok must be true or false'),
        ({'health_ok': 0}, GOOD, 'signal health_ok must be true or false'),
        ({'error_5xx_ratio': 'high'}, GOOD, 'signal error_5xx_ratio must be a number'),
        ({'error_5xx_ratio': True}, GOOD, 'signal error_5xx_ratio must be a number'),
        ({'error_lines': -1}, GOOD, 'cannot be negative'),
        ({'health_ok': True}, [], 'must be a non-empty list'),
        ({'health_ok': True}, None, 'must be a non-empty list'),
        ({'health_ok': True}, {'P0': []}, 'must be a non-empty list'),
        ({'health_ok': True}, ['P0'], 'level 1 of the severities is not a dict'),
        ({'health_ok': True}, [{'severity': 'SEV1', 'conditions': []}], 'expected one of P0, P1, P2, P3'),
        ({'health_ok': True}, [{'severity': 'P0'}], 'conditions must be a list'),
        ({'health_ok': True}, GOOD + GOOD, 'severity P0 appears twice'),
        ({'health_ok': True}, [{**GOOD[0], 'respond_in': 5}], "unknown keys ['respond_in']"),
        ({'health_ok': True}, [{**GOOD[0], 'respond_within_minutes': '5'}], 'respond_within_minutes must be'),
        ({'health_ok': True}, [{**GOOD[0], 'mentions': '@oncall'}], 'mentions must be a list of strings'),
        ({'health_ok': True}, [{'severity': 'P0', 'conditions': [{'equals': False}]}], 'with a signal name'),
        (
            {'health_ok': True},
            [{'severity': 'P0', 'conditions': [{'signal': 'health_ok'}]}],
            'needs one or more of equals, above',
        ),
        (
            {'health_ok': True},
            [{'severity': 'P0', 'conditions': [{'signal': 'error_5xx_ratio', 'over': 0.5}]}],
            '(unknown: over)',
        ),
        (
            {'health_ok': True},
            [{'severity': 'P0', 'conditions': [{'signal': 'error_5xx_ratio', 'above': '50%'}]}],
            "error_5xx_ratio above '50%': expected a number",
        ),
        (
            {'health_ok': True},
            [{'severity': 'P0', 'conditions': [{'signal': 'health_ok', 'above': 0}]}],
            'compare it with equals',
        ),
        (
            {'queue_backlog': 3},
            [{'severity': 'P0', 'conditions': [{'signal': 'queue_backlog', 'equals': True}]}],
            'cannot be compared with equals true',
        ),
        (
            {'health_ok': True},
            [{'severity': 'P0', 'conditions': [{'signal': 'Health-OK', 'equals': False}]}],
            'is not a signal name',
        ),
    ],
)
def test_bad_input(signals: Any, severities: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r'^incident_severity: ') as err:
        incident_severity(signals, severities)
    assert message in str(err.value)
