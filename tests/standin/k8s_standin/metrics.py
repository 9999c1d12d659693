# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics API (metrics.k8s.io/v1beta1) of the Kubernetes API stand-in, as metrics-server serves it
to `kubectl top`: PodMetrics of every running pod and NodeMetrics of every node, computed from the store
at each request, read-only. It is served only while a test has enabled it with a usage table
(/_standin/metrics); otherwise discovery does not list it and its paths answer 404, as on a cluster
without metrics-server."""

from __future__ import annotations

import fnmatch

from .errors import ApiError, not_found
from .resources import by_rid
from .selectors import field_matcher, label_matcher
from .store import now

PODS, NODES = by_rid('pods'), by_rid('nodes')
DEFAULT_POD = {'cpu': '5m', 'memory': '64Mi'}
DEFAULT_NODE = {'cpu': '250m', 'memory': '1024Mi'}
NOT_SERVED = 'the server could not find the requested resource'


def _usage(table: dict, name: str, default: dict) -> dict:
    """The usage of the first glob of the table that matches name, else the default."""
    for glob, usage in (table or {}).items():
        if fnmatch.fnmatchcase(name, glob):
            return {'cpu': str(usage.get('cpu', default['cpu'])), 'memory': str(usage.get('memory', default['memory']))}
    return dict(default)


def _meta(obj: dict) -> dict:
    meta = obj['metadata']
    kept = {'name': meta['name'], 'creationTimestamp': now(), 'labels': meta.get('labels') or {}}
    if meta.get('namespace'):
        kept['namespace'] = meta['namespace']
    return kept


def pod_metrics(state, pod: dict) -> dict:
    usage = _usage(state.metrics.get('pods'), pod['metadata']['name'], DEFAULT_POD)
    return {
        'kind': 'PodMetrics',
        'apiVersion': 'metrics.k8s.io/v1beta1',
        'metadata': _meta(pod),
        'timestamp': now(),
        'window': '15s',
        'containers': [{'name': c['name'], 'usage': dict(usage)} for c in pod['spec'].get('containers', [])],
    }


def node_metrics(state, node: dict) -> dict:
    return {
        'kind': 'NodeMetrics',
        'apiVersion': 'metrics.k8s.io/v1beta1',
        'metadata': _meta(node),
        'timestamp': now(),
        'window': '15s',
        'usage': _usage(state.metrics.get('nodes'), node['metadata']['name'], DEFAULT_NODE),
    }


def _running(pod: dict) -> bool:
    return pod.get('status', {}).get('phase') == 'Running'


def answer(state, target, query) -> dict:
    """GET of a metrics path: one object or a list (labelSelector and fieldSelector honoured)."""
    if state.metrics is None:
        raise ApiError(404, NOT_SERVED)
    pods = target.res.kind == 'PodMetrics'
    source, make = (PODS, pod_metrics) if pods else (NODES, node_metrics)
    objects = [obj for obj in state.store.list(source, target.ns or None) if not pods or _running(obj)]
    if target.name:
        found = next((obj for obj in objects if obj['metadata']['name'] == target.name), None)
        if found is None:
            raise not_found(target.res, target.name)
        return make(state, found)
    labels, fields = label_matcher(query.get('labelSelector')), field_matcher(query.get('fieldSelector'))
    return {
        'kind': f'{target.res.kind}List',
        'apiVersion': 'metrics.k8s.io/v1beta1',
        'metadata': {},
        'items': [make(state, obj) for obj in objects if labels(obj) and fields(obj)],
    }
