# SPDX-License-Identifier: GPL-3.0-or-later
"""cert_manager_renew against the Kubernetes API stand-in (API contract): the status patch it sends,
check mode, an issuance already under way, and its errors."""

from __future__ import annotations

import datetime

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from ansible_collections.sre.runbooks.plugins.modules.cert_manager_renew import (
    Certificates,
    renew,
    trigger_patch,
)

CERTS = '/apis/cert-manager.io/v1/namespaces/playcode/certificates'
WRITES = ('POST', 'PUT', 'PATCH', 'DELETE')


@pytest.fixture
def certs(k8s, monkeypatch):
    monkeypatch.setenv('TMPDIR', str(k8s.tmpdir))
    return Certificates(get_api_client(kubeconfig=str(k8s.kubeconfig), context='standin'), 'playcode')


def test_the_patch_keeps_the_other_conditions_and_the_read_version():
    cert = {
        'metadata': {'name': 'c', 'resourceVersion': '41', 'generation': 2},
        'status': {
            'conditions': [
                {'type': 'Ready', 'status': 'True'},
                {'type': 'Issuing', 'status': 'False', 'reason': 'Failed'},
            ]
        },
    }
    patch = trigger_patch(cert, datetime.datetime(2026, 12, 5, tzinfo=datetime.timezone.utc))
    assert patch['metadata'] == {'resourceVersion': '41'}
    assert patch['status']['conditions'] == [
        {'type': 'Ready', 'status': 'True'},
        {
            'type': 'Issuing',
            'status': 'True',
            'reason': 'ManuallyTriggered',
            'message': 'Certificate re-issuance manually triggered',
            'lastTransitionTime': '2026-12-05T00:00:00Z',
            'observedGeneration': 2,
        },
    ]


def test_check_mode_reads_only_and_the_real_run_patches_the_status(k8s, certs):
    k8s.requests(clear=True)
    assert renew(certs, 'playcode-tls', check_mode=True) == {'changed': True, 'revision': 3, 'already_issuing': False}
    assert [r for r in k8s.requests() if r['method'] in WRITES] == []
    assert renew(certs, 'playcode-tls', check_mode=False)['changed']
    writes = [(r['method'], r['path']) for r in k8s.requests() if r['method'] in WRITES]
    assert writes == [('PATCH', f'{CERTS}/playcode-tls/status')]


def test_an_issuance_under_way_is_not_triggered_again(k8s, certs):
    stuck = k8s.get(f'{CERTS}/playcode-tls')
    # Without a secretName the stand-in's cert-manager leaves it issuing.
    stuck['metadata'] = {'name': 'stuck', 'namespace': 'playcode'}
    stuck['spec'].pop('secretName')
    stuck['status']['conditions'].append({'type': 'Issuing', 'status': 'True', 'reason': 'ManuallyTriggered'})
    k8s.seed(stuck)
    k8s.requests(clear=True)
    assert renew(certs, 'stuck', check_mode=False) == {'changed': False, 'revision': 3, 'already_issuing': True}
    assert [r for r in k8s.requests() if r['method'] in WRITES] == []


def test_an_unknown_name_lists_the_certificates(certs):
    with pytest.raises(LookupError, match=r'Certificate nope not found in namespace playcode; .*: playcode-tls'):
        renew(certs, 'nope', check_mode=True)
