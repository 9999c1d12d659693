# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of the stand-in's cert-manager.io/v1 Certificates (runbook P13): discovery, the
status subresource as the API server keeps it apart from the main resource, and the cert-manager
controller's re-issuance after `cmctl renew`'s condition. kubectl 1.31 and the kubernetes python
client talk to it unchanged. They check the stand-in, not a cluster."""

from __future__ import annotations

import json
import time
import urllib.error

import pytest
from kubernetes import config, dynamic
from kubernetes.dynamic.exceptions import DynamicApiError

CERT = '/apis/cert-manager.io/v1/namespaces/playcode/certificates/playcode-tls'
SECRET = '/api/v1/namespaces/playcode/secrets/playcode-tls'
ISSUING = {'type': 'Issuing', 'status': 'True', 'reason': 'ManuallyTriggered', 'message': 'manual'}
MERGE = 'application/merge-patch+json'


def _certificates(k8s):
    client = dynamic.DynamicClient(config.new_client_from_config(str(k8s.kubeconfig)))
    return client.resources.get(api_version='cert-manager.io/v1', kind='Certificate')


def _issuing_patch(cert: dict) -> dict:
    return {'status': {'conditions': [*cert['status']['conditions'], ISSUING]}}


def _wait_revision(k8s, revision: int, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cert = k8s.get(CERT)
        if cert['status'].get('revision') == revision:
            return cert
        time.sleep(0.1)
    raise AssertionError(f'revision {revision} not reached: {cert["status"]}')


def test_kubectl_lists_and_reads_certificates(k8s):
    """API contract: discovery names certificates (short name cert) and certificates/status; kubectl gets them."""
    group = k8s.get('/apis/cert-manager.io/v1')
    names = {r['name']: r for r in group['resources']}
    assert names['certificates']['kind'] == 'Certificate' and names['certificates']['namespaced']
    assert names['certificates/status']['verbs'] == ['get', 'patch', 'update']
    listed = json.loads(k8s.kubectl('get', 'certificates', '-o', 'json').stdout)
    assert [c['metadata']['name'] for c in listed['items']] == ['playcode-tls']
    one = json.loads(k8s.kubectl('get', 'cert', 'playcode-tls', '-o', 'json').stdout)
    assert one['spec']['secretName'] == 'playcode-tls' and one['status']['revision'] == 3


def test_a_patch_of_the_main_resource_cannot_change_status(k8s):
    """API contract: status in a main-resource patch is ignored; a spec change bumps the generation."""
    before = k8s.get(CERT)
    body = {'spec': {'dnsNames': ['playcode.gg', 'www.playcode.gg']}, 'status': {'revision': 99}}
    _certificates(k8s).patch(body=body, name='playcode-tls', namespace='playcode', content_type=MERGE)
    after = k8s.get(CERT)
    assert after['status'] == before['status']
    assert after['spec']['dnsNames'] == ['playcode.gg', 'www.playcode.gg']
    assert after['metadata']['generation'] == before['metadata']['generation'] + 1


def test_a_patch_of_the_status_cannot_change_spec(k8s):
    """API contract: a status-subresource patch changes status only, not spec, metadata or generation."""
    before = k8s.get(CERT)
    body = {'metadata': {'labels': {'x': 'y'}}, 'spec': {'secretName': 'other'}, 'status': {'revision': 7}}
    _certificates(k8s).status.patch(body=body, name='playcode-tls', namespace='playcode', content_type=MERGE)
    after = k8s.get(CERT)
    assert after['spec'] == before['spec'] and 'labels' not in after['metadata']
    assert after['metadata']['generation'] == before['metadata']['generation']
    assert after['status']['revision'] == 7


def test_strategic_merge_is_refused_for_the_custom_resource(k8s):
    """API contract: as for any custom resource, a strategic-merge patch answers 415 (kubectl patch needs
    --type=merge or json)."""
    refused = k8s.kubectl('patch', 'certificate', 'playcode-tls', '-p', '{"spec":{"secretName":"x"}}', check=False)
    assert refused.returncode != 0 and 'strategic-merge-patch+json is not supported' in refused.stderr
    with pytest.raises(DynamicApiError) as error:
        _certificates(k8s).patch(body={'spec': {}}, name='playcode-tls', namespace='playcode')
    assert error.value.status == 415


def test_kubectl_patch_subresource_status_reissues_in_place(k8s):
    """API contract: kubectl patch --subresource=status with Issuing=True (what cmctl renew sets) makes the
    controller issue into the same Secret: revision + 1, new notAfter and tls.crt, Ready True, Issuing gone."""
    before, secret = k8s.get(CERT), k8s.get(SECRET)
    patch = json.dumps(_issuing_patch(before))
    k8s.kubectl('patch', 'certificate', 'playcode-tls', '--subresource=status', '--type=merge', '-p', patch)
    after = _wait_revision(k8s, 4)
    assert after['metadata']['uid'] == before['metadata']['uid']
    assert after['status']['notAfter'] > before['status']['notAfter']
    assert after['status']['renewalTime'] < after['status']['notAfter']
    assert [(c['type'], c['status']) for c in after['status']['conditions']] == [('Ready', 'True')]
    renewed = k8s.get(SECRET)
    assert renewed['data']['tls.crt'] != secret['data']['tls.crt']
    assert renewed['data']['tls.key'] == secret['data']['tls.key']
    assert renewed['metadata']['uid'] == secret['metadata']['uid']


def test_a_dry_run_status_patch_stores_nothing(k8s):
    """API contract: dryRun=All on the status subresource answers the result and issues nothing."""
    before = k8s.get(CERT)
    answer = _certificates(k8s).status.patch(
        body=_issuing_patch(before), name='playcode-tls', namespace='playcode', content_type=MERGE, dry_run='All'
    )
    assert any(c['type'] == 'Issuing' for c in answer.to_dict()['status']['conditions'])
    time.sleep(0.5)
    assert k8s.get(CERT) == before


def test_a_failing_issuer_marks_the_issuance_failed(k8s):
    """API contract: an issuer named *failing* refuses: Issuing False, reason Failed; the old certificate stays."""
    cert = k8s.get(CERT)
    k8s.kubectl(
        'patch', 'certificate', 'playcode-tls', '--type=merge', '-p',
        '{"spec":{"issuerRef":{"name":"letsencrypt-failing"}}}',
    )  # fmt: skip
    _certificates(k8s).status.patch(
        body=_issuing_patch(cert), name='playcode-tls', namespace='playcode', content_type=MERGE
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        issuing = [c for c in k8s.get(CERT)['status']['conditions'] if c['type'] == 'Issuing']
        if issuing and issuing[0]['status'] == 'False':
            break
        time.sleep(0.1)
    assert issuing[0]['reason'] == 'Failed' and 'rateLimited' in issuing[0]['message']
    status = k8s.get(CERT)['status']
    assert status['revision'] == 3 and status['failedIssuanceAttempts'] == 1 and status['lastFailureTime']


def test_a_group_switched_off_is_not_served(k8s):
    """Control: /_standin/groups switches cert-manager.io off (discovery, paths) and reset brings it back."""
    k8s.set_groups({'cert-manager.io': False})
    assert 'cert-manager.io' not in [g['name'] for g in k8s.get('/apis')['groups']]
    with pytest.raises(urllib.error.HTTPError) as error:
        k8s.get(CERT)
    assert error.value.code == 404
    k8s.reset()
    assert k8s.get(CERT)['status']['revision'] == 3
