# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of cert_renew.yml (runbook P13, section 6.3): the status of PlayCode's
Certificate, and its renewal in place through the status subresource (what `cmctl renew`
sends), run by ansible-playbook with inventories/playcode_lab against the Kubernetes API
stand-in, whose cert-manager controller re-issues a Certificate that has Issuing=True
(tests/standin/k8s_standin/certificates.py). They check what the role sends and how it reads
the answers; they are not cluster tests."""

from __future__ import annotations

import datetime

from tests.unit.playcode.test_k8s_playbooks_api_contract import only_reads_and_dry_runs, play

CERTS = '/apis/cert-manager.io/v1/namespaces/playcode/certificates'
CERT = f'{CERTS}/playcode-tls'
SECRET = '/api/v1/namespaces/playcode/secrets/playcode-tls'


def stamp(days: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def expiring(k8s, days: float = 10, issuer: str = 'letsencrypt-prod') -> dict:
    """playcode-tls issued 80 days ago, expiring in `days`; returns it as stored."""
    cert = k8s.get(CERT)
    cert['spec']['issuerRef']['name'] = issuer
    cert['status'].update(notBefore=stamp(days - 90), notAfter=stamp(days), renewalTime=stamp(days - 30))
    for key in ('uid', 'resourceVersion', 'creationTimestamp', 'generation'):
        cert['metadata'].pop(key, None)
    k8s.seed(cert)
    stored = k8s.get(CERT)
    k8s.requests(clear=True)
    return stored


def said(run) -> str:
    """The run's output with the callback's line wrapping undone."""
    return ' '.join(run.out.split())


def cert_writes(requests: list[dict]) -> list[tuple[str, str]]:
    writes = only_reads_and_dry_runs(requests)
    return [(r['method'], r['path']) for r in writes if 'cert' in r['path'] or 'tls' in r['path']]


def test_status_only_reports_the_certificate_and_writes_nothing(k8s):
    """API contract: Ready, notAfter, renewalTime, revision, Secret and issuer; only GETs, no lock taken."""
    run = play(k8s, 'cert_renew.yml', '-e', 'status_only=true')
    assert run.rc == 0 and run.changed == 0, run
    for text in ('Ready=True', 'notAfter 2027-02-18T00:00:00Z', 'renewalTime 2027-01-19T00:00:00Z', 'revision 3'):
        assert text in said(run), run
    assert 'Secret playcode-tls' in said(run) and 'issuer ClusterIssuer/letsencrypt-prod' in said(run), run
    assert {r['method'] for r in k8s.requests()} == {'GET'}


def test_check_mode_predicts_the_renewal_and_sends_no_write(k8s):
    """API contract: --check --diff on a certificate due for renewal says it would trigger; no PATCH or POST."""
    before = expiring(k8s)
    run = play(k8s, 'cert_renew.yml', '--check', '--diff')
    assert run.rc == 0 and run.changed == 1 and 'would trigger re-issuance in place (revision 3' in said(run), run
    assert [r for r in k8s.requests() if r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE')] == []
    assert k8s.get(CERT)['metadata']['resourceVersion'] == before['metadata']['resourceVersion']


def test_renewal_reissues_in_place_and_a_rerun_changes_nothing(k8s):
    """API contract: one PATCH of the status subresource, never a DELETE of the Certificate or its Secret;
    revision + 1, notAfter moves, the Secret's tls.crt is new, Issuing gone; the same run again: changed=0."""
    before = expiring(k8s)
    crt_before = k8s.get(SECRET)['data']['tls.crt']
    run = play(k8s, 'cert_renew.yml')
    assert run.rc == 0 and run.changed == 1, run
    requests = k8s.requests()
    assert cert_writes(requests) == [('PATCH', f'{CERT}/status')]
    patch = next(r for r in requests if r['method'] == 'PATCH' and r['path'].endswith('/status'))
    assert patch['content_type'].startswith('application/merge-patch+json')
    after = k8s.get(CERT)
    assert after['metadata']['uid'] == before['metadata']['uid']
    assert after['status']['revision'] == before['status']['revision'] + 1
    assert after['status']['notAfter'] > before['status']['notAfter']
    assert [c['type'] for c in after['status']['conditions']] == ['Ready']
    assert k8s.get(SECRET)['data']['tls.crt'] != crt_before
    assert f'revision 3 -> 4, notAfter {before["status"]["notAfter"]} -> {after["status"]["notAfter"]}' in said(run)
    again = play(k8s, 'cert_renew.yml')
    assert again.rc == 0 and again.changed == 0 and 'not due' in said(again), again
    assert k8s.get(CERT)['status']['revision'] == 4


def test_force_renews_a_certificate_that_is_not_due(k8s):
    """API contract: far from expiry nothing happens; -e force=true renews anyway (an explicit request)."""
    quiet = play(k8s, 'cert_renew.yml')
    assert quiet.rc == 0 and quiet.changed == 0 and 'not due' in said(quiet), quiet
    run = play(k8s, 'cert_renew.yml', '-e', 'force=true')
    assert run.rc == 0 and run.changed == 1 and k8s.get(CERT)['status']['revision'] == 4, run


def test_a_failing_issuer_fails_at_once_with_cert_managers_message(k8s):
    """API contract: Issuing=False, reason Failed ends the wait at once (not at the 300 s timeout)."""
    expiring(k8s, issuer='letsencrypt-failing')
    run = play(k8s, 'cert_renew.yml')
    assert run.rc != 0 and 'cert-manager could not re-issue' in said(run) and 'rateLimited' in said(run), run
    assert 'still served' in said(run), run
    assert k8s.get(CERT)['status']['revision'] == 3


def test_an_unknown_certificate_lists_those_that_exist(k8s):
    """Preflight: a wrong name stops before any write and names the Certificates of the namespace."""
    run = play(k8s, 'cert_renew.yml', '-e', 'certificate=playcode-tsl')
    assert run.rc != 0 and 'Certificate playcode-tsl not found in namespace playcode' in said(run), run
    assert 'the Certificates there: playcode-tls' in said(run), run
    assert cert_writes(k8s.requests()) == []


def test_without_cert_manager_the_run_says_so(k8s):
    """Preflight: a cluster that does not serve cert-manager.io/v1 is named as such, not as a missing name.
    kubernetes.core's discovery cache (in TMPDIR) is dropped: it still lists the group from the earlier tests,
    and with it k8s_info answers a 404 as an empty list."""
    k8s.set_groups({'cert-manager.io': False})
    for cache in k8s.tmpdir.glob('k8srcp-*.json'):
        cache.unlink()
    run = play(k8s, 'cert_renew.yml', '-e', 'status_only=true')
    assert run.rc != 0 and 'does not serve cert-manager.io/v1 Certificate' in said(run), run


def test_on_production_the_confirmation_comes_before_any_request(k8s):
    """Guard: production refuses the renewal without -e sre_confirm=playcode-tls before the first request;
    the status report is read-only and asks for nothing."""
    expiring(k8s)
    run = play(k8s, 'cert_renew.yml', '-e', 'sre_environment=production')
    assert run.rc != 0 and 'sre_confirm' in said(run), run
    assert k8s.requests() == []
    status = play(k8s, 'cert_renew.yml', '-e', 'sre_environment=production', '-e', 'status_only=true')
    assert status.rc == 0 and status.changed == 0, status
    run = play(k8s, 'cert_renew.yml', '-e', 'sre_environment=production', '-e', 'sre_confirm=playcode-tls')
    assert run.rc == 0 and run.changed >= 1 and k8s.get(CERT)['status']['revision'] == 4, run
