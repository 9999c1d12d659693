#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cert_manager_renew
short_description: Trigger the re-issuance of a cert-manager Certificate in place, as cmctl renew does
version_added: 0.1.0
description:
  - Sets the condition C(Issuing=True) (reason C(ManuallyTriggered)) on the C(status) subresource of a
    C(cert-manager.io/v1) Certificate, which is what C(cmctl renew) does. cert-manager then issues a new
    certificate into the same Secret, increments C(status.revision) and removes the condition. The Certificate
    and its Secret are never deleted, so the site keeps serving the old certificate until the new one is there.
  - The status is sent as a JSON merge patch of C(.../certificates/NAME/status) with the whole condition list
    and the resourceVersion it was read at, so a condition cert-manager wrote meanwhile is never lost (a conflict
    is read again and retried).
  - kubernetes.core 6.6 cannot do this - M(kubernetes.core.k8s) and M(kubernetes.core.k8s_json_patch) patch the
    main resource only, where the API server ignores C(status) (kubernetes.core issue 1029) - so this module uses
    kubernetes.core's API client, with the same connection options and C(K8S_AUTH_*) variables.
  - This module only triggers. Whether a renewal is due, and waiting for the new revision, is the role
    C(sre.runbooks.cert_renew)'s work.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  name:
    description: The Certificate.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    required: true
extends_documentation_fragment:
  - sre.runbooks.k8s_connection
attributes:
  check_mode:
    support: full
    description: Reads the Certificate and reports whether a re-issuance would be triggered; sends no write.
  diff_mode:
    support: none
    description: The change is one status condition; RV(revision) and RV(already_issuing) say what happens.
  idempotent:
    support: full
    description: A Certificate that is already being issued (C(Issuing=True)) is left as it is.
seealso:
  - name: cmctl renew
    description: The cert-manager command line's renewal, which sets the same condition.
    link: https://cert-manager.io/docs/reference/cmctl/#renew
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Trigger the re-issuance of playcode-tls
  sre.runbooks.cert_manager_renew:
    name: playcode-tls
    namespace: playcode
    context: standin
"""

RETURN = r"""
revision:
  description: C(status.revision) of the Certificate when it was triggered; the new certificate has a higher one.
  returned: success
  type: int
  sample: 3
already_issuing:
  description: An issuance was already in progress (C(Issuing=True)); nothing was sent.
  returned: success
  type: bool
"""

import datetime
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._k8s_connection import (
    CONNECTION_OPTIONS,
    CoreException,
    connect,
)

try:
    from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError, NotFoundError, ResourceNotFoundError
except ImportError:  # reported by connect()
    DynamicApiError = None

API_VERSION = 'cert-manager.io/v1'
ATTEMPTS = 3
ISSUING = {'type': 'Issuing', 'status': 'True', 'reason': 'ManuallyTriggered'}
MESSAGE = 'Certificate re-issuance manually triggered'


def issuing(cert: dict[str, Any]) -> bool:
    conditions = (cert.get('status') or {}).get('conditions') or []
    return any(c.get('type') == 'Issuing' and c.get('status') == 'True' for c in conditions)


def trigger_patch(cert: dict[str, Any], when: datetime.datetime) -> dict[str, Any]:
    """The status merge patch cmctl's UpdateStatus amounts to: the conditions with Issuing set."""
    meta = cert['metadata']
    conditions = [c for c in (cert.get('status') or {}).get('conditions') or [] if c.get('type') != 'Issuing']
    condition = {
        **ISSUING,
        'message': MESSAGE,
        'lastTransitionTime': when.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'observedGeneration': meta.get('generation', 1),
    }
    return {
        'metadata': {'resourceVersion': meta['resourceVersion']},
        'status': {'conditions': [*conditions, condition]},
    }


class Certificates:
    """cert-manager.io/v1 Certificates of one namespace, through kubernetes.core's client."""

    def __init__(self, connection: Any, namespace: str) -> None:
        self.namespace = namespace
        try:
            self.resource = connection.resource('Certificate', API_VERSION)
        except ResourceNotFoundError:
            raise LookupError(
                f'the cluster does not serve {API_VERSION} Certificate: cert-manager (its CRDs) is not installed '
                'there, or this is the wrong cluster (check -i and k8s_context)'
            ) from None

    def read(self, name: str) -> dict[str, Any]:
        try:
            return self.resource.get(name=name, namespace=self.namespace).to_dict()
        except NotFoundError:
            names = [item.metadata.name for item in self.resource.get(namespace=self.namespace).items]
            raise LookupError(
                f'Certificate {name} not found in namespace {self.namespace}; the Certificates there: '
                f'{", ".join(sorted(names)) or "none"}'
            ) from None

    def trigger(self, cert: dict[str, Any]) -> None:
        body = trigger_patch(cert, datetime.datetime.now(datetime.timezone.utc))
        self.resource.status.patch(
            body=body,
            name=cert['metadata']['name'],
            namespace=self.namespace,
            content_type='application/merge-patch+json',
        )


def renew(certs: Certificates, name: str, check_mode: bool) -> dict[str, Any]:
    """Trigger once; on a conflict (cert-manager wrote the status meanwhile) read again and retry."""
    attempt = 1
    while True:
        cert = certs.read(name)
        result = {'revision': (cert.get('status') or {}).get('revision', 0), 'already_issuing': issuing(cert)}
        if result['already_issuing'] or check_mode:
            return {'changed': not result['already_issuing'], **result}
        try:
            certs.trigger(cert)
        except ConflictError:
            if attempt >= ATTEMPTS:
                raise
            attempt += 1
            continue
        return {'changed': True, **result}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            namespace=dict(type='str', required=True),
            **CONNECTION_OPTIONS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        connection = connect(module, have_kubernetes=DynamicApiError is not None)
        result = renew(Certificates(connection, params['namespace']), params['name'], module.check_mode)
    except LookupError as err:
        module.fail_json(msg=f'{err}. Nothing was changed.')
    except (DynamicApiError, CoreException) as err:
        module.fail_json(msg=f'the re-issuance of Certificate {params["namespace"]}/{params["name"]} failed: {err}')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
