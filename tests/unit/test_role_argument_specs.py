# SPDX-License-Identifier: GPL-3.0-or-later
"""Every option a role's meta/argument_specs.yml marks required really is (issue #21).

A required option that defaults/main.yml also sets is always present, so the spec's
check never fires. Statically: no required option has a default. Through
ansible-playbook on localhost: including each entry point with one required option
left out fails with the spec's message, and with all of them given it passes. Only the
roles' validation tasks run (they are tagged always; the play asks for a tag no task
has) and the run is in check mode, so nothing of a role acts on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# A placeholder for a required option, by its spec type.
PLACEHOLDERS = {
    'str': 'x',
    'path': '/nonexistent',
    'list': ['x'],
    'dict': {'x': 'x'},
    'int': 1,
    'bool': True,
    'raw': 'x',
}


def _load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _entry_points() -> list[tuple[str, str, dict[str, str]]]:
    """(role, entry point, {required option: type}) for each entry point with one."""
    found = []
    for spec in sorted(ROOT.glob('roles/*/meta/argument_specs.yml')):
        role = spec.parents[1].name
        for entry, body in _load(spec)['argument_specs'].items():
            required = {
                name: option.get('type', 'str')
                for name, option in (body.get('options') or {}).items()
                if option.get('required')
            }
            if required:
                found.append((role, entry, required))
    return found


ENTRY_POINTS = _entry_points()
CASES = [(role, entry, option) for role, entry, required in ENTRY_POINTS for option in required]


def _case(key: str, role: str, entry: str, given: dict) -> dict:
    """A block that records the include's outcome under ``key``: 'passed' or its message.

    Only its own tasks are tagged always: a tag on the block would reach the role's tasks."""
    include = {'name': f'sre.runbooks.{role}'}
    if entry != 'main':
        include['tasks_from'] = entry

    def record(outcome: str) -> dict:
        combined = f'{{{{ __results | combine({{{key!r}: {outcome}}}) }}}}'
        return {'name': f'Record {key}', 'ansible.builtin.set_fact': {'__results': combined}, 'tags': ['always']}

    return {
        'name': key,
        'block': [
            {'name': f'Include {key}', 'ansible.builtin.include_role': include, 'vars': given, 'tags': ['always']},
            record("'passed'"),
        ],
        'rescue': [record('ansible_failed_result.msg')],
    }


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory) -> dict[str, str]:
    """One ansible-playbook run over every case; the outcome of each, by key."""
    tasks = []
    for role, entry, required in ENTRY_POINTS:
        values = {name: PLACEHOLDERS[kind] for name, kind in required.items()}
        tasks.append(_case(f'{role}/{entry}/all', role, entry, values))
        tasks += [
            _case(f'{role}/{entry}/{name}', role, entry, {k: v for k, v in values.items() if k != name})
            for name in required
        ]
    tasks.append({'name': 'Show the outcomes', 'tags': ['always'], 'ansible.builtin.debug': {'var': '__results'}})
    playbook = tmp_path_factory.mktemp('specs') / 'specs.yml'
    play = {'hosts': 'localhost', 'gather_facts': False, 'vars': {'__results': {}}, 'tasks': tasks}
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.json'}
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name('ansible-playbook')),
            '-i', 'localhost,', '-c', 'local', '-e', f'ansible_python_interpreter={sys.executable}',
            '--check', '--tags', 'argument_specs_only', str(playbook),
        ],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    report, _end = json.JSONDecoder().raw_decode(run.stdout[run.stdout.find('{') :])
    last_task = report['plays'][0]['tasks'][-1]
    return last_task['hosts']['localhost']['__results']


@pytest.mark.parametrize(('role', 'entry', 'option'), CASES)
def test_a_required_option_has_no_default(role, entry, option):
    assert option not in _load(ROOT / 'roles' / role / 'defaults' / 'main.yml'), (
        f'{role}: {option} is required in meta/argument_specs.yml ({entry}) but set in defaults/main.yml'
    )


@pytest.mark.parametrize(('role', 'entry', 'option'), CASES)
def test_leaving_out_a_required_option_fails_with_the_specs_message(outcomes, role, entry, option):
    message = outcomes[f'{role}/{entry}/{option}']
    assert message.startswith('Validation of arguments failed')
    assert f'missing required arguments: {option}' in message


@pytest.mark.parametrize(('role', 'entry'), [point[:2] for point in ENTRY_POINTS])
def test_giving_every_required_option_passes_the_spec(outcomes, role, entry):
    assert outcomes[f'{role}/{entry}/all'] == 'passed'
