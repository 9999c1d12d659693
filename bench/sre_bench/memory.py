"""Peak memory of process trees, sampled from /proc while something runs.

Memory is summed as PSS (proportional set size): shared pages, such as PostgreSQL's
shared buffers, are split between the processes that map them instead of being
counted once per backend, so the sum is what the tree really costs.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

PERIOD_S = 0.1


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', encoding='ascii', errors='replace') as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree(root: int) -> list[int]:
    children, found, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f'/proc/{pid}/smaps_rollup', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_mib(root: int) -> float:
    return sum(pss_kib(pid) for pid in tree(root)) / 1024


def container_pid(name: str) -> int:
    out = subprocess.run(
        ['docker', 'inspect', '-f', '{{.State.Pid}}', name], capture_output=True, text=True, check=True
    ).stdout
    return int(out.strip())


class PeakSampler:
    """`with PeakSampler(lambda: [pid, ...]) as peak:` ... then peak.baseline_mib, peak.peak_mib."""

    def __init__(self, roots: Callable[[], list[int]]) -> None:
        self.roots = roots
        self.baseline_mib = 0.0
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> float:
        return sum(tree_pss_mib(root) for root in self.roots())

    def _loop(self) -> None:
        while not self._stop.wait(PERIOD_S):
            self.peak_mib = max(self.peak_mib, self._sample())

    def __enter__(self) -> PeakSampler:
        self.baseline_mib = self.peak_mib = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mib = round(max(self.peak_mib, self._sample()), 1)
        self.baseline_mib = round(self.baseline_mib, 1)


def watched(argv: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run argv with its process tree's memory sampled: seconds, peak MiB, exit code, output."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakSampler(lambda: [proc.pid]) as peak:
        out = proc.communicate()[0]
    return {'s': round(time.monotonic() - started, 3), 'peak_mib': peak.peak_mib, 'rc': proc.returncode, 'out': out}
