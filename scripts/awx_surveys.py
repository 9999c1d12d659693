# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the AWX surveys from the roles' argument specs (issue #17).

awx/surveys.yml declares, per job template (by its playbook) and per workflow (by its
name), which variables the operator answers and which argument-spec option each one
is. This script turns every question into an AWX survey item with every field spelled
out (type, default, choices, required, min, max, ...) and writes it as `survey_spec`
and `survey_enabled` into awx/configs/controller_templates.yml and
controller_workflows.yml, keeping everything else in those files as it is.

    python scripts/awx_surveys.py --write   # rewrite the surveys
    python scripts/awx_surveys.py --check   # exit 1, naming each difference, if stale
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
AWX = ROOT / 'awx'
MAPPING = AWX / 'surveys.yml'
CONFIGS = {
    'job_templates': (AWX / 'configs' / 'controller_templates.yml', 'controller_templates', 'playbook'),
    'workflows': (AWX / 'configs' / 'controller_workflows.yml', 'controller_workflows', 'name'),
}
TEXT_MAX = 1024
NUMBER_MAX = 1_000_000
TYPES = {'str': 'text', 'path': 'text', 'raw': 'text', 'list': 'text', 'int': 'integer', 'float': 'float'}


class SurveyError(ValueError):
    """A question that its argument spec cannot back."""


def load_option(ref: str, root: Path = ROOT) -> dict[str, Any]:
    """The spec of one option: role.entry_point.option, or module:name.option."""
    if ref.startswith('module:'):
        module, _sep, option = ref[len('module:') :].partition('.')
        source = (root / 'plugins' / 'modules' / f'{module}.py').read_text()
        tree = ast.parse(source)
        docs = next(
            node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'DOCUMENTATION'
        )
        options = yaml.safe_load(docs).get('options') or {}
    else:
        role, entry, option = [*ref.split('.'), '', ''][:3]
        path = root / 'roles' / role / 'meta' / 'argument_specs.yml'
        if not path.is_file():
            raise SurveyError(f'{ref}: no {path.relative_to(root)}')
        entries = yaml.safe_load(path.read_text()).get('argument_specs') or {}
        options = (entries.get(entry) or {}).get('options') or {}
    if option not in options:
        raise SurveyError(f'{ref}: the argument spec has no option {option!r}')
    return options[option]


def _text(value: Any) -> str:
    """A description as one line of plain text (module docs' C(...), V(...) unwrapped)."""
    text = ' '.join(value) if isinstance(value, list) else str(value or '')
    return re.sub(r'\b[CVOIB]\(([^)]*)\)', r'\1', text)


def _default(spec_type: str, value: Any) -> Any:
    if value is None:
        return ''
    if spec_type == 'bool':
        return 'true' if value else 'false'
    if spec_type == 'list':
        return ','.join(str(item) for item in value)
    if spec_type in ('int', 'float'):
        return value
    return str(value)


def _choices(question: dict[str, Any], option: dict[str, Any]) -> list[str]:
    """The survey's choices: the spec's (bool: true/false), narrowed by the mapping."""
    spec_choices = ['true', 'false'] if option.get('type') == 'bool' else option.get('choices')
    declared = question.get('choices')
    if declared is not None and spec_choices is not None:
        extra = [choice for choice in declared if choice not in spec_choices]
        if extra:
            raise SurveyError(f'{question["variable"]}: choices {extra} are not in the argument spec {spec_choices}')
    # An empty choice cannot be offered: leaving the question unanswered gives it.
    return [str(choice) for choice in (declared if declared is not None else spec_choices or []) if choice != '']


def survey_item(question: dict[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """One AWX survey item, every field spelled out as the controller stores it."""
    option = load_option(question['spec'], root)
    spec_type = option.get('type', 'str')
    choices = _choices(question, option)
    if spec_type == 'dict':
        raise SurveyError(f'{question["variable"]}: a dict option cannot be a survey question')
    default = _default(spec_type, option.get('default'))
    if choices:
        kind = 'multiselect' if spec_type == 'list' else 'multiplechoice'
        if kind == 'multiselect':
            default = '\n'.join(default.split(',')) if default else ''
        elif default not in choices:
            default = ''
        low, high = 0, 0
    else:
        kind = TYPES[spec_type]
        low = question.get('min', 0)
        high = question.get('max', TEXT_MAX if kind == 'text' else NUMBER_MAX)
    return {
        'question_name': question['question'],
        'question_description': _text(option.get('description')),
        'required': bool(option.get('required')) or bool(question.get('required')),
        'type': kind,
        'variable': question['variable'],
        'min': low,
        'max': high,
        'default': default,
        'choices': choices if choices else '',
        'new_question': True,
    }


def survey(title: str, questions: list[dict[str, Any]], root: Path = ROOT) -> dict[str, Any]:
    """A survey_spec; {} when nothing is asked (the controller refuses an empty spec)."""
    if not questions:
        return {}
    return {
        'name': title,
        'description': 'Generated by scripts/awx_surveys.py from awx/surveys.yml and the argument specs',
        'spec': [survey_item(question, root) for question in questions],
    }


def expected(mapping: dict[str, Any], root: Path = ROOT) -> dict[str, dict[str, dict[str, Any]]]:
    """Per config kind, per key (playbook or workflow name): the survey it must have."""
    return {
        kind: {key: survey(key, questions or [], root) for key, questions in (mapping.get(kind) or {}).items()}
        for kind in CONFIGS
    }


def problems(mapping: dict[str, Any], configs: dict[str, dict[str, Any]], root: Path = ROOT) -> list[str]:
    """Every way the configs' surveys differ from what the mapping and the specs make."""
    found: list[str] = []
    try:
        wanted = expected(mapping, root)
    except (SurveyError, KeyError, OSError) as error:
        return [f'awx/surveys.yml: {error}']
    for kind, (path, top, key) in CONFIGS.items():
        items = {item[key]: item for item in (configs[kind].get(top) or [])}
        for name in sorted(set(wanted[kind]) - set(items)):
            found.append(f'{path.name}: no entry for {name} (in awx/surveys.yml)')
        for name, item in items.items():
            if name not in wanted[kind]:
                found.append(f'{path.name}: {name} is not in awx/surveys.yml {kind}')
                continue
            have = _plain(item.get('survey_spec') or {})
            want = wanted[kind][name]
            asked = {q.get('variable') for q in have.get('spec', [])}
            mapped = {q['variable'] for q in want.get('spec', [])}
            for variable in sorted(asked - mapped):
                found.append(f'{path.name}: {name} asks {variable}, not mapped in awx/surveys.yml')
            for variable in sorted(mapped - asked):
                found.append(f'{path.name}: {name} does not ask {variable} (awx/surveys.yml maps it)')
            if asked == mapped and have != want:
                found.append(f'{path.name}: the survey of {name} differs from its argument specs (run --write)')
            if bool(item.get('survey_enabled')) != bool(want):
                found.append(f'{path.name}: {name} survey_enabled must be {bool(want)}')
    return found


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _yaml() -> YAML:
    rt = YAML()
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.explicit_start = True
    rt.preserve_quotes = True
    rt.width = 110
    return rt


def render(mapping: dict[str, Any], root: Path = ROOT) -> dict[Path, str]:
    """The config files' text with their surveys written in."""
    wanted = expected(mapping, root)
    out: dict[Path, str] = {}
    for kind, (path, top, key) in CONFIGS.items():
        rt = _yaml()
        document = rt.load(path.read_text())
        for item in document.get(top) or []:
            if item[key] in wanted[kind]:
                want = copy.deepcopy(wanted[kind][item[key]])
                item['survey_enabled'] = bool(want)
                item['survey_spec'] = want
        buffer = io.StringIO()
        rt.dump(document, buffer)
        # ruamel leaves a space where it folds a long plain scalar; YAML drops it anyway.
        out[path] = ''.join(line.rstrip() + '\n' for line in buffer.getvalue().splitlines())
    return out


def load_all(root: Path = ROOT) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    mapping = yaml.safe_load(MAPPING.read_text()) or {}
    configs = {kind: yaml.safe_load(path.read_text()) or {} for kind, (path, _top, _key) in CONFIGS.items()}
    return mapping, configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument('--write', action='store_true', help='write the surveys into awx/configs')
    action.add_argument('--check', action='store_true', help='fail when a survey is not what --write makes')
    args = parser.parse_args(argv)
    mapping, configs = load_all()
    if args.write:
        for path, text in render(mapping).items():
            if path.read_text() != text:
                path.write_text(text)
                print(f'wrote {path.relative_to(ROOT)}')
        mapping, configs = load_all()
    found = problems(mapping, configs)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
