# SPDX-License-Identifier: GPL-3.0-or-later
"""The notify filters: the runbook's message, each kind's body, webhooks without URLs, outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.notify_payload import (
    notify_message,
    notify_outcome,
    notify_payload,
    notify_targets,
)

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = yaml.safe_load((ROOT / 'roles' / 'notify' / 'defaults' / 'main.yml').read_text())
MESSAGES = DEFAULTS['notify_messages']
EMOJI = DEFAULTS['notify_severity_emoji']
SEVERITIES = [
    {'severity': 'P0', 'mentions': ['@devops-oncall']},
    {'severity': 'P1', 'mentions': []},
]


def message(event: str, severity: str = '', detail: str = '', mentions=None, **kwargs) -> dict:
    return notify_message(event, severity, detail, mentions, MESSAGES, SEVERITIES, 'refit', EMOJI, **kwargs)


@pytest.mark.parametrize(
    ('event', 'severity', 'text'),
    [
        ('deploy_start', '', '🚀 [refit] Deploy started: d'),
        ('deploy_ok', '', '✅ [refit] Deploy done: d'),
        ('deploy_failed', '', '🚨 [refit] P0 Deploy failed: d @devops-oncall'),
        ('health_failed', '', '🚨 [refit] P0 Health check failed → automatic rollback started: d @devops-oncall'),
        ('rollback_ok', '', '✅ [refit] Rollback done: d'),
        ('rollback_failed', '', '🚨 [refit] P0 Rollback failed: manual intervention needed: d @devops-oncall'),
        ('incident_open', 'P0', '🔴 [refit] P0 Incident opened: d @devops-oncall'),
        ('incident_open', 'P1', '🟡 [refit] P1 Incident opened: d'),
        ('incident_escalated', 'P0', '⏫ [refit] P0 Incident escalated: d @devops-oncall'),
        ('alert', 'P2', '🔔 [refit] P2 Alert: d'),
    ],
)
def test_the_runbook_texts_and_the_severity_mentions(event, severity, text):
    assert message(event, severity, 'd')['text'] == text


def test_mentions_are_the_policys_then_the_callers_once_each():
    got = message('incident_escalated', 'P0', '', ['@ai-backend-lead', '@devops-oncall', ' '])
    assert got['mentions'] == ['@devops-oncall', '@ai-backend-lead']
    assert got['text'] == '⏫ [refit] P0 Incident escalated @devops-oncall @ai-backend-lead'
    assert (got['event'], got['severity'], got['title']) == ('incident_escalated', 'P0', 'Incident escalated')


def test_a_long_detail_is_shortened_and_the_mentions_stay():
    got = message('health_failed', '', 'x' * 5000, max_length=200)
    assert len(got['text']) <= 200 and got['text'].endswith('x… @devops-oncall')


def test_a_channel_wide_ping_in_the_detail_is_defused():
    assert '@everyone' not in message('alert', 'P1', 'ping @everyone and @here')['text']


@pytest.mark.parametrize(
    ('event', 'severity', 'error'),
    [('deploy', '', "unknown event 'deploy'"), ('alert', 'P5', "severity 'P5' is not one of")],
)
def test_bad_events_and_severities_are_errors(event, severity, error):
    with pytest.raises(AnsibleFilterError, match=error):
        message(event, severity)


def test_discord_pings_only_the_mapped_tags():
    msg = message('health_failed', '', 'd', ['@cto', '@someone'])
    ids = {'discord': {'@devops-oncall': '<@&111>', '@cto': '<@222>'}}
    body = notify_payload(msg, 'discord', ids)
    assert body == {
        'content': '🚨 [refit] P0 Health check failed → automatic rollback started: d <@&111> <@222> @someone',
        'allowed_mentions': {'parse': [], 'roles': ['111'], 'users': ['222']},
    }
    assert notify_payload(msg, 'discord')['allowed_mentions'] == {'parse': []}


@pytest.mark.parametrize('kind', ['slack', 'mattermost'])
def test_slack_and_mattermost_take_text(kind):
    msg = message('rollback_failed')
    assert notify_payload(msg, kind) == {'text': msg['text']}
    tagged = notify_payload(msg, kind, {kind: {'@devops-oncall': '<!subteam^S1>'}})
    assert tagged['text'].endswith('needed <!subteam^S1>')


def test_a_text_over_the_kinds_limit_is_cut():
    assert len(notify_payload({'text': 'y' * 3000, 'mentions': []}, 'discord')['content']) == 2000


def test_an_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind 'teams'"):
        notify_payload(message('deploy_ok'), 'teams')


def test_targets_describe_the_webhooks_without_their_urls():
    hooks = [
        {'kind': 'discord', 'url': 'https://discord.com/api/webhooks/1/SECRET'},
        {'kind': 'slack', 'url': 'https://hooks.slack.com/services/SECRET', 'name': '#alerts'},
        {'kind': 'teams', 'url': 'https://x/SECRET'},
        {'kind': 'mattermost', 'url': 'ftp://x/SECRET'},
        {'kind': 'mattermost'},
        'https://SECRET',
    ]
    targets = notify_targets(hooks)
    assert 'SECRET' not in repr(targets)
    assert [t['label'] for t in targets] == [
        'discord #1',
        '#alerts',
        'teams #3',
        'mattermost #4',
        'mattermost #5',
        'webhook #6',
    ]
    assert [t['host'] for t in targets[:2]] == ['discord.com', 'hooks.slack.com']
    assert [bool(t['problem']) for t in targets] == [False, False, True, True, True, True]
    assert notify_targets(None) == [] and notify_targets('') == []
    with pytest.raises(AnsibleFilterError, match='must be a list'):
        notify_targets({'kind': 'discord'})


def test_the_outcome_counts_posts_and_names_failures_without_urls():
    targets = notify_targets(
        [
            {'kind': 'discord', 'url': 'https://a/1'},
            {'kind': 'slack', 'url': 'https://b/2'},
            {'kind': 'slack', 'url': 'https://c/3'},
            {'kind': 'nope', 'url': 'https://d/4'},
        ]
    )
    results = [
        {'item': targets[0], 'status': 204},
        {'item': targets[1], 'status': 500, 'msg': 'Status code was 500: https://b/2 said no'},
        {'item': targets[2], 'status': -1, 'msg': 'Request failed: <urlopen error timed out>'},
    ]
    outcome = notify_outcome(results, targets)
    assert (outcome['sent'], outcome['failed'], outcome['skipped']) == (1, 3, 0)
    assert outcome['errors'][0] == 'slack #2 (b): answered 500 (Status code was 500: <webhook url> said no)'
    assert outcome['errors'][1].startswith('slack #3 (c): no answer (Request failed')
    assert outcome['errors'][2] == "nope #4: kind 'nope' is not one of discord, slack, mattermost"
    skipped = notify_outcome([{'item': t, 'skipped': True} for t in targets[:3]], targets[:3])
    assert (skipped['sent'], skipped['failed'], skipped['skipped']) == (0, 0, 3)
