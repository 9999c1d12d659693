# SPDX-License-Identifier: GPL-3.0-or-later
"""cert_status: a cert-manager Certificate's status, and where a renewal stands (runbook P13)."""

from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.cert_manager import cert_status

READY = {'type': 'Ready', 'status': 'True', 'reason': 'Ready', 'message': 'Certificate is up to date'}
ISSUING = {'type': 'Issuing', 'status': 'True', 'reason': 'ManuallyTriggered', 'message': 'manual'}
FAILED = {'type': 'Issuing', 'status': 'False', 'reason': 'Failed', 'message': 'order errored: rateLimited'}


def cert(revision: int, *conditions: dict, days: int = 60) -> dict:
    not_after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days, hours=1)
    return {
        'apiVersion': 'cert-manager.io/v1',
        'kind': 'Certificate',
        'metadata': {'name': 'playcode-tls', 'namespace': 'playcode'},
        'spec': {'secretName': 'playcode-tls', 'issuerRef': {'kind': 'ClusterIssuer', 'name': 'letsencrypt-prod'}},
        'status': {
            'revision': revision,
            'notAfter': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'conditions': list(conditions),
        },
    }


@pytest.mark.parametrize(
    ('obj', 'since', 'state'),
    [
        (cert(3, READY), None, 'idle'),
        (cert(3, READY, ISSUING), None, 'issuing'),
        (cert(3, READY, ISSUING), 3, 'issuing'),
        (cert(3, READY), 3, 'issuing'),  # the trigger is not visible yet
        (cert(4, READY), 3, 'issued'),
        (cert(4, READY, ISSUING), 3, 'issuing'),
        (cert(3, READY, FAILED), 3, 'failed'),
        (cert(3, {**READY, 'status': 'False', 'reason': 'Expired', 'message': 'expired'}), 3, 'failed'),
        (cert(3, {**READY, 'status': 'False', 'reason': 'InProgress', 'message': 'issuing'}), 3, 'issuing'),
    ],
)
def test_state(obj, since, state):
    assert cert_status(obj, since)['state'] == state


def test_the_flat_view():
    view = cert_status(cert(3, READY, FAILED, days=10))
    assert view['days_left'] == 10 and view['revision'] == 3 and view['ready'] == 'True'
    assert view['issuer'] == 'ClusterIssuer/letsencrypt-prod' and view['secret'] == 'playcode-tls'
    assert view['failure'] == 'order errored: rateLimited' and not view['issuing']


@pytest.mark.parametrize('bad', [None, {}, {'kind': 'Secret'}])
def test_anything_but_a_certificate_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match=r'expects a cert-manager\.io Certificate'):
        cert_status(bad)
