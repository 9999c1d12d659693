# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one module or action of this collection through the real `ansible` CLI on
localhost, and return its exit status and result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_adhoc_output(module: str, args: dict, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """The exit status and the json callback's whole output (plays, stats, custom stats)."""
    environ = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
        ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
        ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json',
        ANSIBLE_SHOW_CUSTOM_STATS='1',
        **(env or {}),
    )
    ansible = Path(sys.executable).with_name('ansible')
    proc = subprocess.run(
        [
            str(ansible),
            'localhost',
            '-c',
            'local',
            '-i',
            'localhost,',
            '-e',
            f'ansible_python_interpreter={sys.executable}',
            '-m',
            module,
            '-a',
            json.dumps(args),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        check=False,
    )
    start = proc.stdout.find('{')
    if start < 0:
        raise AssertionError(f'ansible printed no JSON:\n{proc.stdout}\n{proc.stderr}')
    output, _end = json.JSONDecoder().raw_decode(proc.stdout[start:])
    return proc.returncode, output


def run_adhoc(module: str, args: dict, *extra: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """The exit status and the result of the one task on localhost."""
    rc, output = run_adhoc_output(module, args, *extra, env=env)
    return rc, output['plays'][0]['tasks'][0]['hosts']['localhost']
