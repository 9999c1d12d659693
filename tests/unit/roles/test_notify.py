# SPDX-License-Identifier: GPL-3.0-or-later
"""The notify role through ansible-playbook on localhost, posting to the real webhook receiver
(tests/support/webhook_receiver.py, its own process): what arrives per kind, check mode, failed
posts, the preflight, and no webhook URL or token in -vvv output. The webhooks reach the play
through the environment (tests/unit/roles/notify/play.yml), as on the lab."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.webhooks import webhook_receiver

ROOT = Path(__file__).resolve().parents[3]
PLAY = ROOT / 'tests' / 'unit' / 'roles' / 'notify' / 'play.yml'
TOKEN = 'T0KEN-must-never-show'


def run(tmp: Path, hooks: list[dict], events: list[dict], *extra: str, **variables) -> tuple[int, str, list[dict]]:
    """(rc, -vvv output, notify_result of each event) of one run of the test play."""
    results = tmp / f'results{len(list(tmp.glob("results*")))}.json'
    env = {
        **os.environ,
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
        'NOTIFY_TEST_WEBHOOKS': json.dumps(hooks),
    }
    extra_vars = {'notify_test_events': events, 'notify_test_results_file': str(results), **variables}
    command = [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c', 'local']
    command += ['-e', f'ansible_python_interpreter={sys.executable}', '-e', json.dumps(extra_vars), '-vvv']
    done = subprocess.run(
        [*command, *extra, str(PLAY)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    return done.returncode, output, json.loads(results.read_text()) if results.exists() else []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_each_kind_gets_the_runbook_text_with_the_severity_mentions(tmp_path):
    events = [
        {'event': 'deploy_start', 'detail': 'v1.2.0 on refit-ai'},
        {
            'event': 'health_failed',
            'detail': 'v1.2.0 answered 503',
            'mention_ids': {'discord': {'@devops-oncall': '<@&42>'}},
        },
        {'event': 'rollback_ok', 'detail': 'back on v1.1.0'},
        {'event': 'rollback_failed', 'detail': 'v1.1.0 unhealthy too @everyone', 'mentions': ['@ai-backend-lead']},
    ]
    with webhook_receiver() as rx:
        hooks = [
            {'kind': 'discord', 'url': rx.url(f'/api/webhooks/1/{TOKEN}')},
            {'kind': 'slack', 'url': rx.url(f'/services/T1/B1/{TOKEN}')},
            {'kind': 'mattermost', 'url': rx.url(f'/hooks/{TOKEN}'), 'name': '#ai-service-alerts'},
        ]
        rc, output, results = run(tmp_path, hooks, events)
        messages = rx.messages()
    assert rc == 0, output[-3000:]
    assert TOKEN not in output and rx.base_url not in output
    assert [r['sent'] for r in results] == [3, 3, 3, 3] and {r['failed'] for r in results} == {0}
    assert results[1]['targets'] == ['discord #1', 'slack #2', '#ai-service-alerts']
    texts = [m['text'] for m in messages]
    start, p0, done, failed = texts[0], texts[3], texts[6], texts[9]
    assert start == '🚀 [refit] Deploy started: v1.2.0 on refit-ai'
    assert p0 == '🚨 [refit] P0 Health check failed → automatic rollback started: v1.2.0 answered 503 <@&42>'
    assert texts[4] == texts[5] == p0.replace('<@&42>', '@devops-oncall')
    assert done == '✅ [refit] Rollback done: back on v1.1.0'
    assert failed.startswith('🚨 [refit] P0 Rollback failed: manual intervention needed: v1.1.0 unhealthy')
    assert failed.endswith('@devops-oncall @ai-backend-lead')
    # Discord: content + allowed_mentions that ping the mapped role only, never @everyone.
    discord = [m for m in messages if m['path'].startswith('/api/webhooks/')]
    assert [set(m['body']) for m in discord] == [{'content', 'allowed_mentions'}] * 4
    assert discord[1]['body']['allowed_mentions'] == {'parse': [], 'roles': ['42']}
    assert discord[3]['body']['allowed_mentions'] == {'parse': []}
    assert all(m['status'] == 204 for m in discord)
    # Slack and Mattermost: text.
    others = [m for m in messages if not m['path'].startswith('/api/webhooks/')]
    assert [set(m['body']) for m in others] == [{'text'}] * 8 and all(m['status'] == 200 for m in others)
    assert messages[5]['mentions'] == ['@devops-oncall']
    assert messages[11]['mentions'] == ['@devops-oncall', '@ai-backend-lead']  # a detail's @everyone is defused
    assert 'changed=4' in output  # one task per event: a post is a change


def test_check_mode_posts_nothing_and_shows_what_it_would_send(tmp_path):
    with webhook_receiver() as rx:
        hooks = [{'kind': 'discord', 'url': rx.url(f'/api/webhooks/1/{TOKEN}')}]
        rc, output, results = run(tmp_path, hooks, [{'event': 'incident_open', 'severity': 'P0'}], '--check')
        assert rx.messages() == []
    assert rc == 0, output[-3000:]
    assert TOKEN not in output and rx.base_url not in output
    assert (
        'Check mode, nothing posted. Would post to discord #1: 🔴 [refit] P0 Incident opened @devops-oncall' in output
    )
    (result,) = results
    assert (result['sent'], result['failed'], result['skipped'], result['check_mode']) == (0, 0, 1, True)
    assert 'changed=0' in output


def test_failed_posts_are_warnings_counted_in_the_result_and_the_play_goes_on(tmp_path):
    with webhook_receiver(status=500) as broken, webhook_receiver(delay=4) as slow, webhook_receiver() as good:
        hooks = [
            {'kind': 'discord', 'url': broken.url(f'/api/webhooks/1/{TOKEN}')},
            {'kind': 'slack', 'url': slow.url(f'/services/T/B/{TOKEN}')},
            {'kind': 'mattermost', 'url': f'http://127.0.0.1:{closed_port()}/hooks/{TOKEN}'},
            {'kind': 'teams', 'url': f'https://example.invalid/{TOKEN}'},
            {'kind': 'mattermost', 'url': good.url(f'/hooks/{TOKEN}')},
        ]
        rc, output, results = run(tmp_path, hooks, [{'event': 'alert', 'severity': 'P1'}], notify_timeout=1)
        assert len(broken.messages()) == 1 and len(good.messages()) == 1
    assert rc == 0, output[-3000:]
    assert TOKEN not in output and broken.base_url not in output
    (result,) = results
    assert (result['sent'], result['failed']) == (1, 4), result
    errors = '\n'.join(result['errors'])
    assert 'discord #1 (127.0.0.1): answered 500' in errors
    assert 'slack #2 (127.0.0.1): no answer' in errors and 'mattermost #3 (127.0.0.1): no answer' in errors
    assert "teams #4: kind 'teams' is not one of discord, slack, mattermost" in errors
    assert 'WARNING: the alert notification did not reach discord #1 (127.0.0.1): answered 500' in output
    assert 'play continues' in output and 'failed=0' in output


def test_preflight_fails_without_a_webhook_unless_optional(tmp_path):
    rc, output, _stderr = run(tmp_path, [], [], notify_test_preflight=True)
    assert rc != 0 and 'notify: no webhook is configured' in output
    assert 'play continues' not in output
    rc, output, _stderr = run(
        tmp_path, [], [{'event': 'deploy_start'}], notify_test_preflight=True, notify_optional=True
    )
    assert rc == 0 and 'notifications are off' in output and 'the deploy_start notification was not posted' in output


def test_preflight_names_a_malformed_webhook_without_its_url(tmp_path):
    hooks = [{'kind': 'discord', 'url': f'ftp://example.invalid/{TOKEN}', 'name': 'ops'}]
    rc, output, _stderr = run(tmp_path, hooks, [], notify_test_preflight=True)
    assert rc != 0 and 'ops: url is missing or is not an http(s) URL' in output
    assert TOKEN not in output
