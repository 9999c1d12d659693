# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection of this collection's Kubernetes modules: kubernetes.core's own API client, so
a module reaches the cluster exactly as the play's kubernetes.core modules do (kubeconfig and
context, else K8S_AUTH_* as AWX's Kubernetes credentials export them, else in-cluster)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

    HAS_KUBERNETES_CORE = True
except ImportError:  # reported by connect()
    HAS_KUBERNETES_CORE = False

    class CoreException(Exception):
        """Stands for kubernetes.core's CoreException when the collection is missing."""


# CoreException is re-exported: the modules catch what get_api_client raises.
__all__ = ['CONNECTION_OPTIONS', 'HAS_KUBERNETES_CORE', 'CoreException', 'connect']

# The options of every module that connects: merge them into its argument_spec.
CONNECTION_OPTIONS: dict[str, dict[str, Any]] = {
    'kubeconfig': {'type': 'path'},
    'context': {'type': 'str'},
}


def connect(module: AnsibleModule, have_kubernetes: bool = True) -> Any:
    """kubernetes.core's client for the module's kubeconfig and context; fails the module,
    naming what to install, when the kubernetes library (``have_kubernetes``: the module's own
    imports of it succeeded) or kubernetes.core is missing."""
    if not (have_kubernetes and HAS_KUBERNETES_CORE):
        module.fail_json(msg=missing_required_lib('kubernetes (Python) and the kubernetes.core collection'))
    return get_api_client(kubeconfig=module.params['kubeconfig'], context=module.params['context'])
