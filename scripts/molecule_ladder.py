# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the check-mode ladder of every Molecule scenario (issue #21).

Molecule's own ``check`` step only proves that check mode did not fail. Per
scenario this runs, and asserts each step from the PLAY RECAP:

1. create (molecule's create runs prepare too)
2. ``converge -- --check`` on the fresh host: changed>0 (changed=0 for a role that
   is read-only by design, declared in ``molecule/<scenario>/read_only`` with the
   reason), failed=0, unreachable=0, and the run really was in check mode
3. converge: changed>0 for a role that changes things (had the check above changed
   the host, converge would find nothing left to do)
4. idempotence
5. ``converge -- --check`` on the converged host: changed=0
6. verify
7. destroy, always, also after a failure

A scenario that cannot run on this machine (``molecule/kind_cluster``: a real kind
cluster) says why in ``molecule/<scenario>/runs_elsewhere``; it is reported as
"not run" with that reason, in its line and in the summary.

Usage: python scripts/molecule_ladder.py [--jobs N] [SCENARIO ...]   (default: every molecule/*/)
With --jobs N, N scenarios climb side by side (each has containers of its own), the
longest first. Each step prints one line with its result and time; the full output
of a failed step is printed, and every step's output is kept in
.cache/molecule-ladder/.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".cache" / "molecule-ladder"
RECAP_LINE = re.compile(
    r"^\S+\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The default callback marks every play and task banner of a check-mode run.
CHECK_MODE_MARKER = "[CHECK MODE]"
# Scenarios that take longest start first when several climb side by side (seconds
# on 2 cores, 2026-12-04); the others follow in name order.
LONGEST_FIRST = ("provision", "compose", "pm2_app")
# Set by SIGTERM (a CI timeout): no new step starts, each scenario is still destroyed.
STOP = threading.Event()
# One scenario's lines and a failed step's output are printed whole.
PRINT = threading.Lock()


class StepFailed(Exception):
    """A step of the ladder failed; the message says which assertion."""


@dataclass(frozen=True)
class Recap:
    """PLAY RECAP totals over every host of one ansible-playbook run."""

    changed: int
    unreachable: int
    failed: int

    @classmethod
    def parse(cls, output: str) -> Recap:
        """Sum the recap lines after the last PLAY RECAP of ``output``."""
        found, tail = output.rpartition("PLAY RECAP")[1:]
        lines = [m.groupdict() for m in RECAP_LINE.finditer(tail)] if found else []
        if not lines:
            raise StepFailed("no PLAY RECAP in the output")
        return cls(*(sum(int(line[key]) for line in lines) for key in ("changed", "unreachable", "failed")))

    def __str__(self) -> str:
        return f"changed={self.changed} unreachable={self.unreachable} failed={self.failed}"


def read_only_reason(scenario: str) -> str:
    """The reason a scenario's role changes nothing, or '' when it changes things."""
    marker = ROOT / "molecule" / scenario / "read_only"
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""


def elsewhere_reason(scenario: str) -> str:
    """Why a scenario cannot run on this machine (``molecule/<scenario>/runs_elsewhere``),
    or ''. Such a scenario is reported as not run, never passed over silently."""
    marker = ROOT / "molecule" / scenario / "runs_elsewhere"
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""


def molecule(scenario: str, command: str, log: Path, check_mode: bool) -> str:
    """Run one molecule command, keep its output in ``log`` and return it."""
    cmd = ["molecule", command, "-s", scenario]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
    if check_mode:
        cmd += ["--", "--check"]
        env["ANSIBLE_CHECK_MODE_MARKERS"] = "1"
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    output = ANSI.sub("", proc.stdout.decode(errors="replace"))
    log.write_text(f"$ {' '.join(cmd)}\n{output}", encoding="utf-8")
    if proc.returncode != 0:
        raise StepFailed(f"{' '.join(cmd)} exited {proc.returncode}")
    return output


def assert_recap(output: str, changed: str, check_mode: bool) -> str:
    """Check failed=0, unreachable=0 and changed ('0' or '>0'); return the recap."""
    if check_mode and CHECK_MODE_MARKER not in output:
        raise StepFailed("ansible-playbook did not run in check mode (no [CHECK MODE] banner)")
    recap = Recap.parse(output)
    if recap.failed or recap.unreachable or (recap.changed == 0) != (changed == "0"):
        expected = "changed=0" if changed == "0" else "changed>0"
        raise StepFailed(f"expected {expected}, failed=0, unreachable=0; got {recap}")
    return str(recap)


class Ladder:
    """The steps of one scenario, each timed and reported on one line."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.read_only = read_only_reason(scenario)
        self.logs = LOG_DIR / scenario
        self.logs.mkdir(parents=True, exist_ok=True)

    def run(self) -> bool:
        """Climb the ladder, then destroy whatever happened. True when every step passed."""
        passed = False
        try:
            passed = self.climb()
        finally:
            destroyed = self.step("destroy", "destroy")
        return passed and destroyed

    def climb(self) -> bool:
        """The steps before destroy, stopping at the first that fails."""
        fresh = "0" if self.read_only else ">0"
        if self.read_only:
            print(f"ladder {self.scenario:<16} read-only: {self.read_only}", flush=True)
        steps = (
            ("create+prepare", "create", "", False),
            ("check-fresh", "converge", fresh, True),
            ("converge", "converge", fresh, False),
            ("idempotence", "idempotence", "0", False),
            ("check-converged", "converge", "0", True),
            ("verify", "verify", "", False),
        )
        return all(not STOP.is_set() and self.step(*step) for step in steps)

    def step(self, name: str, command: str, changed: str = "", check_mode: bool = False) -> bool:
        """Run a molecule command, assert on its recap when ``changed`` is given, report."""
        log = self.logs / f"{name}.log"
        start = time.monotonic()
        try:
            output = molecule(self.scenario, command, log, check_mode)
            detail = assert_recap(output, changed, check_mode) if changed else ""
        except StepFailed as exc:
            with PRINT:
                self.report(name, "FAILED", start, str(exc))
                sys.stdout.write(log.read_text(encoding="utf-8") if log.is_file() else "")
            return False
        self.report(name, "ok", start, detail)
        return True

    def report(self, name: str, result: str, start: float, detail: str) -> None:
        """One line per step: scenario, step, result, seconds, recap or reason."""
        took = time.monotonic() - start
        print(f"ladder {self.scenario:<16} {name:<16} {result:<7} {took:6.1f} s  {detail}", flush=True)


def climb(scenario: str) -> str:
    """Run one scenario's ladder; its summary line (result and seconds)."""
    began = time.monotonic()
    elsewhere = elsewhere_reason(scenario)
    if elsewhere:
        print(f"ladder {scenario:<16} NOT RUN here: {elsewhere}", flush=True)
        return f"{'not run':<7} {0.0:6.1f} s  ({elsewhere.split(';')[0]})"
    passed = Ladder(scenario).run()
    return f"{'ok' if passed else 'FAILED':<7} {time.monotonic() - began:6.1f} s"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="The check-mode ladder of Molecule scenarios.")
    parser.add_argument("--jobs", type=int, default=1, help="scenarios climbing side by side (default 1)")
    parser.add_argument("scenarios", nargs="*", help="default: every molecule/*/")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    found = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
    first = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    scenarios = args.scenarios or sorted(found, key=lambda name: first.get(name, len(first)))
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        took = dict(zip(scenarios, pool.map(climb, scenarios)))
    print("\nladder summary")
    for scenario, line in took.items():
        print(f"  {scenario:<16} {line}")
    print(f"  {'total':<16} {'':<7} {time.monotonic() - start:6.1f} s")
    failed = [s for s, line in took.items() if line.startswith("FAILED")]
    if failed:
        print(f"ladder failed: {' '.join(failed)} (logs in {LOG_DIR.relative_to(ROOT)}/)", file=sys.stderr)
    if STOP.is_set():
        return 143
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
