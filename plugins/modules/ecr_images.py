#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_images
short_description: Clean up the untagged images of an ECR repository, keeping the newest and those in use
version_added: 0.1.0
description:
  - Lists every image of an Amazon ECR repository (C(DescribeImages), all pages) and picks the untagged
    ones to delete, as the PlayCode runbook's C(aws ecr describe-images --filter tagStatus=UNTAGGED) and
    C(batch-delete-image) do (runbook P13, section 6.4).
  - Never picks - the O(keep) most recently pushed untagged images; any image named by O(in_use), by digest
    or by tag (a tag is resolved to its image's digest); the platform images of a tagged multi-architecture
    image (manifest list or OCI index, read with C(BatchGetImage)), which are untagged in ECR but belong to
    their tagged index.
  - Deletes only with O(delete=true) and not in check mode, with C(BatchDeleteImage) (100 images a call);
    a failure ECR reports for an image fails the module, listing it.
  - C(amazon.aws) has no module that lists or deletes ECR images, and C(community.aws.ecs_ecr) manages
    repositories and their policies only; this module calls boto3 directly.
requirements:
  - boto3 on the controller
  - Credentials from the environment (C(AWS_ACCESS_KEY_ID)/C(AWS_SECRET_ACCESS_KEY), C(AWS_PROFILE), or an
    instance/IRSA role), as boto3 finds them; no credential is a parameter
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  repository:
    description: Name of the ECR repository.
    type: str
    required: true
  registry_id:
    description: AWS account id of the registry; empty is the credentials' account.
    type: str
    default: ""
  region:
    description: AWS region of the registry; empty is boto3's (C(AWS_REGION), C(AWS_DEFAULT_REGION), profile).
    type: str
    default: ""
  endpoint_url:
    description: ECR API endpoint; empty is AWS's. For a stand-in only.
    type: str
    default: ""
  keep:
    description: How many of the most recently pushed untagged images are kept.
    type: int
    default: 5
  in_use:
    description:
      - Image references in use (container images of Deployments, ReplicaSets, Pods' C(imageID)),
        C(registry/repository:tag) or C(registry/repository@sha256:...). References to other repositories
        are ignored.
    type: list
    elements: str
    default: []
  delete:
    description: Delete the images picked; false only reports them (a dry run).
    type: bool
    default: false
extends_documentation_fragment:
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    description: Lists and picks the same; deletes nothing and reports the change it would make.
  diff_mode:
    support: none
    description: The images picked are in RV(delete).
  idempotent:
    support: full
    description: A second run finds nothing more to delete, beyond images pushed meanwhile.
seealso:
  - name: Amazon ECR BatchDeleteImage
    description: The API call that deletes images.
    link: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html
  - name: ECR lifecycle policies
    description: What expires untagged images on a schedule, without this module.
    link: https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html
"""

EXAMPLES = r"""
- name: Show which untagged images of playcode-app would be deleted
  sre.runbooks.ecr_images:
    repository: playcode-app
    region: ap-northeast-2
    keep: 5
    in_use: ["925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app:1.4.2"]
  register: images

- name: Delete them
  sre.runbooks.ecr_images:
    repository: playcode-app
    region: ap-northeast-2
    in_use: "{{ images_in_use }}"
    delete: true
"""

RETURN = r"""
images:
  description: How many images the repository holds (before any delete).
  type: int
  returned: always
untagged:
  description: How many of them are untagged.
  type: int
  returned: always
kept:
  description: The untagged images kept, each with its digest, push time (ISO 8601) and why it is kept.
  type: list
  elements: dict
  returned: always
  sample: [{digest: "sha256:4f1c...", pushed_at: "2026-12-05T10:01:00+00:00", reason: "in use"}]
delete:
  description: The untagged images picked for deletion (deleted when RV(deleted) is true), oldest first.
  type: list
  elements: dict
  returned: always
deleted:
  description: Whether the images in RV(delete) were deleted (false in a dry run and in check mode).
  type: bool
  returned: always
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - reported by the module
    boto3 = None
    BotoCoreError = ClientError = Exception

INDEX_TYPES = (
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.index.v1+json',
)
BATCH = 100


def _reference(ref: str, repository: str) -> tuple[str, str] | None:
    """('digest', sha) or ('tag', tag) for a reference to the repository; None for another one."""
    ref = re.sub(r'^[a-z-]+://', '', ref.strip())
    name, _at, digest = ref.partition('@')
    tag = ''
    if ':' in name.rsplit('/', 1)[-1]:
        name, tag = name.rsplit(':', 1)
    if name.rsplit('/', 1)[-1] != repository and name != repository:
        return None
    if digest:
        return ('digest', digest)
    return ('tag', tag or 'latest')


def _in_use(refs: list[str], repository: str, images: list[dict]) -> set[str]:
    by_tag = {tag: image['imageDigest'] for image in images for tag in image.get('imageTags', [])}
    digests = set()
    for ref in refs:
        found = _reference(ref, repository)
        if found and found[0] == 'digest':
            digests.add(found[1])
        elif found and found[1] in by_tag:
            digests.add(by_tag[found[1]])
    return digests


class Registry:
    def __init__(self, module: AnsibleModule):
        params = module.params
        options = {key: params[key] for key in ('endpoint_url',) if params[key]}
        if params['region']:
            options['region_name'] = params['region']
        self.client = boto3.client('ecr', **options)
        self.ids = {'repositoryName': params['repository']}
        if params['registry_id']:
            self.ids['registryId'] = params['registry_id']

    def images(self) -> list[dict]:
        pages = self.client.get_paginator('describe_images').paginate(**self.ids)
        return [image for page in pages for image in page['imageDetails']]

    def index_children(self, images: list[dict]) -> set[str]:
        """Digests of the platform images of tagged multi-architecture images."""
        indexes = [
            {'imageDigest': image['imageDigest']}
            for image in images
            if image.get('imageTags') and image.get('imageManifestMediaType') in INDEX_TYPES
        ]
        children = set()
        for start in range(0, len(indexes), BATCH):
            answer = self.client.batch_get_image(
                imageIds=indexes[start : start + BATCH], acceptedMediaTypes=list(INDEX_TYPES), **self.ids
            )
            for image in answer.get('images', []):
                manifest = module_json(image.get('imageManifest', '{}'))
                children.update(each.get('digest', '') for each in manifest.get('manifests', []))
        return children

    def delete(self, digests: list[str]) -> list[dict]:
        failures = []
        for start in range(0, len(digests), BATCH):
            answer = self.client.batch_delete_image(
                imageIds=[{'imageDigest': digest} for digest in digests[start : start + BATCH]], **self.ids
            )
            failures += answer.get('failures', [])
        return failures


def module_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _row(image: dict, reason: str = '') -> dict:
    pushed = image.get('imagePushedAt')
    row = {'digest': image['imageDigest'], 'pushed_at': pushed.isoformat() if hasattr(pushed, 'isoformat') else pushed}
    if reason:
        row['reason'] = reason
    return row


def plan(images: list[dict], keep: int, in_use: set[str], children: set[str]) -> tuple[list[dict], list[dict]]:
    """(kept, delete): the untagged images kept with their reason, and those picked, oldest first."""
    untagged = sorted(
        (image for image in images if not image.get('imageTags')),
        key=lambda image: (str(image.get('imagePushedAt', '')), image['imageDigest']),
    )
    newest = {image['imageDigest'] for image in untagged[len(untagged) - keep :]} if keep > 0 else set()
    kept, delete = [], []
    for image in untagged:
        digest = image['imageDigest']
        if digest in in_use:
            kept.append(_row(image, 'in use'))
        elif digest in children:
            kept.append(_row(image, 'platform image of a tagged multi-architecture image'))
        elif digest in newest:
            kept.append(_row(image, f'one of the {keep} newest untagged'))
        else:
            delete.append(_row(image))
    return kept, delete


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            'repository': {'type': 'str', 'required': True},
            'registry_id': {'type': 'str', 'default': ''},
            'region': {'type': 'str', 'default': ''},
            'endpoint_url': {'type': 'str', 'default': ''},
            'keep': {'type': 'int', 'default': 5},
            'in_use': {'type': 'list', 'elements': 'str', 'default': []},
            'delete': {'type': 'bool', 'default': False},
        },
        supports_check_mode=True,
    )
    if boto3 is None:
        module.fail_json(msg=missing_required_lib('boto3'))
    if module.params['keep'] < 0:
        module.fail_json(msg=f'keep must be 0 or more, got {module.params["keep"]}. Nothing was deleted.')
    repository = module.params['repository']
    try:
        registry = Registry(module)
        images = registry.images()
        in_use = _in_use(module.params['in_use'], repository, images)
        kept, delete = plan(images, module.params['keep'], in_use, registry.index_children(images))
        result = {
            'images': len(images),
            'untagged': len(kept) + len(delete),
            'kept': kept,
            'delete': delete,
            'deleted': False,
            'changed': bool(delete) and module.params['delete'],
        }
        if delete and module.params['delete'] and not module.check_mode:
            failures = registry.delete([row['digest'] for row in delete])
            if failures:
                module.fail_json(
                    msg=f'ECR did not delete {len(failures)} image(s) of {repository}', failures=failures, **result
                )
            result['deleted'] = True
    except (BotoCoreError, ClientError) as error:
        module.fail_json(msg=f'ECR repository {repository}: {error}. Nothing more was deleted.')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
