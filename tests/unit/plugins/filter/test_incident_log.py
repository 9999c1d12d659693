# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident log filters: the log's lines back into incidents, and the escalation
levels due (R5, F10, O11) decided from the log's escalate lines."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.incident_log import (
    incident_due_escalations,
    incident_find,
    incident_log,
    incident_utc,
)

REFIT = [
    {'level': 'L1', 'after_minutes': 0, 'who': 'DevOps on call', 'mentions': ['@devops-oncall']},
    {'level': 'L3', 'after_minutes': 30, 'who': 'CTO', 'mentions': ['@cto']},
    {'level': 'L2', 'after_minutes': 15, 'who': 'AI backend lead', 'mentions': ['@ai-backend-lead']},
]


def line(event: str, at: str, incident: str = 'refit-20261205-060000', **fields) -> str:
    record = {'id': incident, 'team': 'refit', 'at': at, 'event': event, 'severity': '', 'summary': '', 'level': ''}
    return json.dumps({**record, 'mentions': [], 'by': 'ops', **fields})


OPEN = line('open', '2026-12-05T06:00:00Z', severity='P0', summary='health failing')


@pytest.mark.parametrize(
    ('given', 'expected'),
    [
        ('2026-12-05T06:00:00Z', '2026-12-05T06:00:00Z'),
        ('2026-12-05T06:00:00.123456Z', '2026-12-05T06:00:00Z'),
        ('2026-12-05T08:00:00+02:00', '2026-12-05T06:00:00Z'),
        ('2026-12-05T15:00:00+09:00', '2026-12-05T06:00:00Z'),
    ],
)
def test_times_are_written_in_utc_whole_seconds(given, expected):
    assert incident_utc(given) == expected


@pytest.mark.parametrize('given', ['yesterday', '05.12.2026 06:00', 'T'])
def test_a_time_that_is_not_iso_is_refused(given):
    with pytest.raises(AnsibleFilterError, match='not an ISO 8601 time'):
        incident_utc(given)


@pytest.mark.parametrize('given', ['2026-12-05T06:00:00', '2026-12-05 15:00'])
def test_a_time_without_a_zone_is_refused(given):
    # A Seoul time read as UTC would open the incident 9 hours late and hold its escalation back.
    with pytest.raises(AnsibleFilterError, match='has no time zone'):
        incident_utc(given)


def test_a_time_in_the_future_is_refused():
    with pytest.raises(AnsibleFilterError, match='in the future'):
        incident_utc('2999-01-01T00:00:00Z')


def test_now_when_no_time_is_given():
    assert incident_utc('').endswith('Z') and len(incident_utc()) == 20


def test_the_log_gives_each_incident_with_its_timeline_in_time_order():
    lines = [
        line('escalate', '2026-12-05T06:16:00Z', level='L2', mentions=['@ai-backend-lead']),
        OPEN,
        line('escalate', '2026-12-05T06:01:00Z', level='L1'),
        line('update', '2026-12-05T06:10:00Z', severity='P1', summary='health back, 5xx at 20 %'),
        line('open', '2026-12-05T07:00:00Z', 'o4o-20261205-070000', team='o4o'),
    ]
    log = incident_log(lines)
    assert [incident['id'] for incident in log['incidents']] == ['refit-20261205-060000', 'o4o-20261205-070000']
    refit = incident_find(log, 'refit-20261205-060000')
    assert [event['event'] for event in refit['events']] == ['open', 'escalate', 'update', 'escalate']
    assert refit['escalated'] == ['L1', 'L2'] and not refit['resolved']
    assert (refit['severity'], refit['summary'], refit['opened_at']) == (
        'P1',
        'health back, 5xx at 20 %',
        '2026-12-05T06:00:00Z',
    )
    assert incident_find(log, 'refit-20261205-999999') is None


def test_a_resolve_line_resolves_it():
    log = incident_log([OPEN, line('resolve', '2026-12-05T06:40:00Z', summary='rolled back')])
    (incident,) = log['incidents']
    assert incident['resolved'] and incident['resolved_at'] == '2026-12-05T06:40:00Z'
    assert incident['summary'] == 'rolled back'


@pytest.mark.parametrize(
    'bad',
    [
        'not json',
        '[1, 2]',
        '{"id": "x", "event": "open"}',
        '{"id": "x", "event": "reopen", "at": "2026-12-05T06:00:00Z"}',
        '{"event": "open", "at": "2026-12-05T06:00:00Z"}',
        '{"id": "x", "event": "open", "at": "soon"}',
    ],
)
def test_a_damaged_line_is_listed_as_unreadable_and_the_rest_read(bad):
    log = incident_log([OPEN, bad, ''])
    assert log['unreadable'] == [bad] and len(log['incidents']) == 1


def due(lines, now, team='refit', escalation=None):
    return [
        (item['id'][-6:], item['level'])
        for item in incident_due_escalations(
            incident_log(lines), REFIT if escalation is None else escalation, team, now
        )
    ]


@pytest.mark.parametrize(
    ('minutes', 'levels'),
    [(0, ['L1']), (14, ['L1']), (15, ['L1', 'L2']), (29, ['L1', 'L2']), (40, ['L1', 'L2', 'L3'])],
)
def test_every_level_whose_time_has_passed_is_due_in_order(minutes, levels):
    now = f'2026-12-05T06:{minutes:02d}:30Z'
    assert due([OPEN], now) == [('060000', level) for level in levels]


def test_a_level_with_an_escalate_line_is_not_due_again():
    lines = [
        OPEN,
        line('escalate', '2026-12-05T06:01:00Z', level='L1'),
        line('escalate', '2026-12-05T06:31:00Z', level='L3'),
    ]
    assert due(lines, '2026-12-05T06:40:00Z') == [('060000', 'L2')]


def test_a_resolved_incident_is_never_escalated():
    assert due([OPEN, line('resolve', '2026-12-05T06:05:00Z')], '2026-12-05T08:00:00Z') == []


def test_only_the_teams_incidents_are_escalated():
    other = line('open', '2026-12-05T06:00:00Z', 'o4o-20261205-060000', team='o4o')
    assert due([other], '2026-12-05T08:00:00Z') == []
    o4o = [{'level': 'L1', 'after_minutes': 15, 'who': 'DevOps', 'mentions': []}]
    assert due([other, OPEN], '2026-12-05T08:00:00Z', team='o4o', escalation=o4o) == [('060000', 'L1')]


def test_the_due_item_carries_who_and_mentions():
    (item,) = incident_due_escalations(incident_log([OPEN]), REFIT, 'refit', '2026-12-05T06:05:00Z')
    assert item == {
        'id': 'refit-20261205-060000',
        'team': 'refit',
        'summary': 'health failing',
        'severity': 'P0',
        'opened_at': '2026-12-05T06:00:00Z',
        'minutes_open': 5,
        'level': 'L1',
        'who': 'DevOps on call',
        'after_minutes': 0,
        'mentions': ['@devops-oncall'],
    }


@pytest.mark.parametrize('escalation', [[], None, [{'level': 'L1'}], [{'after_minutes': 5}], ['L1']])
def test_a_team_without_a_usable_escalation_path_is_refused(escalation):
    with pytest.raises(AnsibleFilterError, match='team refit'):
        incident_due_escalations(incident_log([OPEN]), escalation, 'refit')


def test_a_level_due_at_once_for_a_severity_goes_out_with_the_first():
    fragrance = [
        {'level': 'L1', 'after_minutes': 0, 'who': 'on-call engineer', 'mentions': ['@devops']},
        {'level': 'L2', 'after_minutes': 15, 'who': 'team lead', 'mentions': []},
        {'level': 'L4', 'after_minutes': 60, 'who': 'CTO', 'mentions': [], 'immediately_for': ['P0']},
    ]
    p0 = line('open', '2026-12-05T06:00:00Z', 'fragrance-20261205-060000', team='fragrance', severity='P0')
    p1 = line('open', '2026-12-05T06:00:00Z', 'fragrance-20261205-060001', team='fragrance', severity='P1')
    assert due([p0, p1], '2026-12-05T06:01:00Z', team='fragrance', escalation=fragrance) == [
        ('060000', 'L1'),
        ('060000', 'L4'),
        ('060001', 'L1'),
    ]
