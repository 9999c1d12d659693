# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container images a cluster uses, for the untagged ECR image cleanup (runbook P13,
section 6.4): what Deployments and their ReplicaSets (the rollback history) would run, and
what Pods run (their ``imageID``, the digest a moved tag no longer names)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def _pod_spec(resource: dict) -> dict:
    if resource.get('kind') == 'Pod' or 'template' not in resource.get('spec', {}):
        return resource.get('spec') or {}
    return resource['spec']['template'].get('spec') or {}


def ecr_cleanup_images_in_use(resources: Any) -> list[str]:
    """Sorted, unique image references of the resources' containers and init containers, and of
    Pods' container statuses (image and imageID)."""
    if not isinstance(resources, list):
        raise AnsibleFilterError(f'expected a list of Kubernetes objects, got {type(resources).__name__}')
    images = set()
    for resource in resources:
        if not isinstance(resource, dict):
            raise AnsibleFilterError(f'expected a Kubernetes object, got {resource!r}')
        spec = _pod_spec(resource)
        for container in spec.get('containers', []) + spec.get('initContainers', []):
            images.add(container.get('image', ''))
        status = resource.get('status') or {}
        for container in status.get('containerStatuses', []) + status.get('initContainerStatuses', []):
            images.update((container.get('image', ''), container.get('imageID', '')))
    return sorted(image for image in images if image)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {'ecr_cleanup_images_in_use': ecr_cleanup_images_in_use}
