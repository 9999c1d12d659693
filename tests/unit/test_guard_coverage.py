# SPDX-License-Identifier: GPL-3.0-or-later
"""No role or playbook may run docker, PostgreSQL, rm, kubectl or mongo commands
through command/shell/raw/script: they must go through sre.runbooks.safe_command.
And no command run in a pod (kubernetes.core.k8s_exec, which runs even in check mode)
may run in check mode unless it passes the read-only guard k8s_readonly_command.

Templates are inspected, not masked: ``{{ var }}`` is replaced by every value the
collection gives var (the role's defaults and vars, playbooks/ and inventories/
group_vars and host_vars, set_fact literals of the same file, play/block/task vars,
the items of a literal loop), and Jinja expressions that build an argv (lists, ``+``,
``if ... else``, ``default``) are evaluated. A command name, or a whole command, that is
still a template after that fails the check (fail closed) unless ALLOWLIST names the
task with a reason.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

from ansible_collections.sre.runbooks.plugins.module_utils._shell_words import (
    ParseError,
    Stdin,
    argv_commands,
    simple_commands,
)

ROOT = Path(__file__).resolve().parents[2]
RAW_MODULES = {
    f'{prefix}{name}'
    for prefix in ('', 'ansible.builtin.', 'ansible.legacy.')
    for name in ('command', 'shell', 'raw', 'script')
}
GUARDED = re.compile(r'^(docker|docker-compose|podman|psql|pg_\w+|dropdb|createdb|initdb|rm|kubectl|oc|mongo\w*)$')
UNRESOLVED = '__unresolved_template__'
TASK_LISTS = ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers')
MAX_CANDIDATES = 64
# Ansible's magic variables that name a command, with what they always are.
MAGIC_VARIABLES = {'ansible_playbook_python': 'python3'}
# (file, task name) -> why its templated command is safe. Keep this tiny and honest.
ALLOWLIST: dict[tuple[str, str], str] = {
    (
        'roles/infra_changes/tasks/find_tool.yml',
        "Preflight | Run the tool's version command {{ infra_changes_tool }}",
    ): (
        'runs `<tool> version` only, where the tool is terraform or kubeseal, named by the including task '
        '(infra_changes_terraform_binary, infra_changes_kubeseal_binary), never a guarded command'
    ),
}
JINJA = Environment()


@dataclass
class Scope:
    """Every known value of each variable; the items of the task's loop."""

    variables: dict[str, list[Any]] = field(default_factory=dict)
    items: list[Any] | None = None

    def with_vars(self, more: dict[str, Any] | None) -> Scope:
        merged = {name: list(values) for name, values in self.variables.items()}
        for name, value in (more or {}).items():
            merged[name] = [value, *merged.get(name, [])]
        return Scope(merged, self.items)


def _add(variables: dict[str, list[Any]], path: Path) -> None:
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    for name, value in (data or {}).items() if isinstance(data, dict) else ():
        variables.setdefault(name, []).append(value)


def file_scope(path: Path, root: Path = ROOT) -> Scope:
    variables: dict[str, list[Any]] = {name: [value] for name, value in MAGIC_VARIABLES.items()}
    relative = path.relative_to(root).parts
    if relative[0] == 'roles':
        for folder in ('defaults', 'vars'):
            for source in sorted((root / 'roles' / relative[1] / folder).glob('**/*.yml')):
                _add(variables, source)
    for pattern in (
        'playbooks/group_vars/*.yml',
        'playbooks/group_vars/*/*.yml',
        'inventories/*/group_vars/*.yml',
        'inventories/*/host_vars/*.yml',
    ):
        for source in sorted(root.glob(pattern)):
            _add(variables, source)
    for task in walk_tasks(yaml.safe_load(path.read_text()), Scope()):
        facts = task[0].get('ansible.builtin.set_fact') or task[0].get('set_fact')
        for name, value in facts.items() if isinstance(facts, dict) else ():
            variables.setdefault(name, []).append(value)
    return Scope(variables)


def walk_tasks(node: Any, scope: Scope) -> Iterator[tuple[dict[str, Any], Scope]]:
    """(task, the vars of its plays and blocks) for every task, however deeply nested."""
    if isinstance(node, list):
        for item in node:
            yield from walk_tasks(item, scope)
    elif isinstance(node, dict):
        inner = scope.with_vars(node.get('vars') if isinstance(node.get('vars'), dict) else None)
        if any(key in node for key in TASK_LISTS):
            for key in TASK_LISTS:
                yield from walk_tasks(node.get(key), inner)
        else:
            yield node, inner


# --- templates --------------------------------------------------------------------


def _product(choices: list[list[Any]]) -> list[tuple[Any, ...]]:
    return list(itertools.islice(itertools.product(*choices), MAX_CANDIDATES))


def render(text: Any, scope: Scope, depth: int = 0) -> list[Any]:
    """Every value a YAML value can take; unresolvable parts become UNRESOLVED."""
    if isinstance(text, list):
        return [list(row) for row in _product([render(item, scope, depth) for item in text])]
    if not isinstance(text, str) or ('{{' not in text and '{%' not in text):
        return [text]
    parts = _output_nodes(text) if depth <= 6 else None
    if parts is None:
        return [UNRESOLVED]
    if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
        return value_of(parts[0], scope, depth)  # a whole template keeps its type (a list for argv)
    choices = [
        [part.data] if isinstance(part, nodes.TemplateData) else [_text(v) for v in value_of(part, scope, depth)]
        for part in parts
    ]
    return [''.join(row) for row in _product(choices)]


def _output_nodes(text: str) -> list[nodes.Node] | None:
    """The nodes of a template that is one output (text and ``{{ }}``); None for any other."""
    try:
        body = JINJA.parse(text).body
    except TemplateSyntaxError:
        return None
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    return body[0].nodes


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ' '.join(map(str, value))
    return UNRESOLVED if value is None else str(value)


def value_of(node: nodes.Node, scope: Scope, depth: int) -> list[Any]:
    """Candidate values of a Jinja expression; [UNRESOLVED] when it cannot be known."""
    for kinds, reader in VALUE_READERS:
        if isinstance(node, kinds):
            return reader(node, scope, depth)
    return [UNRESOLVED]


def _const_value(node: nodes.Const, scope: Scope, depth: int) -> list[Any]:
    return [node.value]


def _name_value(node: nodes.Name, scope: Scope, depth: int) -> list[Any]:
    if node.name == 'item':
        return scope.items if scope.items else [UNRESOLVED]
    values = scope.variables.get(node.name)
    if not values:
        return [UNRESOLVED]
    return [result for value in values for result in render(value, scope, depth + 1)][:MAX_CANDIDATES]


def _list_value(node: nodes.List, scope: Scope, depth: int) -> list[Any]:
    return [list(row) for row in _product([value_of(item, scope, depth) for item in node.items])]


def _lookup_value(node: nodes.Getattr | nodes.Getitem, scope: Scope, depth: int) -> list[Any]:
    """``a.b`` and ``a['b']``."""
    key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, 'value', None)
    found = [
        value[key] if isinstance(value, dict) and key in value else UNRESOLVED
        for value in value_of(node.node, scope, depth)
    ]
    return [result for value in found for result in render(value, scope, depth + 1)]


def _condition_value(node: nodes.CondExpr, scope: Scope, depth: int) -> list[Any]:
    return [*value_of(node.expr1, scope, depth), *(value_of(node.expr2, scope, depth) if node.expr2 else [''])]


def _sum_value(node: nodes.Add | nodes.Concat, scope: Scope, depth: int) -> list[Any]:
    """``a + b`` and ``a ~ b``."""
    operands = [node.left, node.right] if isinstance(node, nodes.Add) else node.nodes
    rows = _product([value_of(operand, scope, depth) for operand in operands])
    return [_join(row, isinstance(node, nodes.Concat)) for row in rows]


def _filter_value(node: nodes.Filter, scope: Scope, depth: int) -> list[Any]:
    """The filters that keep the candidates readable: default, string, join, ..."""
    if node.node is None:
        return [UNRESOLVED]
    values = value_of(node.node, scope, depth)
    if node.name in ('default', 'd'):
        return values + [value for arg in node.args for value in value_of(arg, scope, depth)]
    if node.name in ('string', 'quote', 'trim', 'lower', 'upper', 'list', 'flatten', 'int'):
        return values
    if node.name == 'join':
        return [_text(value) for value in values]
    return [UNRESOLVED]


VALUE_READERS: list[tuple[Any, Callable[[Any, Scope, int], list[Any]]]] = [
    (nodes.Const, _const_value),
    (nodes.Name, _name_value),
    (nodes.List, _list_value),
    ((nodes.Getattr, nodes.Getitem), _lookup_value),
    (nodes.CondExpr, _condition_value),
    ((nodes.Add, nodes.Concat), _sum_value),
    (nodes.Filter, _filter_value),
]


def _join(row: tuple[Any, ...], as_text: bool) -> Any:
    if not as_text and any(isinstance(value, list) for value in row):
        return [word for value in row for word in (value if isinstance(value, list) else [_text(value)])]
    return ''.join(_text(value) for value in row)


# --- commands -----------------------------------------------------------------------


def raw_commands(task: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(module, command as written, stdin as written) of a command/shell/raw/script task."""
    for key, value in task.items():
        if key not in RAW_MODULES:
            continue
        if isinstance(value, str):
            yield key, value, None
        elif isinstance(value, dict):
            command = value.get('argv', value.get('cmd', value.get('_raw_params', '')))
            yield key, command, value.get('stdin')


def _commands(command: Any, stdin: Any, scope: Scope) -> Iterator[tuple[str, list[str]]]:
    for given in render(stdin, scope) if stdin is not None else [None]:
        reads = Stdin('stdin', None if given is None else _text(given))
        for value in render(command, scope):
            try:
                if isinstance(value, list):
                    found = argv_commands([_text(word) for word in value], stdin=reads)
                else:
                    found = simple_commands(_text(value), stdin=reads)
            except ParseError:
                yield _text(value), [UNRESOLVED]
                continue
            for simple in found:
                yield str(simple), simple.argv


def offending_task(task: dict[str, Any], scope: Scope) -> list[str]:
    """What a task runs outside safe_command that it must not (or cannot be shown not to)."""
    found = []
    for _module, command, stdin in raw_commands(task):
        loop = task.get('loop', task.get('with_items'))
        items = None
        if loop is not None:
            items = [item for value in render(loop, scope) for item in (value if isinstance(value, list) else [value])]
            items = items if UNRESOLVED not in map(str, items) and not isinstance(loop, str) else None
        for text, argv in _commands(command, stdin, Scope(scope.variables, items)):
            name = Path(argv[0]).name if argv else ''
            if UNRESOLVED in (argv[0] if argv else UNRESOLVED):
                found.append(f'{text}: the command name is a template that cannot be resolved')
            elif GUARDED.match(name):
                found.append(text)
    return sorted(set(found))


def offending(text: str, variables: dict[str, Any] | None = None) -> list[str]:
    """offending_task for one shell command line (kept for quick checks)."""
    scope = Scope({name: [value] for name, value in (variables or {}).items()})
    return offending_task({'ansible.builtin.shell': text}, scope)


def findings(path: Path, root: Path = ROOT) -> list[str]:
    base = file_scope(path, root)
    relative = str(path.relative_to(root))
    found = []
    for task, scope in walk_tasks(yaml.safe_load(path.read_text()), base):
        if (relative, task.get('name')) in ALLOWLIST:
            continue
        local = scope.with_vars(task.get('vars') if isinstance(task.get('vars'), dict) else None)
        found += [f'{task.get("name")!r}: {bad}' for bad in offending_task(task, local)]
    return found


def task_files(root: Path = ROOT) -> list[Path]:
    files = [
        *root.glob('roles/*/tasks/**/*.yml'),
        *root.glob('roles/*/handlers/**/*.yml'),
        *root.glob('playbooks/*.yml'),
    ]
    return sorted(files)


# --- tests ----------------------------------------------------------------------------


def _collection(tmp_path: Path, tasks: list[dict[str, Any]], defaults: dict[str, Any] | None = None) -> Path:
    (tmp_path / 'roles/probe/tasks').mkdir(parents=True)
    (tmp_path / 'roles/probe/defaults').mkdir(parents=True)
    (tmp_path / 'roles/probe/defaults/main.yml').write_text(yaml.safe_dump(defaults or {}))
    path = tmp_path / 'roles/probe/tasks/main.yml'
    path.write_text(yaml.safe_dump(tasks))
    return path


def test_the_check_sees_literal_commands():
    assert offending('docker compose ps')
    assert offending('sudo -u postgres psql -c "select 1"')
    assert offending('cd /tmp && rm -rf x')
    assert offending("sudo -iu postgres sh -c 'dropdb x'")
    assert not offending('systemctl is-active nginx')
    assert not offending('echo docker')


@pytest.mark.parametrize(
    ('tasks', 'defaults'),
    [
        ([{'name': 'Prune', 'ansible.builtin.command': '{{ docker_bin }} volume prune -f'}], {'docker_bin': 'docker'}),
        ([{'name': 'Rm', 'ansible.builtin.command': {'argv': ['{{ x }}', 'volume', 'rm', 'v']}}], {'x': 'docker'}),
        ([{'name': 'Rm', 'ansible.builtin.command': {'argv': ['{{ x }}', 'volume', 'rm', 'v']}}], {}),
        ([{'name': 'Any', 'ansible.builtin.shell': {'cmd': '{{ unknown }}'}}], {}),
        ([{'name': 'Any', 'command': '{{ unknown }} --version'}], {}),
        ([{'name': 'Nested', 'ansible.builtin.shell': "sh -c '{{ script }}'"}], {'script': 'docker ps'}),
        ([{'name': 'Nested', 'ansible.builtin.shell': "sudo -iu postgres sh -c '{{ script }}'"}], {}),
        ([{'name': 'Path', 'ansible.builtin.command': '{{ bin_dir }}/pg_ctl stop'}], {'bin_dir': '/usr/lib/x/bin'}),
        (
            [{'name': 'Expr', 'ansible.builtin.command': {'argv': "{{ [tool] + ['volume', 'ls'] }}"}}],
            {'tool': 'docker'},
        ),
        (
            [{'name': 'Cond', 'ansible.builtin.command': {'argv': "{{ ['ls'] if x else [tool, 'ps'] }}"}}],
            {'tool': 'kubectl', 'x': True},
        ),
        ([{'name': 'Chain', 'ansible.builtin.command': {'argv': '{{ cmd }}'}}], {'cmd': ['{{ y }}', 'x']}),
        ([{'name': 'Indirect', 'ansible.builtin.command': '{{ a }} ps'}], {'a': '{{ b }}', 'b': 'podman'}),
        (
            [
                {'name': 'Fact', 'ansible.builtin.set_fact': {'__bin': 'docker'}},
                {'name': 'Use', 'ansible.builtin.command': '{{ __bin }} ps'},
            ],
            {},
        ),
        (
            [
                {
                    'name': 'Loop',
                    'ansible.builtin.command': {'argv': '{{ item.cmd }}'},
                    'loop': [{'cmd': ['docker', 'ps']}],
                }
            ],
            {},
        ),
        ([{'name': 'Loop', 'ansible.builtin.command': {'argv': '{{ item.cmd }}'}, 'loop': '{{ tests }}'}], {}),
        ([{'name': 'Stdin', 'ansible.builtin.command': {'cmd': 'bash', 'stdin': 'docker volume prune -f'}}], {}),
        ([{'name': 'Stdin', 'ansible.builtin.command': {'cmd': 'bash -s', 'stdin': '{{ script }}'}}], {}),
        ([{'name': 'Block', 'block': [{'name': 'In', 'ansible.builtin.raw': '{{ b }} ps'}], 'vars': {'b': 'oc'}}], {}),
        ([{'name': 'Script', 'ansible.builtin.script': '{{ s }}'}], {}),
        ([{'name': 'Eval', 'ansible.builtin.shell': 'eval "{{ c }}"'}], {'c': 'docker volume prune -f'}),
    ],
)
def test_the_check_sees_bypasses(tmp_path, tasks, defaults):
    assert findings(_collection(tmp_path, tasks, defaults), tmp_path)


@pytest.mark.parametrize(
    ('tasks', 'defaults'),
    [
        ([{'name': 'Tail', 'ansible.builtin.command': 'tail -n {{ n }} {{ log }}'}], {}),
        ([{'name': 'Tail', 'ansible.builtin.command': {'argv': ['tail', '-n', '{{ n }}', '{{ path }}']}}], {}),
        ([{'name': 'Tool', 'ansible.builtin.command': '{{ tool }} -t'}], {'tool': 'nginx'}),
        (
            [
                {
                    'name': 'Loop',
                    'ansible.builtin.command': {'argv': '{{ item.cmd }}'},
                    'loop': [{'cmd': ['nginx', '-t']}],
                }
            ],
            {},
        ),
        ([{'name': 'Expr', 'ansible.builtin.command': {'argv': "{{ ['ab', '-n', n | string] + headers }}"}}], {}),
        ([{'name': 'Shell of a user', 'ansible.builtin.user': {'name': 'app', 'shell': '/bin/bash'}}], {}),
        ([{'name': 'Stdin', 'ansible.builtin.command': {'cmd': 'bash', 'stdin': 'systemctl status x'}}], {}),
        ([{'name': 'Py', 'ansible.builtin.command': {'argv': ['{{ ansible_playbook_python }}', '-c', '{{ s }}']}}], {}),
    ],
)
def test_the_check_passes_what_it_can_see_is_safe(tmp_path, tasks, defaults):
    assert not findings(_collection(tmp_path, tasks, defaults), tmp_path)


def test_the_allowlist_is_tiny_and_explained():
    assert len(ALLOWLIST) <= 3
    assert all(len(reason) > 30 for reason in ALLOWLIST.values())
    for (path, name), _reason in ALLOWLIST.items():
        tasks = walk_tasks(yaml.safe_load((ROOT / path).read_text()), Scope())
        assert name in {task.get('name') for task, _scope in tasks}, f'stale allowlist entry {path}: {name}'


@pytest.mark.parametrize('path', task_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_task_bypasses_safe_command(path):
    found = findings(path)
    assert not found, f'{path.relative_to(ROOT)} runs these outside sre.runbooks.safe_command: {found}'


# --- commands run in a pod (runbook P2, P4-P8, P11, P12) --------------------------------

K8S_EXEC_MODULES = {'kubernetes.core.k8s_exec', 'k8s_exec', 'community.kubernetes.k8s_exec'}
# The whole command is one expression whose last filter is the guard; nothing added after it.
READ_ONLY_FILTER = re.compile(r'^\s*\{\{(?:(?!\{\{|\}\}).)*\|\s*sre\.runbooks\.k8s_readonly_command\s*\}\}\s*$', re.S)
# One condition of the task (or of a block around it) that is exactly this.
NOT_IN_CHECK_MODE = re.compile(r'^\s*not\s+ansible_check_mode\s*$')


def unguarded_exec(task: dict[str, Any]) -> str:
    """Why a kubernetes.core.k8s_exec task is not guarded, or ''. k8s_exec runs its command
    even in check mode, so either the command goes through the read-only guard
    (sre.runbooks.k8s_readonly_command), or the task never runs in check mode."""
    module = next((key for key in task if key in K8S_EXEC_MODULES), None)
    if module is None:
        return ''
    command = str((task[module] or {}).get('command', '')) if isinstance(task[module], dict) else ''
    if READ_ONLY_FILTER.match(command):
        return ''
    conditions = task.get('when') or []
    conditions = conditions if isinstance(conditions, list) else [conditions]
    if any(NOT_IN_CHECK_MODE.match(str(condition)) for condition in conditions):
        return ''
    if task.get('check_mode') is True:
        return ''
    return f'{task.get("name")!r}: k8s_exec of {command!r} neither passes k8s_readonly_command nor skips check mode'


def _conditions(node: dict[str, Any]) -> list[Any]:
    when = node.get('when') or []
    return when if isinstance(when, list) else [when]


def tasks_with_block_conditions(node: Any, inherited: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
    """Every task, with the `when` of the blocks around it added to its own."""
    if isinstance(node, list):
        for item in node:
            yield from tasks_with_block_conditions(item, inherited)
    elif isinstance(node, dict):
        if any(key in node for key in TASK_LISTS):
            inner = (*inherited, *_conditions(node))
            for key in TASK_LISTS:
                yield from tasks_with_block_conditions(node.get(key), inner)
        else:
            yield {**node, 'when': [*inherited, *_conditions(node)]}


def exec_findings(path: Path) -> list[str]:
    found = [unguarded_exec(task) for task in tasks_with_block_conditions(yaml.safe_load(path.read_text()))]
    return [reason for reason in found if reason]


def test_the_exec_check_sees_an_unguarded_exec_and_passes_the_guarded_ones():
    read = {'name': 'Health', 'kubernetes.core.k8s_exec': {'command': "{{ argv | sre.runbooks.k8s_readonly_command }}"}}
    write = {'name': 'Restore', 'kubernetes.core.k8s_exec': {'command': '{{ restore_argv | join(" ") }}'}}
    assert unguarded_exec(read) == ''
    assert 'neither passes' in unguarded_exec(write)
    assert unguarded_exec({**write, 'when': ['plan.needed', 'not ansible_check_mode']}) == ''
    assert 'neither passes' in unguarded_exec({**write, 'check_mode': False})
    assert 'neither passes' in unguarded_exec({**write, 'when': 'force or not ansible_check_mode'})
    padded = {'kubernetes.core.k8s_exec': {'command': "{{ a | sre.runbooks.k8s_readonly_command }} {{ more }}"}}
    assert 'neither passes' in unguarded_exec(padded)
    block = [{'name': 'Swap', 'when': 'not ansible_check_mode', 'block': [write]}]
    assert [unguarded_exec(task) for task in tasks_with_block_conditions(block)] == ['']


@pytest.mark.parametrize('path', task_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_exec_in_a_pod_runs_unguarded_in_check_mode(path):
    found = exec_findings(path)
    assert not found, f'{path.relative_to(ROOT)}: {found}'
