# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read mongosh's answers for the PlayCode MongoDB index listing and slow-query profiling
(runbook P12, section 5.3). The role prints each answer with ``EJSON.stringify`` (relaxed
Extended JSON, one document a line), so these filters parse JSON, never mongosh's
JavaScript-like ``printjson`` view; canonical EJSON numbers (``{"$numberInt": "1"}``) are
read too."""

from __future__ import annotations

import json
from typing import Any

from ansible.errors import AnsibleFilterError

LEVELS = {0: 'off', 1: 'slow operations', 2: 'all operations'}
EJSON_NUMBERS = ('$numberInt', '$numberLong', '$numberDouble', '$numberDecimal')


def _number(value: Any) -> Any:
    """A plain number from relaxed or canonical EJSON; anything else unchanged."""
    if isinstance(value, dict) and len(value) == 1:
        key, text = next(iter(value.items()))
        if key in EJSON_NUMBERS:
            number = float(text)
            return int(number) if number.is_integer() else number
    return value


def _documents(stdout: Any, what: str) -> list[dict]:
    if not isinstance(stdout, str):
        raise AnsibleFilterError(f'{what}: expected mongosh output as text, got {type(stdout).__name__}')
    documents = []
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line.startswith('{'):
            continue
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AnsibleFilterError(
                f'{what}: mongosh printed a line that is not JSON ({error}): {line[:200]}'
            ) from error
    if not documents:
        raise AnsibleFilterError(f'{what}: mongosh printed no JSON document; its output was: {stdout.strip()[:400]!r}')
    return documents


def _key(spec: Any) -> str:
    if not isinstance(spec, dict):
        return str(spec)
    return '{' + ', '.join(f'{field}: {json.dumps(_number(order))}' for field, order in spec.items()) + '}'


def _index(document: dict) -> dict:
    index = {'name': document.get('name', '?'), 'key': _key(document.get('key', {}))}
    flags = [flag for flag in ('unique', 'sparse', 'hidden') if document.get(flag)]
    if 'expireAfterSeconds' in document:
        flags.append(f'ttl {_number(document["expireAfterSeconds"])}s')
    if 'partialFilterExpression' in document:
        flags.append('partial')
    index['flags'] = flags
    index['line'] = ' '.join([index['name'], index['key'], *flags])
    return index


def mongo_profiling_indexes(stdout: Any) -> list[dict]:
    """Per collection (sorted): {collection, indexes: [{name, key, flags, line}], line}."""
    report = []
    for document in _documents(stdout, 'index listing'):
        if 'collection' not in document or not isinstance(document.get('indexes'), list):
            raise AnsibleFilterError(
                f'index listing: expected {{collection, indexes}}, got {json.dumps(document)[:200]}'
            )
        indexes = [_index(each) for each in document['indexes']]
        line = f'{document["collection"]}: ' + ('; '.join(each['line'] for each in indexes) or 'no index')
        report.append({'collection': document['collection'], 'indexes': indexes, 'line': line})
    return sorted(report, key=lambda each: each['collection'])


def mongo_profiling_status(stdout: Any) -> dict:
    """The profiler's state from getProfilingStatus() (or setProfilingLevel()'s answer, whose
    ``was`` is the level before): {level, slowms, sample_rate}."""
    document = _documents(stdout, 'profiling status')[-1]
    if _number(document.get('ok', 1)) != 1:
        raise AnsibleFilterError(f'profiling status: the server answered {json.dumps(document)[:300]}')
    if 'was' not in document or 'slowms' not in document:
        raise AnsibleFilterError(f'profiling status: expected was and slowms, got {json.dumps(document)[:300]}')
    return {
        'level': int(_number(document['was'])),
        'slowms': int(_number(document['slowms'])),
        'sample_rate': _number(document.get('sampleRate', 1)),
    }


def mongo_profiling_plan(status: dict, level: Any, slowms: Any) -> dict:
    """{needed, message}: whether the profiling level (and slowms) differ from the wanted ones.
    A level of -1 leaves the profiler as it is."""
    try:
        level, slowms = int(level), int(slowms)
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f'profiling level and slowms must be integers: {error}') from error
    if level not in (-1, *LEVELS):
        raise AnsibleFilterError(f'profiling level {level} is not one of 0 (off), 1 (slow operations), 2 (all)')
    if slowms < 0:
        raise AnsibleFilterError(f'slowms {slowms} must be 0 or more')
    now = f'level {status["level"]} ({LEVELS.get(status["level"], "?")}), slowms {status["slowms"]}'
    if level == -1:
        return {'needed': False, 'message': f'profiler at {now}; left as it is (-e profiling_level=1 to change)'}
    if status['level'] == level and status['slowms'] == slowms:
        return {'needed': False, 'message': f'profiler already at {now}'}
    return {
        'needed': True,
        'message': f'level {status["level"]} → {level} (slowms {status["slowms"]} → {slowms})'
        if status['slowms'] != slowms
        else f'level {status["level"]} → {level} (slowms {slowms})',
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'mongo_profiling_indexes': mongo_profiling_indexes,
            'mongo_profiling_status': mongo_profiling_status,
            'mongo_profiling_plan': mongo_profiling_plan,
        }
