# SPDX-License-Identifier: GPL-3.0-or-later
"""The event source sre.runbooks.alertmanager as a real HTTP server on loopback: what
Alertmanager posts becomes one event per alert; the token and wrong bodies are refused;
the rulebook that uses it passes ansible-rulebook's own schema and parser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from ansible_rulebook.rules_parser import parse_rule_sets
from ansible_rulebook.validators import Validate

from ansible_collections.sre.runbooks.extensions.eda.plugins.event_source import alertmanager
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[3]
RULEBOOK = ROOT / 'extensions/eda/rulebooks/incident_response.yml'


def notification(*alerts: dict[str, Any], status: str = 'firing') -> dict[str, Any]:
    """An Alertmanager webhook body (version 4), as 0.25 sends it."""
    return {
        'version': '4',
        'groupKey': '{}:{alertname="HighErrorRate"}',
        'truncatedAlerts': 0,
        'status': status,
        'receiver': 'eda',
        'groupLabels': {'alertname': 'HighErrorRate'},
        'commonLabels': {},
        'commonAnnotations': {},
        'externalURL': 'http://127.0.0.1:9093',
        'alerts': list(alerts),
    }


def alert(instance: str, status: str = 'firing') -> dict[str, Any]:
    return {
        'status': status,
        'labels': {'alertname': 'HighErrorRate', 'instance': instance, 'severity': 'P0', 'team': 'refit'},
        'annotations': {'remediation': 'rollback', 'summary': '5xx above 5 %'},
        'startsAt': '2026-12-05T06:00:00Z',
        'endsAt': '0001-01-01T00:00:00Z',
        'generatorURL': 'http://127.0.0.1:9090/graph',
        'fingerprint': f'fp-{instance}',
    }


Poster = Callable[..., Awaitable[tuple[int, str]]]


def serve(args: dict[str, Any], check: Callable[[Poster, asyncio.Queue], Awaitable[None]]) -> None:
    """Run the source on a free loopback port, hand `check` a poster and the queue, stop it."""

    async def scenario() -> None:
        queue: asyncio.Queue = asyncio.Queue()
        port = free_port()
        task = asyncio.create_task(alertmanager.main(queue, {'host': '127.0.0.1', 'port': port, **args}))
        async with aiohttp.ClientSession() as session:

            async def post(body: Any, path: str = '/alerts', headers: dict | None = None) -> tuple[int, str]:
                data = body if isinstance(body, str) else json.dumps(body)
                for _attempt in range(100):  # until it listens (bounded: 5 s)
                    try:
                        async with session.post(f'http://127.0.0.1:{port}{path}', data=data, headers=headers) as answer:
                            return answer.status, await answer.text()
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.05)
                raise AssertionError('the source did not listen within 5 s')

            try:
                await asyncio.wait_for(check(post, queue), timeout=20)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    asyncio.run(scenario())


def drain(queue: asyncio.Queue) -> list[dict[str, Any]]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def test_one_event_per_alert_with_labels_annotations_and_status():
    async def check(post: Poster, queue: asyncio.Queue) -> None:
        status, _text = await post(notification(alert('a:8080'), alert('b:8080', 'resolved')), path='/alerts')
        assert status == 202
        events = drain(queue)
        assert [event['alert']['labels']['instance'] for event in events] == ['a:8080', 'b:8080']
        assert [event['alert']['status'] for event in events] == ['firing', 'resolved']
        first = events[0]
        assert first['alert']['annotations']['remediation'] == 'rollback'
        assert first['alert']['fingerprint'] == 'fp-a:8080'
        assert first['meta'] == {
            'endpoint': 'alerts',
            'receiver': 'eda',
            'group_key': '{}:{alertname="HighErrorRate"}',
            'external_url': 'http://127.0.0.1:9093',
        }
        assert 'hosts' not in first['meta']  # no host limit from an alert label

    serve({}, check)


@pytest.mark.parametrize(
    'body',
    [
        'not json',
        '[]',
        {'status': 'firing'},
        notification({'labels': {'alertname': 'X'}}),
        notification('not an alert'),
    ],
    ids=['not-json', 'a-list', 'no-alerts', 'alert-without-status', 'alert-not-an-object'],
)
def test_a_body_that_is_not_a_notification_is_refused_and_makes_no_event(body):
    async def check(post: Poster, queue: asyncio.Queue) -> None:
        status, text = await post(body)
        assert status == 400
        assert 'not an Alertmanager notification' in text
        assert drain(queue) == []

    serve({}, check)


def test_a_notification_without_alerts_makes_no_event():
    async def check(post: Poster, queue: asyncio.Queue) -> None:
        assert (await post(notification()))[0] == 202
        assert drain(queue) == []

    serve({}, check)


@pytest.mark.parametrize(
    ('headers', 'expected'),
    [
        (None, 401),
        ({'Authorization': 'Bearer wrong'}, 401),
        ({'Authorization': 'Basic s3cret-token'}, 401),
        ({'Authorization': 'Bearer s3cret-token'}, 202),
    ],
    ids=['none', 'wrong', 'not-bearer', 'right'],
)
def test_with_a_token_only_its_bearer_gets_in(headers, expected):
    async def check(post: Poster, queue: asyncio.Queue) -> None:
        status, text = await post(notification(alert('a:8080')), headers=headers)
        assert status == expected
        assert 's3cret' not in text
        assert len(drain(queue)) == (1 if expected == 202 else 0)

    serve({'token': 's3cret-token'}, check)


def test_off_loopback_a_token_is_required():
    with pytest.raises(ValueError, match='needs a token'):
        asyncio.run(alertmanager.main(asyncio.Queue(), {'host': '0.0.0.0', 'port': free_port()}))


def test_the_port_is_required():
    with pytest.raises(ValueError, match='port is required'):
        asyncio.run(alertmanager.main(asyncio.Queue(), {}))


def test_the_rulebook_passes_ansible_rulebooks_schema_and_parser():
    data = yaml.safe_load(RULEBOOK.read_text())
    Validate.rulebook(data)
    (ruleset,) = parse_rule_sets(data)
    names = [rule.name for rule in ruleset.rules]
    assert len(names) == len(set(names))
    (source,) = ruleset.sources
    assert source.source_name == 'sre.runbooks.alertmanager'
    remediations = [rule for rule in ruleset.rules if rule.actions[0].action == 'run_playbook']
    assert remediations, 'no rule runs a remediation playbook'
    for rule in remediations:
        assert rule.throttle is not None, f'{rule.name}: a remediation without throttle'
        # Remediations once per target, whatever the alert (two alerts of one incident, one run);
        # diagnoses once per alert and target.
        assert rule.throttle.group_by_attributes[-1] == 'event.alert.labels.instance'
        acts = rule.name.startswith('Remediate')
        assert len(rule.throttle.group_by_attributes) == (1 if acts else 2), rule.name
        assert rule.actions[0].action_args['name'] == 'playbooks/remediate.yml'
