# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's alert loop as real processes on loopback: Prometheus, Alertmanager and
ansible-rulebook with extensions/eda/rulebooks/incident_response.yml.

    with alert_loop(tmp, rule_files=[...], scrape_jobs=[...], env={...}) as loop:
        loop.wait_for(lambda: loop.firing('HighErrorRate'), 90, 'HighErrorRate firing')
        print(loop.rulebook.log())

Configurations are rendered from lab/monitoring/*.j2 and checked (promtool check config,
amtool check-config) before anything starts. Each process logs to a file in its work
directory; every wait is bounded and, on a timeout, fails with the tails of all the logs.
Everything is stopped (its whole process group) when the block ends. Debian's prometheus and
prometheus-alertmanager packages and the venv's ansible-rulebook (JAVA_HOME) are required:
scripts/setup.sh installs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import yaml

from tests.support.services import free_port, require

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / 'lab/monitoring'
RULEBOOK = ROOT / 'extensions/eda/rulebooks/incident_response.yml'
JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64'
LOG_TAIL = 4000


class Service:
    """One server process with its log file; stopped with its whole process group."""

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.workdir = name, argv, workdir
        self.env = env
        self.log_path = workdir / f'{name}.log'
        self.process: subprocess.Popen | None = None

    def start(self, cwd: Path | None = None) -> Service:
        with open(self.log_path, 'wb') as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd or self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the playbooks it runs
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding='utf-8', errors='replace') if self.log_path.exists() else ''

    def tail(self, chars: int = LOG_TAIL) -> str:
        return f'---- {self.name} ({self.log_path}) ----\n{self.log()[-chars:]}'

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def http_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def render(template: str, target: Path, **values: Any) -> Path:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    target.write_text(environment.get_template(template).render(**values), encoding='utf-8')
    return target


def checked(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f'{what} failed ({" ".join(argv)}):\n{result.stdout}{result.stderr}')


class AlertLoop:
    """Prometheus -> Alertmanager -> ansible-rulebook, on loopback ports of their own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prometheus_port, self.alertmanager_port, self.webhook_port = free_port(), free_port(), free_port()
        self.services: list[Service] = []
        self.prometheus: Service | None = None
        self.alertmanager: Service | None = None
        self.rulebook: Service | None = None

    @property
    def prometheus_url(self) -> str:
        return f'http://127.0.0.1:{self.prometheus_port}'

    @property
    def alertmanager_url(self) -> str:
        return f'http://127.0.0.1:{self.alertmanager_port}'

    # -- what the processes say -------------------------------------------------------------
    def logs(self) -> str:
        return '\n'.join(service.tail() for service in self.services)

    def alerts(self, name: str | None = None) -> list[dict[str, Any]]:
        """Prometheus's active alerts (pending or firing), by alertname when given."""
        found = http_json(f'{self.prometheus_url}/api/v1/alerts')['data']['alerts']
        return [alert for alert in found if name is None or alert['labels'].get('alertname') == name]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [alert for alert in self.alerts(name) if alert['state'] == 'firing']

    def targets_up(self) -> bool:
        active = http_json(f'{self.prometheus_url}/api/v1/targets')['data']['activeTargets']
        return bool(active) and all(target['health'] == 'up' for target in active)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f'{self.prometheus_url}/api/v1/query?' + urllib.parse.urlencode({'query': expr})
        return http_json(url)['data']['result']

    def check_alive(self, doing: str = 'the alert loop') -> None:
        """RuntimeError, with every log, when one of the processes has exited."""
        dead = [service.name for service in self.services if not service.alive()]
        if dead:
            raise RuntimeError(f'{doing}: {", ".join(dead)} exited\n{self.logs()}')

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
        """The predicate's first truthy answer; RuntimeError with every log after `timeout` s."""
        deadline, last_error = time.monotonic() + timeout, ''
        while True:
            self.check_alive(what)
            try:
                answer = predicate()
            except (OSError, ValueError, KeyError) as error:
                answer, last_error = None, f' (last error: {error})'
            if answer:
                return answer
            if time.monotonic() >= deadline:
                raise RuntimeError(f'no {what} within {timeout} s{last_error}\n{self.logs()}')
            time.sleep(interval)

    # -- starting ---------------------------------------------------------------------------
    def start_prometheus(
        self, rule_files: list[str], scrape_jobs: list[dict[str, Any]], scrape: str = '2s', evaluation: str = '1s'
    ) -> Service:
        """Scrape every 2 s (the lab's windows assume it: inventories/lab/group_vars/refit.yml), evaluate every 1 s."""
        config = render(
            'prometheus.yml.j2',
            self.workdir / 'prometheus.yml',
            scrape_interval=scrape,
            scrape_timeout='1s',
            evaluation_interval=evaluation,
            rule_files=rule_files,
            alertmanager=f'127.0.0.1:{self.alertmanager_port}',
            scrape_jobs=scrape_jobs,
        )
        checked([require('promtool'), 'check', 'config', str(config)], 'promtool check config')
        argv = [
            require('prometheus'),
            f'--config.file={config}',
            f'--storage.tsdb.path={self.workdir / "prometheus-data"}',
            f'--web.listen-address=127.0.0.1:{self.prometheus_port}',
            '--rules.alert.resend-delay=1s',
            '--log.level=info',
        ]
        self.prometheus = self._start(Service('prometheus', argv, self.workdir))
        self.wait_for(lambda: http_ok(f'{self.prometheus_url}/-/ready'), 30, 'Prometheus ready')
        return self.prometheus

    def start_alertmanager(self, token: str, group_wait: str = '1s', group_interval: str = '2s') -> Service:
        token_file = self.workdir / 'webhook.token'
        token_file.write_text(token, encoding='utf-8')
        token_file.chmod(0o600)
        config = render(
            'alertmanager.yml.j2',
            self.workdir / 'alertmanager.yml',
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval='1h',
            webhook_url=f'http://127.0.0.1:{self.webhook_port}/alerts',
            token_file=str(token_file),
        )
        checked([require('amtool'), 'check-config', str(config)], 'amtool check-config')
        argv = [
            require('prometheus-alertmanager'),
            f'--config.file={config}',
            f'--storage.path={self.workdir / "alertmanager-data"}',
            f'--web.listen-address=127.0.0.1:{self.alertmanager_port}',
            '--cluster.listen-address=',  # no gossip port on every interface
            '--log.level=debug',  # shows each notification it sends
        ]
        self.alertmanager = self._start(Service('alertmanager', argv, self.workdir))
        self.wait_for(lambda: http_ok(f'{self.alertmanager_url}/-/ready'), 30, 'Alertmanager ready')
        return self.alertmanager

    def start_rulebook(
        self, token: str, inventory: Path, env: dict[str, str] | None = None, variables: dict[str, Any] | None = None
    ) -> Service:
        """ansible-rulebook in the checkout (run_playbook names playbooks/remediate.yml from there).

        ansible-rulebook copies the inventory into a temporary directory (TMPDIR/edaXXXX/inventory)
        for each run, so an inventory-relative path like the lab's SSH key
        (``{{ inventory_dir }}/../../.cache/lab/ssh/...``) points into TMPDIR: a short TMPDIR of
        its own gets a link to the checkout's .cache/lab/ssh.
        """
        tmpdir = self.workdir / 't'
        (tmpdir / '.cache/lab').mkdir(parents=True)
        (tmpdir / '.cache/lab/ssh').symlink_to(ROOT / '.cache/lab/ssh')
        variables_file = self.workdir / 'rulebook-vars.yml'
        variables_file.write_text(
            yaml.safe_dump(
                {
                    'alertmanager_webhook_host': '127.0.0.1',
                    'alertmanager_webhook_port': self.webhook_port,
                    'alertmanager_webhook_token': token,
                    **(variables or {}),
                }
            ),
            encoding='utf-8',
        )
        variables_file.chmod(0o600)
        bindir = Path(sys.executable).parent
        environment = {
            'PATH': f'{bindir}:{os.environ["PATH"]}',
            'HOME': os.environ.get('HOME', '/root'),
            'LANG': 'C.UTF-8',
            'JAVA_HOME': os.environ.get('JAVA_HOME', JAVA_HOME),
            'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
            'ANSIBLE_FORCE_COLOR': '0',
            'TMPDIR': str(tmpdir),
            **(env or {}),
        }
        argv = [
            str(bindir / 'ansible-rulebook'),
            '--rulebook',
            str(RULEBOOK),
            '--inventory',
            str(inventory),
            '--vars',
            str(variables_file),
            '--verbose',
        ]
        self.rulebook = self._start(Service('ansible-rulebook', argv, self.workdir, env=environment), cwd=ROOT)
        self.wait_for(self._webhook_listens, 60, 'the rulebook webhook listening')
        return self.rulebook

    def _webhook_listens(self) -> bool:
        try:
            with contextlib.closing(socket.create_connection(('127.0.0.1', self.webhook_port), 1)):
                return True
        except OSError:
            return False

    def _start(self, service: Service, cwd: Path | None = None) -> Service:
        self.services.append(service)
        return service.start(cwd)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


@contextlib.contextmanager
def alert_loop(
    workdir: Path,
    *,
    rule_files: list[str],
    scrape_jobs: list[dict[str, Any]],
    inventory: Path,
    env: dict[str, str] | None = None,
    variables: dict[str, Any] | None = None,
) -> Iterator[AlertLoop]:
    """Start the rulebook, Alertmanager and Prometheus (in that order: each has its receiver)."""
    loop = AlertLoop(workdir)
    token = secrets.token_urlsafe(24)
    try:
        loop.start_rulebook(token, inventory, env=env, variables=variables)
        loop.start_alertmanager(token)
        loop.start_prometheus(rule_files, scrape_jobs)
        yield loop
    finally:
        loop.stop()
