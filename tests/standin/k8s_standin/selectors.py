# SPDX-License-Identifier: GPL-3.0-or-later
"""Label and field selectors for the Kubernetes API stand-in's list and watch requests."""

from __future__ import annotations

import re

from .errors import ApiError

SET_TERM = re.compile(r'^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$')
CMP_TERM = re.compile(r'^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)\s*$')
EXISTS_TERM = re.compile(r'^\s*(!?)([\w./-]+)\s*$')
FIELDS = (
    'metadata.name',
    'metadata.namespace',
    'status.phase',
    'spec.nodeName',
    'involvedObject.name',
    'involvedObject.kind',
    'involvedObject.uid',
    'type',
    'reason',
)


def _split(text: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {'(': 1, ')': -1}.get(char, 0)
        if char == ',' and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [term for term in terms if term.strip()]


def _label_term(term: str):
    match = SET_TERM.match(term)
    if match:
        key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(',')}
        if op == 'in':
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    match = CMP_TERM.match(term)
    if match:
        key, op, value = match.groups()
        if op == '!=':
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    match = EXISTS_TERM.match(term)
    if match:
        negate, key = match.groups()
        return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
    raise ApiError(400, f'unable to parse requirement: {term!r}')


def label_matcher(text: str | None):
    """A predicate over an object for a labelSelector string."""
    tests = [_label_term(term) for term in _split(text or '')]
    return lambda obj: all(test(obj.get('metadata', {}).get('labels') or {}) for test in tests)


def _field_value(obj: dict, path: str) -> str:
    value = obj
    for part in path.split('.'):
        value = value.get(part, '') if isinstance(value, dict) else ''
    return str(value)


def _field_term(term: str):
    match = CMP_TERM.match(term)
    if not match or match.group(1) not in FIELDS:
        raise ApiError(400, f'"{term}" is not a known field selector: only "metadata.name", "metadata.namespace"')
    path, op, value = match.groups()
    if op == '!=':
        return lambda obj: _field_value(obj, path) != value
    return lambda obj: _field_value(obj, path) == value


def field_matcher(text: str | None):
    """A predicate over an object for a fieldSelector string."""
    tests = [_field_term(term) for term in _split(text or '')]
    return lambda obj: all(test(obj) for test in tests)


def selector_matcher(selector: dict | None):
    """A predicate over labels for a LabelSelector object (matchLabels, matchExpressions)."""
    selector = selector or {}
    terms = [f'{k}={v}' for k, v in (selector.get('matchLabels') or {}).items()]
    for expr in selector.get('matchExpressions') or []:
        op = expr['operator']
        if op in ('In', 'NotIn'):
            terms.append(f'{expr["key"]} {op.lower()} ({",".join(expr.get("values", []))})')
        else:
            terms.append(('' if op == 'Exists' else '!') + expr['key'])
    return label_matcher(','.join(terms))
