# SPDX-License-Identifier: GPL-3.0-or-later
"""A Kubernetes API stand-in for API-contract tests (tests/standin/k8s_standin), run as its own process
on a free loopback port, with a kubeconfig for kubectl, the kubernetes client and kubernetes.core.
Not a cluster: tests against it check the requests clients send and what they make of the answers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SEED = REPO / 'tests' / 'standin' / 'fixtures' / 'playcode.yaml'
# kubectl 1.31 is pinned: 1.32+ posts protobuf bodies, and the /usr/bin/kubectl dispatcher picks (and
# remembers) a version from the server it last saw (docs/design/playcode_k8s_standin.md, section 1).
KUBECTL_131 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.31'
START_TIMEOUT = 20


def kubectl_binary() -> str:
    """$KUBECTL or kubectl 1.31; a clear error (tests fail, not skip) when it is missing."""
    path = os.environ.get('KUBECTL', KUBECTL_131)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f'kubectl not found at {path}: API-contract tests need kubectl 1.31 (the google-cloud-sdk kubectl '
            'package installs /usr/lib/google-cloud-sdk/bin/kubectl.1.31), or set KUBECTL to a 1.30/1.31 binary'
        )
    return path


class K8sStandin:
    """A running stand-in: its URL, kubeconfig, environment for clients, and its control endpoints."""

    def __init__(self, url: str, workdir: Path, pid: int):
        self.url = url
        self.pid = pid
        self.workdir = workdir
        self.kubeconfig = workdir / 'kubeconfig'
        self.tmpdir = workdir / 'tmp'
        self.cache_dir = workdir / 'kcache'
        self.env = {
            'KUBECONFIG': str(self.kubeconfig),
            'K8S_AUTH_KUBECONFIG': str(self.kubeconfig),
            'TMPDIR': str(self.tmpdir),
        }

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None):
        """Run kubectl against the stand-in; CompletedProcess with text stdout/stderr."""
        argv = [kubectl_binary(), '--kubeconfig', str(self.kubeconfig), '--cache-dir', str(self.cache_dir), *args]
        env = {**os.environ, **self.env, 'HOME': str(self.workdir)}
        result = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=timeout, env=env, input=input
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f'kubectl {" ".join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}'
            )
        return result

    def _call(self, method: str, path: str, body=None, content_type: str = 'application/json'):
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={'Content-Type': content_type}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b'null')

    def get(self, path: str) -> dict:
        """GET an API path (e.g. /apis/apps/v1/namespaces/playcode/deployments/playcode-app) as JSON."""
        return self._call('GET', path)

    def reset(self, empty: bool = False):
        """Back to the seed (or to nothing): objects, image behaviours, exec rules, log lines, metrics API off,
        request log."""
        self._call('POST', '/_standin/reset' + ('?empty=1' if empty else ''))

    def seed(self, objs_or_yaml) -> list[str]:
        """Create or replace objects (YAML text, one object, or a list of objects), status included."""
        text = (
            objs_or_yaml
            if isinstance(objs_or_yaml, str)
            else yaml.safe_dump_all([objs_or_yaml] if isinstance(objs_or_yaml, dict) else list(objs_or_yaml))
        )
        return self._call('POST', '/_standin/seed', text, 'application/yaml')['created']

    def set_images(self, table: dict):
        """Image glob -> behaviour: 'ready'|'crashloop'|'pullerror'|'succeed'|'fail', or a dict
        {'behaviour', 'after' (s), 'logs': [...], 'previous_logs': [...]}. Put ahead of earlier entries."""
        self._call('PUT', '/_standin/images', table)

    def set_exec(self, rules: list[dict]):
        """Exec rules, first match wins: match on 'pod' (glob), 'labels', 'container', and 'argv' (exact)
        or 'prefix'; answer 'stdout'/'stderr'/'rc', or 'host': [allow-listed binary, args...] run with the
        rest of argv after prefix. Unmatched commands exit 127."""
        self._call('PUT', '/_standin/exec', rules)

    def set_logs(self, table: dict):
        """'podglob' or 'podglob/container' -> log lines (overrides the image's lines)."""
        self._call('PUT', '/_standin/logs', table)

    def set_metrics(self, table: dict | None):
        """Serve the metrics API (metrics.k8s.io/v1beta1, as metrics-server does) with usage by name glob,
        {'pods': {glob: {'cpu': '250m', 'memory': '300Mi'}}, 'nodes': {...}} (unlisted: a small default);
        None stops serving it (also after reset()): discovery no longer lists it, its paths answer 404."""
        self._call('PUT', '/_standin/metrics', table)

    def set_groups(self, table: dict[str, bool]):
        """Switch API groups off ({'cert-manager.io': False}: as if cert-manager's CRDs were not installed) or
        back on; discovery leaves them out and their paths answer 404. reset() serves them all again."""
        self._call('PUT', '/_standin/groups', table)

    def requests(self, clear: bool = False) -> list[dict]:
        """The API requests so far: method, path, query, content_type, and exec {pod, container, argv}."""
        return self._call('GET', '/_standin/requests' + ('?clear=1' if clear else ''))


def _wait_ready(server: subprocess.Popen, ready: Path, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if server.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f'the Kubernetes API stand-in did not start:\n{log.read_text()}')


@contextlib.contextmanager
def k8s_standin(seed: str | Path | None = DEFAULT_SEED) -> Iterator[K8sStandin]:
    """A running stand-in seeded from a YAML file (None: empty); stopped, by its pid, after."""
    workdir = Path(tempfile.mkdtemp(prefix='k8s-standin-'))
    (workdir / 'tmp').mkdir()
    ready, log = workdir / 'ready.json', workdir / 'server.log'
    argv = [
        sys.executable,
        '-m',
        'tests.standin.k8s_standin',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--kubeconfig-out',
        str(workdir / 'kubeconfig'),
        '--ready-file',
        str(ready),
    ]
    if seed is not None:
        argv += ['--seed', str(seed)]
    with log.open('w') as log_file:
        server = subprocess.Popen(argv, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        info = _wait_ready(server, ready, log)
        yield K8sStandin(info['url'], workdir, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
