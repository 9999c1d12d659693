# SPDX-License-Identifier: GPL-3.0-or-later
"""The stand-in's cert-manager (cert-manager.io/v1 Certificates), simplified from cert-manager's
certificates controllers: a Certificate with an Issuing=True condition (what `cmctl renew` sets on
the status subresource), or with no certificate yet, is issued again into the same Secret:
status.revision + 1, new notBefore/notAfter (duration, default 90 days) and renewalTime (renewBefore
or a third of the duration before notAfter), Ready=True, the Secret's tls.crt replaced and the
Issuing condition removed. No ACME, no CertificateRequest objects, no private key rotation.

An issuer whose name contains "failing" refuses, as a rate-limited ACME order does: Issuing turns
False (reason Failed) with lastFailureTime and failedIssuanceAttempts; the old certificate stays."""

from __future__ import annotations

import base64
import copy
import datetime
import re

from .objects import save, set_condition
from .resources import by_rid
from .store import now

CERTS, SECRETS = by_rid('certificates.cert-manager.io'), by_rid('secrets')
DEFAULT_DURATION = datetime.timedelta(days=90)
UNITS = {'h': 3600, 'm': 60, 's': 1}
FAILED = (
    'The certificate request has failed to complete and will be retried: Failed to wait for order resource '
    '"{name}-1" to become ready: order is in "errored" state: 429 urn:ietf:params:acme:error:rateLimited'
)


def _go_duration(text: str | None, default: datetime.timedelta) -> datetime.timedelta:
    """A Go duration as cert-manager's spec.duration/renewBefore carry it (2160h, 720h0m0s)."""
    parts = re.findall(r'(\d+)([hms])', text or '')
    if not parts:
        return default
    return datetime.timedelta(seconds=sum(int(n) * UNITS[u] for n, u in parts))


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


def _condition(cert: dict, kind: str) -> dict:
    return next((c for c in cert.get('status', {}).get('conditions', []) if c.get('type') == kind), {})


def _needs_issuing(cert: dict) -> bool:
    return _condition(cert, 'Issuing').get('status') == 'True' or 'revision' not in cert.get('status', {})


def _pem(cert: dict, revision: int, not_after: str) -> str:
    body = f'standin certificate {cert["metadata"]["name"]} revision {revision} notAfter {not_after}'
    armored = base64.b64encode(body.encode()).decode()
    pem = f'-----BEGIN CERTIFICATE-----\n{armored}\n-----END CERTIFICATE-----\n'
    return base64.b64encode(pem.encode()).decode()


def _write_secret(state, cert: dict, revision: int, not_after: str):
    meta, spec = cert['metadata'], cert['spec']
    old = state.store.find(SECRETS, meta['namespace'], spec['secretName'])
    secret = copy.deepcopy(old) if old else {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'kubernetes.io/tls'}
    secret_meta = secret.setdefault('metadata', {'name': spec['secretName'], 'namespace': meta['namespace']})
    secret_meta.setdefault('annotations', {}).update(
        {
            'cert-manager.io/certificate-name': meta['name'],
            'cert-manager.io/issuer-name': spec.get('issuerRef', {}).get('name', ''),
            'cert-manager.io/issuer-kind': spec.get('issuerRef', {}).get('kind', 'Issuer'),
        }
    )
    key = (secret.get('data') or {}).get('tls.key') or base64.b64encode(b'standin private key').decode()
    secret['data'] = {**(secret.get('data') or {}), 'tls.crt': _pem(cert, revision, not_after), 'tls.key': key}
    if old:
        save(state, SECRETS, secret)
    else:
        state.store.create(SECRETS, secret, meta['namespace'])


def _fail(state, cert: dict):
    new = copy.deepcopy(cert)
    status = new.setdefault('status', {})
    message = FAILED.format(name=cert['metadata']['name'])
    status['conditions'] = set_condition(
        status.get('conditions', []), 'Issuing', 'False', 'Failed', message, stamp_key='lastTransitionTime'
    )
    status.update(lastFailureTime=now(), failedIssuanceAttempts=status.get('failedIssuanceAttempts', 0) + 1)
    save(state, CERTS, new)


def _issue(state, cert: dict):
    spec = cert['spec']
    issued = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    duration = _go_duration(spec.get('duration'), DEFAULT_DURATION)
    renew_before = _go_duration(spec.get('renewBefore'), duration / 3)
    not_after = issued + duration
    new = copy.deepcopy(cert)
    status = new.setdefault('status', {})
    revision = status.get('revision', 0) + 1
    _write_secret(state, cert, revision, _stamp(not_after))
    conditions = [c for c in status.get('conditions', []) if c.get('type') != 'Issuing']
    conditions = set_condition(
        conditions,
        'Ready',
        'True',
        'Ready',
        'Certificate is up to date and has not expired',
        stamp_key='lastTransitionTime',
    )
    for condition in conditions:
        condition['observedGeneration'] = new['metadata'].get('generation', 1)
    for key in ('lastFailureTime', 'failedIssuanceAttempts', 'nextPrivateKeySecretName'):
        status.pop(key, None)
    status.update(
        conditions=conditions,
        revision=revision,
        notBefore=_stamp(issued),
        notAfter=_stamp(not_after),
        renewalTime=_stamp(not_after - renew_before),
    )
    save(state, CERTS, new)


def sync_certificates(state):
    if CERTS.group in state.unserved:
        return
    for cert in state.store.list(CERTS):
        if not _needs_issuing(cert) or not cert.get('spec', {}).get('secretName'):
            continue
        issuing = _condition(cert, 'Issuing')
        if 'failing' in cert['spec'].get('issuerRef', {}).get('name', ''):
            if issuing.get('reason') != 'Failed':
                _fail(state, cert)
            continue
        _issue(state, cert)
