# SPDX-License-Identifier: GPL-3.0-or-later
"""An S3 stand-in for API-contract tests: moto's server on a free loopback port, with
one empty bucket. Not AWS: tests against it check the S3 calls, not the service."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import boto3

BUCKET = 'sre-store'
# moto accepts any keys; the roles read them from the environment, as from AWX.
CREDENTIALS = {'AWS_ACCESS_KEY_ID': 'contract-test', 'AWS_SECRET_ACCESS_KEY': 'contract-test'}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[str, object]]:
    """(endpoint URL, boto3 client) of a running moto server with BUCKET; stopped after."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f'http://127.0.0.1:{port}'
    try:
        for _attempt in range(100):
            try:
                urllib.request.urlopen(f'{endpoint}/moto-api/', timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        client = boto3.client(
            's3',
            endpoint_url=endpoint,
            region_name='us-east-1',
            aws_access_key_id=CREDENTIALS['AWS_ACCESS_KEY_ID'],
            aws_secret_access_key=CREDENTIALS['AWS_SECRET_ACCESS_KEY'],
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client
    finally:
        server.terminate()
        server.wait(timeout=10)


def s3_location(endpoint: str, prefix: str) -> dict:
    return {'kind': 's3', 'bucket': BUCKET, 'prefix': prefix, 'endpoint_url': endpoint, 'region': 'us-east-1'}
