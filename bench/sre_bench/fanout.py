"""Measure 6: playbooks/health_check.yml against 2, 8 and 16 lab web hosts, with the
collection's ansible.cfg and with stock settings (bench/stock.cfg).

The hosts are extra copies of the lab's web image (systemd, sshd, nginx proxying to the
lab api host) on the lab network, labelled like the lab so `make lab-down` removes them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import yaml

from .common import CACHE, LAB_KEY, ROOT, lab_ssh, median, playbook, run, say

IMAGE = 'sre-runbooks/lab-web:latest'
SYSTEMD_HOST = ['--cap-add', 'SYS_ADMIN', '--cgroupns', 'host', '--tmpfs', '/run', '--tmpfs', '/run/lock',
                '--tmpfs', '/tmp', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:ro', '--stop-signal', 'SIGRTMIN+3',
                '--label', 'sre.runbooks.lab=bench', '--network', 'sre-lab']  # fmt: skip


def _name(index: int) -> str:
    return f'sre-bench-web{index:02d}'


def _address(index: int) -> str:
    return f'172.30.53.{100 + index}'


def _wait(argv: list[str], seconds: int) -> None:
    for _attempt in range(seconds * 2):
        if subprocess.run(argv, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out: {' '.join(argv)}")


@contextlib.contextmanager
def hosts(count: int):
    """Start `count` web hosts, install the lab key, wait for SSH; remove them afterwards."""
    names = [_name(i) for i in range(1, count + 1)]
    try:
        for index, name in enumerate(names, 1):
            run(['docker', 'run', '-d', '--name', name, '--hostname', name, '--ip', _address(index),
                 *SYSTEMD_HOST, IMAGE])  # fmt: skip
        public_key = (LAB_KEY.with_suffix('.pub')).read_text()
        for index, name in enumerate(names, 1):
            _wait(['docker', 'exec', name, 'systemctl', 'is-active', 'ssh', 'nginx'], 60)
            run(['docker', 'exec', '-i', name, 'install', '-o', 'ubuntu', '-g', 'ubuntu', '-m', '0600', '/dev/stdin',
                 '/home/ubuntu/.ssh/authorized_keys'], input_text=public_key)  # fmt: skip
            _wait(lab_ssh(_address(index), 'true'), 30)
        yield
    finally:
        subprocess.run(['docker', 'rm', '-f', *names], capture_output=True, check=False)


def inventory(count: int) -> Path:
    """An inventory of the first `count` bench hosts, as group o4o_web (the web checks)."""
    path = CACHE / f'fanout-{count}.yml'
    path.parent.mkdir(parents=True, exist_ok=True)
    lab_vars = {
        'ansible_user': 'ubuntu',
        'ansible_ssh_private_key_file': str(LAB_KEY),
        'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR',
        'sre_environment': 'lab',
    }
    web = {_name(i): {'ansible_host': _address(i)} for i in range(1, count + 1)}
    document = {'all': {'vars': lab_vars, 'children': {'o4o': {'children': {'o4o_web': {'hosts': web}}}}}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _busy_cpu_s() -> float:
    """CPU seconds spent by the whole machine (controller and lab hosts share it)."""
    fields = [int(x) for x in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf('SC_CLK_TCK')  # minus idle and iowait


def _timed(path: Path, config: Path) -> tuple[float, float]:
    # ControlPersist sockets of the other setting must not help this one.
    subprocess.run(['pkill', '-f', 'ssh: .*\\[mux\\]'], check=False)
    busy = _busy_cpu_s()
    seconds = playbook('-i', str(path), 'playbooks/health_check.yml', config=config)['seconds']
    return seconds, round(_busy_cpu_s() - busy, 2)


def measure(sizes: list[int], runs: int) -> dict:
    configs = {'collection': ROOT / 'ansible.cfg', 'stock': ROOT / 'bench' / 'stock.cfg'}
    results = {}
    with hosts(max(sizes)):
        for size in sizes:
            path = inventory(size)
            times = {name: [] for name in configs}
            cpu = {name: [] for name in configs}
            for _run in range(runs):
                for name, config in configs.items():
                    seconds, busy = _timed(path, config)
                    times[name].append(seconds)
                    cpu[name].append(busy)
            entry = {name: median(values) for name, values in times.items()}
            entry['runs'] = times
            entry['cpu_s'] = {name: median(values) for name, values in cpu.items()}
            entry['ratio'] = round(entry['collection'] / entry['stock'], 3)
            say(
                f"{size:>2} hosts: collection {entry['collection']} s, stock {entry['stock']} s, ratio {entry['ratio']}"
            )
            results[str(size)] = entry
    return results
