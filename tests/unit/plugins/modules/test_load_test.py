# SPDX-License-Identifier: GPL-3.0-or-later
"""load_test through the real `ansible` CLI against a real HTTP server on loopback:
the figures count every request and failure, and the headers never reach the output."""

from __future__ import annotations

import json

from ansible_collections.sre.runbooks.plugins.modules import load_test
from tests.support.adhoc import run_adhoc

SECRET = 'Bearer s3cret-token-for-the-load-test'


def test_figures_count_every_request_and_hide_the_headers(http_url):
    args = {'url': f'{http_url}/health', 'requests': 40, 'concurrency': 4, 'headers': {'Authorization': SECRET}}
    rc, result = run_adhoc('sre.runbooks.load_test', args, '-vvv')
    assert rc == 0, result
    assert result['figures']['requests'] == 40 and result['figures']['failed'] == 0
    assert result['figures']['requests_per_second'] and result['figures']['p99_ms'] is not None
    assert SECRET not in json.dumps(result)


def test_answers_outside_2xx_are_failures(http_url):
    rc, result = run_adhoc('sre.runbooks.load_test', {'url': f'{http_url}/down', 'requests': 10, 'concurrency': 2})
    assert rc == 0 and result['figures']['failed'] == 10


def test_one_tls_context_serves_the_whole_load(http_url, monkeypatch):
    """Issue #20: a context per request (open_url's) loaded the CA bundle every time and
    held the drill's 1000-request load to ~40 requests/s on the client's own CPU."""
    made = []
    real = load_test.make_context
    monkeypatch.setattr(load_test, 'make_context', lambda **kw: made.append(kw) or real(**kw))
    figures = load_test.run_load(f'{http_url}/health', 30, 5, {}, 10)
    assert figures['requests'] == 30 and figures['failed'] == 0 and len(made) == 1
