# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the Kubernetes modules reach the cluster (see module_utils/_k8s_connection.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - the kubernetes Python library and the kubernetes.core collection on the controller
options:
  kubeconfig:
    description:
      - Path of the kubeconfig; default as kubernetes.core finds it (C(K8S_AUTH_KUBECONFIG),
        C(~/.kube/config)), else the C(K8S_AUTH_*) variables or the in-cluster configuration.
    type: path
  context:
    description: The kubeconfig's context; default its current context.
    type: str
"""
