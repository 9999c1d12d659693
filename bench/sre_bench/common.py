"""Shared plumbing: paths, commands on the controller and in the lab, playbook runs."""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / '.cache' / 'bench'
API = 'sre-lab-api'
LAB_KEY = ROOT / '.cache' / 'lab' / 'ssh' / 'id_ed25519'
# The lab's o4o_api hosts also archive the app's files and copy each backup to the
# off-host store (rebuild scenarios); a benchmark backup is the database alone.
DATABASE_ONLY = '{"pg_backup_app_files": [], "pg_backup_offsite_store": ""}'
# profile_tasks' recap line: "<role> : <task> ---- 1.47s".
TASK_TIME = re.compile(r'^(.+?) -+ (\d+\.\d+)s$', re.M)
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def lab_ssh(address: str, *command: str, flags: tuple[str, ...] = ()) -> list[str]:
    """An ssh command line to a lab host with the lab key (lab hosts are rebuilt often:
    their host keys are not pinned, as in inventories/lab)."""
    options = ['BatchMode=yes', 'StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'LogLevel=ERROR',
               'ConnectTimeout=2', 'ExitOnForwardFailure=yes']  # fmt: skip
    return [
        'ssh',
        '-i',
        str(LAB_KEY),
        *[arg for option in options for arg in ('-o', option)],
        *flags,
        f'ubuntu@{address}',
        *command,
    ]


def say(text: str) -> None:
    print(f'  - {text}', flush=True)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run(argv: list[str], *, env: dict[str, str] | None = None, input_text: str | None = None) -> str:
    """Run a command; its output is returned; a failure raises with the last lines of it."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, input=input_text, env={**os.environ, **(env or {})}, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(argv[:6])} ... exited {proc.returncode}:\n" + '\n'.join(tail))
    return proc.stdout


def lab(script: str, *, user: str = 'root') -> str:
    """Run a bash script on the lab api host (docker exec: the floor's own transport)."""
    return run(['docker', 'exec', '-i', '-u', user, API, 'bash', '-euo', 'pipefail', '-s'], input_text=script)


def psql(sql: str, database: str = 'postgres') -> str:
    return run(
        ['docker', 'exec', '-i', '-u', 'postgres', API, 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', database],
        input_text=sql,
    ).strip()


def timed_on_lab(command: str, *, user: str = 'postgres') -> float:
    """Seconds that `command` takes on the lab api host, timed there (no transport cost)."""
    out = lab(f's=$(date +%s%N); {command}; e=$(date +%s%N); echo "elapsed $(( (e - s) / 1000000 ))"', user=user)
    return int(out.strip().splitlines()[-1].split()[1]) / 1000


def playbook(*args: str, config: Path | None = None, env: dict[str, str] | None = None) -> dict:
    """Run ansible-playbook from the checkout; returns seconds, the recap per host and the log."""
    environ = {'ANSIBLE_CONFIG': str(config or ROOT / 'ansible.cfg'), 'ANSIBLE_FORCE_COLOR': '0', **(env or {})}
    started, cpu = time.monotonic(), children_cpu_s()
    proc = subprocess.run(
        ['ansible-playbook', *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **environ},
        check=False,
    )
    seconds, cpu = time.monotonic() - started, children_cpu_s() - cpu
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook {' '.join(args)} failed:\n" + '\n'.join(log.splitlines()[-25:]))
    recap = {m[0]: {'ok': int(m[1]), 'changed': int(m[2]), 'failed': int(m[4])} for m in RECAP.findall(log)}
    return {'seconds': round(seconds, 3), 'controller_cpu_s': round(cpu, 2), 'recap': recap, 'log': log}


def changed_count(out: str) -> int:
    """The changed count of every recap line of an ansible-playbook output, summed."""
    return sum(int(found) for found in re.findall(r'changed=(\d+)', out))


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished children: around one
    ansible-playbook, its tree - its workers and ssh clients, not the ControlPersist
    masters (detached: fanout.mux_cpu_s) nor the hosts."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def where_the_time_goes(run: dict, engine: str) -> dict:
    """Split a playbook run (from playbook(), with profile_tasks on, as in ansible.cfg) into
    the task whose name contains `engine`, the other tasks, and what no task accounts for:
    ansible-playbook's start-up, inventory and plays."""
    tasks = [(name.strip(), float(seconds)) for name, seconds in TASK_TIME.findall(run['log'])]
    work = sum(seconds for name, seconds in tasks if engine in name)
    others = sum(seconds for name, seconds in tasks if engine not in name)
    return {
        'total_s': run['seconds'],
        'engine_task_s': round(work, 3),
        'other_tasks_s': round(others, 3),
        'other_tasks': len(tasks) - sum(1 for name, _seconds in tasks if engine in name),
        'start_up_and_plays_s': round(run['seconds'] - work - others, 3),
    }
