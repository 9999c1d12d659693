# SPDX-License-Identifier: GPL-3.0-or-later
"""No role or playbook may run docker, PostgreSQL, rm, kubectl or mongo commands
through command/shell/raw/script: they must go through sre.runbooks.safe_command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.sre.runbooks.plugins.module_utils._shell_words import ParseError, simple_commands

ROOT = Path(__file__).resolve().parents[2]
RAW_MODULES = {
    f'{prefix}{name}'
    for prefix in ('', 'ansible.builtin.', 'ansible.legacy.')
    for name in ('command', 'shell', 'raw', 'script')
}
GUARDED = re.compile(r'^(docker|docker-compose|podman|psql|pg_\w+|dropdb|createdb|initdb|rm|kubectl|oc|mongo\w*)$')


def task_files() -> list[Path]:
    files = [
        *ROOT.glob('roles/*/tasks/**/*.yml'),
        *ROOT.glob('roles/*/handlers/**/*.yml'),
        *ROOT.glob('playbooks/*.yml'),
    ]
    return sorted(files)


def raw_commands(node: Any) -> Iterator[str]:
    """The command text of every command/shell/raw/script task under node."""
    if isinstance(node, list):
        for item in node:
            yield from raw_commands(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in RAW_MODULES:
                if isinstance(value, str):
                    yield value
                elif isinstance(value, dict):
                    text = value.get('cmd') or value.get('_raw_params') or value.get('argv') or ''
                    yield text if isinstance(text, str) else ' '.join(map(str, text))
            else:
                yield from raw_commands(value)


def offending(text: str) -> list[str]:
    try:
        commands = simple_commands(re.sub(r'{{.*?}}', 'X', text))
    except ParseError:
        return [text]
    return [str(command) for command in commands if GUARDED.match(command.name)]


def test_the_check_sees_bypasses():
    assert offending('docker compose ps')
    assert offending('sudo -u postgres psql -c "select 1"')
    assert offending('cd /tmp && rm -rf x')
    assert not offending('systemctl is-active nginx')
    assert not offending('echo docker')


@pytest.mark.parametrize('path', task_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_task_bypasses_safe_command(path):
    found = [bad for text in raw_commands(yaml.safe_load(path.read_text())) for bad in offending(text)]
    assert not found, f'{path.relative_to(ROOT)} runs these outside sre.runbooks.safe_command: {found}'
