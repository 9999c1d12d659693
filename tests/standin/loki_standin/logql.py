# SPDX-License-Identifier: GPL-3.0-or-later
"""The LogQL the Loki stand-in understands: the runbook's queries (playcode-runbook.md 4.3) and
their kind - a stream selector with label matchers, then line filters, ``| json`` and label
filters. Anything else raises LogQLError, which the server answers as Loki does: HTTP 400.

Semantics follow Loki's pipeline (pkg/logql/log): ``| json`` flattens nested keys with ``_`` and
labels a line that is not a JSON object ``__error__="JSONParserErr"`` instead of dropping it; a
label filter keeps a line that already has an error (only a filter on ``__error__`` removes it); a
numeric filter drops a line without the label and flags ``LabelFilterErr`` on a value that is not
a number."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>\|=|\|~|!=|!~|=~|>=|<=|==|=|>|<|\||\{|\}|,)'
    r'|(?P<number>-?\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))'
)
LINE_FILTERS = ('|=', '!=', '|~', '!~')
MATCHERS = ('=', '!=', '=~', '!~')
COMPARE: dict[str, Callable[[float, float], bool]] = {
    '==': operator.eq,
    '=': operator.eq,
    '!=': operator.ne,
    '>': operator.gt,
    '>=': operator.ge,
    '<': operator.lt,
    '<=': operator.le,
}
ERROR = '__error__'


class LogQLError(ValueError):
    """A query the stand-in cannot run (Loki would answer 400 for a bad one)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            if text[position:].strip():
                raise LogQLError(f'parse error at col {position + 1}: unexpected {text[position : position + 10]!r}')
            break
        kind = match.lastgroup or ''
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _unquote(token: str) -> str:
    return token[1:-1] if token.startswith('`') else json.loads(token)


def _match(op: str, value: str, wanted: str) -> bool:
    if op in ('=', '=='):
        return value == wanted
    if op == '!=':
        return value != wanted
    found = re.fullmatch(wanted, value) is not None
    return found if op == '=~' else not found


@dataclass
class Query:
    selector: list[tuple[str, str, str]] = field(default_factory=list)
    stages: list[tuple[str, Any]] = field(default_factory=list)

    def selects(self, labels: dict[str, str]) -> bool:
        return all(_match(op, labels.get(name, ''), value) for name, op, value in self.selector)

    def run(self, line: str, labels: dict[str, str]) -> dict[str, str] | None:
        """The entry's labels after the pipeline, or None when the pipeline drops it."""
        labels = dict(labels)
        for kind, stage in self.stages:
            if kind == 'line':
                op, text = stage
                found = (text in line) if op in ('|=', '!=') else re.search(text, line) is not None
                keep = found if op in ('|=', '|~') else not found
            elif kind == 'json':
                keep = _json(line, labels)
            else:
                keep = _label_filter(stage, labels)
            if not keep:
                return None
        return labels


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.at, self.text = _tokens(text), 0, text

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ('end', '')

    def take(self, kind: str | None = None, values: tuple[str, ...] = ()) -> str:
        got_kind, got = self.peek()
        if (kind and got_kind != kind) or (values and got not in values):
            wanted = ' or '.join(values) or kind
            raise LogQLError(f'parse error: expected {wanted}, found {got or "the end"!r} in {self.text!r}')
        self.at += 1
        return got

    def selector(self) -> list[tuple[str, str, str]]:
        self.take('op', ('{',))
        matchers = []
        while True:
            name = self.take('ident')
            op = self.take('op', MATCHERS)
            matchers.append((name, op, _unquote(self.take('string'))))
            if self.take('op', (',', '}')) == '}':
                return matchers

    def stage(self) -> tuple[str, Any]:
        op = self.take('op', (*LINE_FILTERS, '|'))
        if op != '|':
            return 'line', (op, _unquote(self.take('string')))
        name = self.take('ident')
        if name == 'json':
            if self.peek()[0] == 'ident':
                raise LogQLError('the stand-in supports | json without parameters only')
            return 'json', None
        label_op = self.take('op', (*COMPARE, '=~', '!~'))
        kind, value = self.peek()
        if kind not in ('string', 'number'):
            raise LogQLError(f'parse error: a label filter on {name} needs a string or a number')
        self.at += 1
        if kind == 'number' and label_op in ('=~', '!~'):
            raise LogQLError(f'parse error: {label_op} needs a string')
        return 'label', (name, label_op, float(value) if kind == 'number' else _unquote(value))


def parse(text: str) -> Query:
    """The query, or LogQLError: metric queries (rate, count_over_time, ...) are not supported."""
    if not text.strip().startswith('{'):
        raise LogQLError(f'the Loki stand-in runs log queries only (a stream selector first), not {text!r}')
    parser = _Parser(text)
    query = Query(selector=parser.selector())
    if not any(op in ('=', '=~') for _name, op, _value in query.selector):
        raise LogQLError('parse error: queries require at least one regexp or equality matcher')
    while parser.peek()[0] != 'end':
        query.stages.append(parser.stage())
    return query


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f'{prefix}_{key}' if prefix else str(key), item, out)
    elif isinstance(value, list):
        return  # Loki's json stage skips arrays
    elif isinstance(value, bool):
        out[prefix] = 'true' if value else 'false'
    elif value is None:
        out[prefix] = ''
    else:
        out[prefix] = str(value)


def _json(line: str, labels: dict[str, str]) -> bool:
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        labels.setdefault(ERROR, 'JSONParserErr')
        return True
    extracted: dict[str, str] = {}
    _flatten('', parsed, extracted)
    for key, value in extracted.items():
        name = re.sub(r'[^A-Za-z0-9_]', '_', key)
        labels[f'{name}_extracted' if name in labels else name] = value
    return True


def _label_filter(stage: tuple[str, str, Any], labels: dict[str, str]) -> bool:
    name, op, wanted = stage
    if name == ERROR:
        return _match(op, labels.get(ERROR, ''), str(wanted))
    if ERROR in labels:
        return True  # only a filter on __error__ removes a line with an error
    if isinstance(wanted, str):
        return _match(op, labels.get(name, ''), wanted)
    if name not in labels:
        return False
    try:
        value = float(labels[name])
    except ValueError:
        labels[ERROR] = 'LabelFilterErr'
        return True
    return COMPARE[op](value, wanted)
