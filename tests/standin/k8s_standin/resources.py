# SPDX-License-Identifier: GPL-3.0-or-later
"""The resource types the Kubernetes API stand-in serves, as discovery lists them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ('create', 'delete', 'get', 'list', 'patch', 'update', 'watch')
    categories: tuple[str, ...] = field(default=())
    # Served from a CustomResourceDefinition: the API server refuses strategic-merge patches of it (415).
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def rid(self) -> str:
        """The store key of this type: plural.group, as kubectl names it."""
        return f'{self.plural}.{self.group}' if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


ALL = ('all',)
METRICS = 'metrics.k8s.io'
CERT_MANAGER = 'cert-manager.io'
READ_ONLY = ('get', 'list')
RESOURCES = (
    Resource('', 'v1', 'namespaces', 'Namespace', namespaced=False, short_names=('ns',), subresources=('status',)),
    Resource('', 'v1', 'nodes', 'Node', namespaced=False, short_names=('no',), subresources=('status',)),
    Resource('', 'v1', 'pods', 'Pod', short_names=('po',), subresources=('log', 'exec', 'status'), categories=ALL),
    Resource('', 'v1', 'events', 'Event', short_names=('ev',)),
    Resource('', 'v1', 'secrets', 'Secret'),
    Resource('', 'v1', 'configmaps', 'ConfigMap', short_names=('cm',)),
    Resource('', 'v1', 'services', 'Service', short_names=('svc',), subresources=('status',), categories=ALL),
    Resource(
        '', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', short_names=('pvc',), subresources=('status',)
    ),
    Resource(
        'apps',
        'v1',
        'deployments',
        'Deployment',
        short_names=('deploy',),
        subresources=('status', 'scale'),
        categories=ALL,
    ),
    Resource(
        'apps', 'v1', 'replicasets', 'ReplicaSet', short_names=('rs',), subresources=('status', 'scale'), categories=ALL
    ),
    Resource(
        'apps',
        'v1',
        'statefulsets',
        'StatefulSet',
        short_names=('sts',),
        subresources=('status', 'scale'),
        categories=ALL,
    ),
    Resource('batch', 'v1', 'jobs', 'Job', subresources=('status',), categories=ALL),
    Resource('batch', 'v1', 'cronjobs', 'CronJob', short_names=('cj',), subresources=('status',), categories=ALL),
    Resource(
        'autoscaling',
        'v2',
        'horizontalpodautoscalers',
        'HorizontalPodAutoscaler',
        short_names=('hpa',),
        subresources=('status',),
        categories=ALL,
    ),
    Resource('networking.k8s.io', 'v1', 'ingresses', 'Ingress', short_names=('ing',), subresources=('status',)),
    # cert-manager's CRD (v1): status is a subresource, as in the CRD cert-manager installs.
    Resource(
        CERT_MANAGER,
        'v1',
        'certificates',
        'Certificate',
        short_names=('cert', 'certs'),
        subresources=('status',),
        categories=('cert-manager',),
        custom=True,
    ),
    # Served by metrics-server on a cluster: computed from the live pods and nodes, read-only, and only
    # while a test has enabled them (/_standin/metrics), so that "no metrics API" can be tested too.
    Resource(METRICS, 'v1beta1', 'pods', 'PodMetrics', verbs=READ_ONLY),
    Resource(METRICS, 'v1beta1', 'nodes', 'NodeMetrics', namespaced=False, verbs=READ_ONLY),
)
# (group, version) pairs in discovery order; a group whose version is not listed here is not served.
GROUPS = (
    ('apps', 'v1'),
    ('batch', 'v1'),
    ('autoscaling', 'v2'),
    ('networking.k8s.io', 'v1'),
    (CERT_MANAGER, 'v1'),
    (METRICS, 'v1beta1'),
)


def find(group: str, version: str, plural: str) -> Resource | None:
    for res in RESOURCES:
        if (res.group, res.version, res.plural) == (group, version, plural):
            return res
    return None


def by_kind(api_version: str, kind: str) -> Resource | None:
    for res in RESOURCES:
        if (res.api_version, res.kind) == (api_version, kind):
            return res
    return None


def group_version(group: str) -> str | None:
    """The version the stand-in serves of a group (None: not served)."""
    return next((version for name, version in GROUPS if name == group), None)


def by_rid(rid: str) -> Resource:
    return next(res for res in RESOURCES if res.rid == rid)
