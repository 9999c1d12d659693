#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_run_lock
short_description: The run lock of a Kubernetes target, kept in the cluster
version_added: 0.1.0
description:
  - The store of M(sre.runbooks.run_lock) for targets that are a cluster (PlayCode, runbook P1-P13), where the play
    runs on the controller - a throwaway container under AWX - so a lock file there would lock nothing.
  - The lock is a ConfigMap C(sre-runbooks-lock-<name>) in O(namespace), holding the holder as JSON. It is created
    in one request, which the API server refuses when it exists (HTTP 409), so of two runs that race only one gets
    it and the other reads who. A stale holder is replaced with the resourceVersion it was read at, so a third run
    that took it meanwhile is never overwritten.
  - Call it through M(sre.runbooks.run_lock) with O(sre.runbooks.run_lock#module:store=kubernetes), whose action
    plugin says who this run is and decides whether a lock is stale. Check mode reads only.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  name:
    description: The target the lock is for (the inventory host).
    type: str
    required: true
  state:
    description: C(present) takes the lock, C(absent) gives it back (only when this run holds it).
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: This run, as the action plugin describes it (C(run_id) and who).
    type: dict
    required: true
  takeover:
    description: The run id of a stale holder to replace.
    type: str
  namespace:
    description: Namespace of the lock's ConfigMap.
    type: str
    required: true
extends_documentation_fragment:
  - sre.runbooks.k8s_connection
attributes:
  check_mode:
    support: full
    description: Reads the lock and reports whether the real run would get it.
  diff_mode:
    support: none
    description: The lock is bookkeeping; there is nothing to show.
  idempotent:
    support: full
    description: The same run taking the lock again, or giving back a lock it does not hold, changes nothing.
seealso:
  - module: sre.runbooks.run_lock
"""

EXAMPLES = r"""
- name: Take the run lock of the cluster
  sre.runbooks.run_lock:
    store: kubernetes
    kubernetes: {namespace: playcode, context: standin}
"""

RETURN = r"""
path:
  description: Where the lock is, C(configmap <namespace>/<name>).
  returned: always
  type: str
holder:
  description: Who holds the lock after the call (or held it, for a release).
  returned: when there is a holder
  type: dict
replaced:
  description: The stale holder that was taken over.
  returned: when a stale lock was taken over
  type: dict
"""

import json
import re
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._k8s_connection import (
    CONNECTION_OPTIONS,
    CoreException,
    connect,
)
from ansible_collections.sre.runbooks.plugins.module_utils._run_lock import check_mode_answer

try:
    from kubernetes import client
    from kubernetes.client.rest import ApiException
except ImportError:  # reported by connect()
    client = None


def _config_map_name(name: str) -> str:
    safe = re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-') or 'target'
    return f'sre-runbooks-lock-{safe}'[:253]


class ClusterLock:
    """The lock's ConfigMap, read and written through the CoreV1 API."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        self.api, self.namespace, self.name = api, namespace, _config_map_name(name)
        self.where = f'configmap {namespace}/{self.name}'

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        """(holder, resourceVersion); (None, None) when there is no lock."""
        try:
            found = self.api.read_namespaced_config_map(self.name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None, None
            raise
        try:
            holder = json.loads((found.data or {}).get('holder') or 'null')
        except ValueError:
            holder = None
        if not isinstance(holder, dict):
            holder = {'run_id': 'unreadable'}
        return holder, found.metadata.resource_version

    def _body(self, holder: dict[str, Any], version: str | None = None) -> Any:
        meta = client.V1ObjectMeta(
            name=self.name, labels={'app.kubernetes.io/managed-by': 'sre.runbooks'}, resource_version=version
        )
        return client.V1ConfigMap(metadata=meta, data={'holder': json.dumps(holder, sort_keys=True)})

    def create(self, holder: dict[str, Any]) -> bool:
        """False when the lock exists already (409)."""
        try:
            self.api.create_namespaced_config_map(self.namespace, self._body(holder))
        except ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    def replace(self, holder: dict[str, Any], version: str) -> bool:
        """Replace the holder read at `version`; False when someone changed it since (409)."""
        try:
            self.api.replace_namespaced_config_map(self.name, self.namespace, self._body(holder, version))
        except ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    def delete(self, version: str | None) -> bool:
        """Delete the lock as read at `version`; False when someone replaced it since (409)."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=version))
        try:
            self.api.delete_namespaced_config_map(self.name, self.namespace, body=options)
        except ApiException as err:
            if err.status in (404, 409):
                return False
            raise
        return True


def _acquire(lock: ClusterLock, holder: dict[str, Any], takeover: str | None) -> dict[str, Any]:
    """The module's result of taking the lock; ``locked`` when another run holds it."""
    holder = {**holder, 'started_at': holder.get('started_at') or time.time()}
    for _attempt in range(3):
        if lock.create(holder):
            return {'changed': True, 'holder': holder}
        current, version = lock.read()
        if current is None:
            continue  # given back between our two requests: try again
        if current.get('run_id') == holder['run_id']:
            return {'changed': False, 'holder': current}
        if takeover and current.get('run_id') == takeover and lock.replace(holder, version):
            return {'changed': True, 'holder': holder, 'replaced': current}
        return {'failed': True, 'msg': 'locked', 'locked': True, 'holder': current}
    return {'failed': True, 'msg': 'locked', 'locked': True, 'holder': lock.read()[0] or {'run_id': 'unknown'}}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            holder=dict(type='dict', required=True),
            takeover=dict(type='str'),
            namespace=dict(type='str', required=True),
            **CONNECTION_OPTIONS,
        ),
        supports_check_mode=True,
    )
    params = module.params
    run_id = params['holder'].get('run_id')
    if not run_id:
        module.fail_json(msg='k8s_run_lock: holder is set by the run_lock action plugin; call sre.runbooks.run_lock')
    try:
        connection = connect(module, have_kubernetes=client is not None)
        lock = ClusterLock(client.CoreV1Api(connection.client.client), params['namespace'], params['name'])
        current, version = lock.read()
        if module.check_mode:
            module.exit_json(path=lock.where, **check_mode_answer(params['state'], current, run_id))
        if params['state'] == 'absent':
            mine = bool(current) and current.get('run_id') == run_id and lock.delete(version)
            module.exit_json(changed=mine, path=lock.where, holder=current)
        result = _acquire(lock, params['holder'], params['takeover'])
    except (ApiException, CoreException) as err:
        module.fail_json(msg=f'the run lock in the cluster could not be read or written: {err}')
    if result.get('failed'):
        module.fail_json(path=lock.where, **result)
    module.exit_json(path=lock.where, **result)


if __name__ == '__main__':
    main()
