# SPDX-License-Identifier: GPL-3.0-or-later
"""The guard of runbook R2 around Fragrance AI's compose redeploy (F6/F8) on the lab's
compose host: a VERSION whose image does not serve the app is rolled back to the previous
VERSION automatically, with the notices posted to a real HTTP receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.guarded_compose import BAD, FAST, GOOD, HOST, bad_release_staged, failure, healthy, version
from tests.support.webhooks import WebhookReceiver

from .conftest import Lab


@pytest.fixture
def stack(lab: Lab) -> Iterator[tuple[Lab, WebhookReceiver]]:
    """The bad image tagged for the test; afterwards untagged, the guard's record gone, the stack on v0.2.0."""
    with bad_release_staged(lab) as rx:
        yield lab, rx
    assert version() == GOOD and healthy()


def test_a_bad_version_of_the_compose_stack_is_rolled_back_automatically(stack):
    lab, rx = stack
    assert version() == GOOD
    env = {'SRE_NOTIFY_WEBHOOK_URL': rx.url('/discord/1234/lab-token')}
    predicted = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env, cmdline='--check')
    assert predicted.rc == 0 and version() == GOOD and rx.messages() == []
    said = ' '.join(str(e['event_data'].get('res', {}).get('msg', '')) for e in predicted.events if 'event_data' in e)
    assert f'would deploy VERSION={BAD}' in said and f'roll back to {GOOD}' in said

    bad = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env)
    assert bad.rc != 0
    assert 'rolled back: rollback done' in failure(bad)
    assert version() == GOOD and healthy()
    start, alarm, done = (message['text'] or '' for message in rx.messages())
    assert start.startswith('🚀') and BAD in start
    assert 'P0' in alarm and '@devops' in alarm and BAD in alarm  # Fragrance's P0 mentions (F10)
    assert 'rollback done' in done.lower() and GOOD in done

    again = lab.playbook('guarded_deploy.yml', extravars={'version': BAD, **FAST}, env=env)
    assert again.rc != 0 and again.stats['changed'].get(HOST, 0) == 0
    assert f'Not deploying {BAD}' in failure(again)
    assert len(rx.messages()) == 3
