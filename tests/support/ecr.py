# SPDX-License-Identifier: GPL-3.0-or-later
"""An ECR stand-in for API-contract tests: moto's server on a free loopback port, as account
925216255375 in ap-northeast-2 (PlayCode's registry), with helpers that push image manifests.
Not AWS: tests against it check the ECR calls and how their answers are read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import boto3

from tests.support.s3 import CREDENTIALS, free_port

ACCOUNT = '925216255375'
REGION = 'ap-northeast-2'
REPOSITORY = 'playcode-app'
REGISTRY = f'{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com'
MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
INDEX = 'application/vnd.oci.image.index.v1+json'


class Ecr:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.env = {**CREDENTIALS, 'AWS_ENDPOINT_URL_ECR': endpoint, 'AWS_DEFAULT_REGION': REGION}
        self.client = boto3.client(
            'ecr',
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS['AWS_ACCESS_KEY_ID'],
            aws_secret_access_key=CREDENTIALS['AWS_SECRET_ACCESS_KEY'],
        )

    def reset(self) -> None:
        """An empty playcode-app repository."""
        with contextlib.suppress(self.client.exceptions.RepositoryNotFoundException):
            self.client.delete_repository(repositoryName=REPOSITORY, force=True)
        self.client.create_repository(repositoryName=REPOSITORY)

    def push(self, name: str, tag: str | None = None) -> str:
        """An image manifest (one layer named after `name`), tagged or not; its digest."""
        layer = 'sha256:' + hashlib.sha256(name.encode()).hexdigest()
        manifest = json.dumps(
            {
                'schemaVersion': 2,
                'mediaType': MANIFEST,
                'config': {'mediaType': 'application/vnd.docker.container.image.v1+json', 'size': 1, 'digest': layer},
                'layers': [
                    {'mediaType': 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'size': 1, 'digest': layer}
                ],
            }
        )
        return self._put(manifest, tag)

    def push_index(self, children: list[str], tag: str) -> str:
        """A tagged multi-architecture image (OCI index) over the platform images `children`."""
        manifest = json.dumps(
            {
                'schemaVersion': 2,
                'mediaType': INDEX,
                'manifests': [{'mediaType': MANIFEST, 'size': 1, 'digest': child} for child in children],
            }
        )
        return self._put(manifest, tag)

    def _put(self, manifest: str, tag: str | None) -> str:
        digest = 'sha256:' + hashlib.sha256(manifest.encode()).hexdigest()
        extra = {'imageTag': tag} if tag else {}
        self.client.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageDigest=digest, **extra)
        return digest

    def digests(self, untagged: bool = False) -> set[str]:
        """The repository's image digests (untagged ones only: moto 5.2 ignores tagStatus=UNTAGGED)."""
        pages = self.client.get_paginator('describe_images').paginate(repositoryName=REPOSITORY)
        images = [image for page in pages for image in page['imageDetails']]
        return {image['imageDigest'] for image in images if not (untagged and image.get('imageTags'))}


@contextlib.contextmanager
def moto_ecr() -> Iterator[Ecr]:
    """A running moto server for account 925216255375 with an empty playcode-app repository."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, 'MOTO_ACCOUNT_ID': ACCOUNT},
    )
    endpoint = f'http://127.0.0.1:{port}'
    try:
        for _attempt in range(100):
            try:
                urllib.request.urlopen(f'{endpoint}/moto-api/', timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        ecr = Ecr(endpoint)
        ecr.reset()
        yield ecr
    finally:
        server.terminate()
        server.wait(timeout=10)
