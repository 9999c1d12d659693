# SPDX-License-Identifier: GPL-3.0-or-later
"""The three PATCH flavours the Kubernetes API stand-in accepts: strategic merge (lists keyed by name
for the pod fields kubectl patches), JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy

from .errors import ApiError

MERGE_KEYS = {
    'containers': 'name',
    'initContainers': 'name',
    'ephemeralContainers': 'name',
    'env': 'name',
    'volumes': 'name',
    'volumeMounts': 'name',
    'imagePullSecrets': 'name',
    'conditions': 'type',
    'ownerReferences': 'uid',
    'ports': 'containerPort',
}
DIRECTIVES = ('$patch', '$retainKeys')


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list) -> str | None:
    key = MERGE_KEYS.get(field)
    if key == 'containerPort' and items and isinstance(items[0], dict) and 'containerPort' not in items[0]:
        return 'port'
    return key


def _merge_list(field: str, original: list, patch: list) -> list:
    key = _merge_key(field, patch or original)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    if any(item.get('$patch') == 'replace' for item in patch):
        return [item for item in patch if item.get('$patch') != 'replace']
    result = [copy.deepcopy(item) for item in original]
    for item in patch:
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get('$patch') == 'delete':
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _order(field: str, items: list, order: list) -> list:
    key = _merge_key(field, items)
    if key is None:
        return items
    wanted = [entry.get(key) if isinstance(entry, dict) else entry for entry in order]
    ranked = {value: rank for rank, value in enumerate(wanted)}
    return sorted(items, key=lambda item: ranked.get(item.get(key), len(ranked)))


def _delete_primitives(result: dict, field: str, values: list):
    result[field] = [value for value in result.get(field, []) if value not in values]


def _merge_field(result: dict, key: str, value):
    if value is None or (isinstance(value, dict) and value.get('$patch') == 'delete'):
        result.pop(key, None)
    elif isinstance(value, dict):
        result[key] = strategic_merge(result.get(key), value)
    elif isinstance(value, list):
        result[key] = _merge_list(key, result.get(key) or [], value)
    else:
        result[key] = value


def strategic_merge(original, patch):
    """A strategic merge patch of original, for the fields in MERGE_KEYS; other lists are replaced."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        return {k: copy.deepcopy(v) for k, v in patch.items() if k not in DIRECTIVES}
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key.startswith('$setElementOrder/'):
            orders[key.split('/', 1)[1]] = value
        elif key.startswith('$deleteFromPrimitiveList/'):
            _delete_primitives(result, key.split('/', 1)[1], value)
        elif key not in DIRECTIVES:
            _merge_field(result, key, value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _order(field, result[field], order)
    return result


def _pointer(path: str) -> list[str]:
    if path == '':
        return []
    if not path.startswith('/'):
        raise ApiError(422, f'invalid JSON pointer {path!r}')
    return [part.replace('~1', '/').replace('~0', '~') for part in path[1:].split('/')]


def _parent(doc, parts: list[str], path: str):
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(
                422, f'the server rejected our request due to an error in our request: doc is missing path: "{path}"'
            ) from None
    return node


def _index(node: list, part: str, path: str, allow_end: bool) -> int:
    if part == '-' and allow_end:
        return len(node)
    try:
        index = int(part)
    except ValueError:
        raise ApiError(422, f'invalid array index in "{path}"') from None
    if not 0 <= index <= len(node) - (0 if allow_end else 1):
        raise ApiError(422, f'array index out of bounds in "{path}"')
    return index


def _get(doc, path: str):
    parts = _pointer(path)
    if not parts:
        return doc
    node = _parent(doc, parts, path)
    if isinstance(node, list):
        return node[_index(node, parts[-1], path, False)]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise ApiError(422, f'doc is missing path: "{path}"')
    return node[parts[-1]]


def _remove(doc, path: str):
    parts = _pointer(path)
    node = _parent(doc, parts, path)
    if isinstance(node, list):
        return node.pop(_index(node, parts[-1], path, False))
    if not isinstance(node, dict) or parts[-1] not in node:
        raise ApiError(422, f'doc is missing path: "{path}"')
    return node.pop(parts[-1])


def _add(doc, path: str, value, replace: bool = False):
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    node = _parent(doc, parts, path)
    if isinstance(node, list):
        index = _index(node, parts[-1], path, not replace)
        if replace:
            node[index] = copy.deepcopy(value)
        else:
            node.insert(index, copy.deepcopy(value))
    elif isinstance(node, dict):
        if replace and parts[-1] not in node:
            raise ApiError(422, f'doc is missing key: "{path}"')
        node[parts[-1]] = copy.deepcopy(value)
    else:
        raise ApiError(422, f'doc is missing path: "{path}"')
    return doc


def _apply_op(doc, op: dict):
    kind, path = op.get('op'), op.get('path', '')
    if kind == 'add':
        return _add(doc, path, op.get('value'))
    if kind == 'replace':
        return _add(doc, path, op.get('value'), replace=True)
    if kind == 'remove':
        _remove(doc, path)
        return doc
    if kind == 'test':
        if _get(doc, path) != op.get('value'):
            raise ApiError(422, f'testing value {path} failed')
        return doc
    if kind == 'copy':
        return _add(doc, path, _get(doc, op['from']))
    if kind == 'move':
        return _add(doc, path, _remove(doc, op['from']))
    raise ApiError(422, f'Unexpected kind: {kind}')


def json_patch(doc, ops) -> dict:
    """RFC 6902: add, remove, replace, test, copy, move."""
    if not isinstance(ops, list):
        raise ApiError(400, 'json patch must be a list of operations')
    doc = copy.deepcopy(doc)
    for op in ops:
        doc = _apply_op(doc, op)
    return doc


PATCHERS = {
    'application/strategic-merge-patch+json': strategic_merge,
    'application/merge-patch+json': merge_patch,
    'application/json-patch+json': json_patch,
}


def apply_patch(content_type: str, original: dict, body) -> dict:
    patcher = PATCHERS.get(content_type.split(';', maxsplit=1)[0].strip())
    if patcher is None:
        raise ApiError(
            415,
            f'the body of the request was in an unknown format - accepted media types include: {", ".join(PATCHERS)}',
        )
    result = patcher(original, body)
    if not isinstance(result, dict):
        raise ApiError(422, 'the patched object is not an object')
    return result
