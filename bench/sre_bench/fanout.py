"""Measure 6: playbooks/health_check.yml against 2, 8 and 16 lab web hosts, with the
collection's ansible.cfg, with stock settings (bench/stock.cfg) and with the collection's
ansible.cfg plus the Mitogen strategy (the opt-in of scripts/with-mitogen.sh, docs/mitogen.md),
all three in the same run. Besides the wall time, the CPU seconds per host-task (one task on
one host: ok + changed + failed + skipped in the recap), of the machine (controller and lab
hosts share it) and of the controller alone (the ansible-playbook process tree and the ssh
ControlPersist masters it started).

The hosts are extra copies of the lab's web image (systemd, sshd, nginx proxying to the
lab api host) on the lab network, labelled like the lab so `make lab-down` removes them."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

from .common import CACHE, LAB_KEY, ROOT, lab_ssh, median, playbook, run, say

# The whole recap line: host-tasks are counted from it (common.RECAP stops at failed).
RECAP_ALL = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)', re.M)
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


def mitogen_env() -> dict[str, str]:
    """The environment scripts/with-mitogen.sh --lab sets: the Mitogen strategy over the collection's settings."""
    spec = importlib.util.find_spec('ansible_mitogen')  # pip install -r requirements.txt
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('mitogen is not installed: pip install -r requirements.txt')
    plugins = Path(spec.submodule_search_locations[0]) / 'plugins' / 'strategy'
    return {
        'ANSIBLE_STRATEGY_PLUGINS': str(plugins),
        'ANSIBLE_STRATEGY': 'mitogen_linear',
        # Mitogen puts `StrictHostKeyChecking yes` before ansible_ssh_common_args and ssh keeps
        # the first value; the lab's throwaway host keys are not in known_hosts.
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
    }


def host_tasks(log: str) -> int:
    """Tasks run, summed over hosts: ok + changed + failed + skipped of every recap line."""
    return sum(int(m[1]) + int(m[2]) + int(m[3]) + int(m[4]) for m in RECAP_ALL.findall(log))


def mux_cpu_s(proc: Path = Path('/proc')) -> float:
    """CPU seconds of the ssh ControlPersist masters ('ssh: <path> [mux]'): they leave the
    ansible-playbook tree (so getrusage of its children misses them) but are the controller's."""
    total = 0
    for stat in proc.glob('[0-9]*/stat'):
        try:
            if not re.match(rb'ssh: .*\[mux\]', (stat.parent / 'cmdline').read_bytes()):
                continue
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf('SC_CLK_TCK')


def _timed(path: Path, config: Path, env: dict[str, str]) -> tuple[float, float, float, int]:
    """Seconds, the machine's CPU seconds, the controller's and the host-tasks of one run."""
    # ControlPersist sockets of the other setting must not help this one (nor count in its CPU).
    subprocess.run(['pkill', '-f', 'ssh: .*\\[mux\\]'], check=False)
    busy = _busy_cpu_s()
    result = playbook('-i', str(path), 'playbooks/health_check.yml', config=config, env=env)
    busy = round(_busy_cpu_s() - busy, 2)
    controller = round(result['controller_cpu_s'] + mux_cpu_s(), 2)
    return result['seconds'], busy, controller, host_tasks(result['log'])


def _per_host_task(cpu: dict[str, float], tasks: dict[str, int]) -> dict[str, float | None]:
    return {name: round(cpu[name] / tasks[name], 4) if tasks[name] else None for name in cpu}


def measure(sizes: list[int], runs: int) -> dict:
    configs = {
        'collection': (ROOT / 'ansible.cfg', {}),
        'stock': (ROOT / 'bench' / 'stock.cfg', {}),
        'mitogen': (ROOT / 'ansible.cfg', mitogen_env()),
    }
    results = {}
    with hosts(max(sizes)):
        for size in sizes:
            path = inventory(size)
            times = {name: [] for name in configs}
            cpu = {name: [] for name in configs}
            controller = {name: [] for name in configs}
            tasks = {name: [] for name in configs}
            for _run in range(runs):
                for name, (config, env) in configs.items():
                    seconds, busy, own, count = _timed(path, config, env)
                    times[name].append(seconds)
                    cpu[name].append(busy)
                    controller[name].append(own)
                    tasks[name].append(count)
            entry = {name: median(values) for name, values in times.items()}
            entry['runs'] = times
            entry['cpu_s'] = {name: median(values) for name, values in cpu.items()}
            entry['controller_cpu_s'] = {name: median(values) for name, values in controller.items()}
            entry['host_tasks'] = {name: max(values) for name, values in tasks.items()}
            entry['cpu_s_per_host_task'] = _per_host_task(entry['cpu_s'], entry['host_tasks'])
            entry['controller_cpu_s_per_host_task'] = _per_host_task(entry['controller_cpu_s'], entry['host_tasks'])
            entry['ratio'] = round(entry['collection'] / entry['stock'], 3)
            entry['ratio_mitogen'] = round(entry['mitogen'] / entry['stock'], 3)
            per, own = entry['cpu_s_per_host_task'], entry['controller_cpu_s_per_host_task']
            say(
                f"{size:>2} hosts: collection {entry['collection']} s, stock {entry['stock']} s, "
                f"mitogen {entry['mitogen']} s; ratio {entry['ratio']} (mitogen {entry['ratio_mitogen']}); "
                f"CPU s per host-task (machine / controller): collection {per['collection']} / {own['collection']}, "
                f"stock {per['stock']} / {own['stock']}, mitogen {per['mitogen']} / {own['mitogen']}"
            )
            results[str(size)] = entry
    return results
