# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the Kubernetes API stand-in's patch flavours and selectors (tests/standin/k8s_standin):
the semantics API-contract tests rely on, checked without a server."""

from __future__ import annotations

import pytest

from tests.standin.k8s_standin.errors import ApiError
from tests.standin.k8s_standin.patch import apply_patch, json_patch, merge_patch, strategic_merge
from tests.standin.k8s_standin.selectors import field_matcher, label_matcher, selector_matcher
from tests.standin.k8s_standin.store import canonical

POD_SPEC = {
    'containers': [
        {'name': 'app', 'image': 'app:v1', 'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '2'}]},
        {'name': 'side', 'image': 'side:v1'},
    ],
    'volumes': [{'name': 'data', 'emptyDir': {}}],
}


def test_strategic_merge_keys_containers_by_name_and_orders():
    patch = {
        '$setElementOrder/containers': [{'name': 'side'}, {'name': 'app'}],
        'containers': [{'name': 'app', 'image': 'app:v2', 'env': [{'name': 'B', '$patch': 'delete'}]}],
    }
    result = strategic_merge(POD_SPEC, patch)
    assert [c['name'] for c in result['containers']] == ['side', 'app']
    assert result['containers'][1] == {'name': 'app', 'image': 'app:v2', 'env': [{'name': 'A', 'value': '1'}]}
    assert result['volumes'] == POD_SPEC['volumes']


def test_strategic_merge_null_deletes_and_patch_replace():
    assert strategic_merge({'a': 1, 'b': {'c': 2}}, {'a': None, 'b': {'$patch': 'replace', 'd': 3}}) == {'b': {'d': 3}}
    assert strategic_merge({'args': ['x', 'y']}, {'args': ['z']}) == {'args': ['z']}


def test_merge_patch_rfc7386():
    assert merge_patch({'a': 'b', 'c': {'d': 'e', 'f': 'g'}}, {'a': 'z', 'c': {'f': None}}) == {
        'a': 'z',
        'c': {'d': 'e'},
    }
    assert merge_patch({'list': [1, 2]}, {'list': [3]}) == {'list': [3]}


def test_json_patch_rfc6902_ops():
    doc = {'metadata': {'annotations': {'a/b': '1'}}, 'spec': {'list': [1, 2]}}
    ops = [
        {'op': 'test', 'path': '/metadata/annotations/a~1b', 'value': '1'},
        {'op': 'add', 'path': '/spec/list/-', 'value': 3},
        {'op': 'add', 'path': '/spec/list/0', 'value': 0},
        {'op': 'replace', 'path': '/spec/list/1', 'value': 9},
        {'op': 'copy', 'from': '/spec/list', 'path': '/spec/copy'},
        {'op': 'move', 'from': '/metadata/annotations/a~1b', 'path': '/spec/moved'},
        {'op': 'remove', 'path': '/spec/list/3'},
    ]
    assert json_patch(doc, ops) == {
        'metadata': {'annotations': {}},
        'spec': {'list': [0, 9, 2], 'copy': [0, 9, 2, 3], 'moved': '1'},
    }
    with pytest.raises(ApiError) as failed:
        json_patch(doc, [{'op': 'test', 'path': '/spec/list/0', 'value': 5}])
    assert failed.value.code == 422


def test_unknown_patch_type_is_415():
    with pytest.raises(ApiError) as refused:
        apply_patch('application/apply-patch+yaml', {}, {})
    assert refused.value.code == 415


@pytest.mark.parametrize(
    ('selector', 'expected'),
    [
        ('app=web', True),
        ('app==web,tier!=db', True),
        ('app in (web, api),!canary', True),
        ('app notin (web)', False),
        ('tier', True),
        ('!tier', False),
        ('app=api', False),
    ],
)
def test_label_selector(selector, expected):
    obj = {'metadata': {'labels': {'app': 'web', 'tier': 'front'}}}
    assert label_matcher(selector)(obj) is expected


def test_field_and_object_selectors():
    pod = {'metadata': {'name': 'p', 'namespace': 'n', 'labels': {'app': 'web'}}, 'status': {'phase': 'Running'}}
    assert field_matcher('metadata.name=p,status.phase!=Failed')(pod)
    assert not field_matcher('metadata.namespace=other')(pod)
    expressions = {'matchLabels': {'app': 'web'}, 'matchExpressions': [{'key': 'x', 'operator': 'DoesNotExist'}]}
    assert selector_matcher(expressions)(pod)


def test_canonical_drops_nulls_and_empties():
    template = {
        'metadata': {'creationTimestamp': None, 'labels': {'app': 'a'}},
        'spec': {'containers': [{'name': 'c', 'resources': {}, 'ports': []}]},
    }
    assert canonical(template) == {'metadata': {'labels': {'app': 'a'}}, 'spec': {'containers': [{'name': 'c'}]}}
