# SPDX-License-Identifier: GPL-3.0-or-later
"""Legacy (unaggregated) discovery and /version of the Kubernetes API stand-in. Served as plain
application/json, client-go falls back to it even when it asks for aggregated discovery first."""

from __future__ import annotations

from aiohttp import web

from .handlers import json_response
from .resources import GROUPS, METRICS, RESOURCES, group_version

VERSION = {
    'major': '1',
    'minor': '31',
    'gitVersion': 'v1.31.4-standin',
    'gitCommit': 'standin',
    'gitTreeState': 'clean',
    'buildDate': '2026-01-01T00:00:00Z',
    'goVersion': 'go1.22.9',
    'compiler': 'gc',
    'platform': 'linux/amd64',
}
SUBRESOURCE_KINDS = {
    'log': ('Pod', ['get']),
    'exec': ('PodExecOptions', ['create', 'get']),
    'scale': ('Scale', ['get', 'patch', 'update']),
}


def _resource_list(group: str, version: str = 'v1') -> dict:
    entries = []
    for res in RESOURCES:
        if (res.group, res.version) != (group, version):
            continue
        entry = {
            'name': res.plural,
            'singularName': res.singular,
            'namespaced': res.namespaced,
            'kind': res.kind,
            'verbs': list(res.verbs),
            'storageVersionHash': res.kind.lower()[:8],
        }
        if res.short_names:
            entry['shortNames'] = list(res.short_names)
        if res.categories:
            entry['categories'] = list(res.categories)
        entries.append(entry)
        for sub in res.subresources:
            kind, verbs = SUBRESOURCE_KINDS.get(sub, (res.kind, ['get', 'patch', 'update']))
            sub_entry = {
                'name': f'{res.plural}/{sub}',
                'singularName': '',
                'namespaced': res.namespaced,
                'kind': kind,
                'verbs': verbs,
            }
            if sub == 'scale':
                sub_entry.update(group='autoscaling', version='v1')
            entries.append(sub_entry)
    return {
        'kind': 'APIResourceList',
        'apiVersion': 'v1',
        'groupVersion': f'{group}/{version}' if group else 'v1',
        'resources': entries,
    }


def _group(name: str) -> dict:
    served = group_version(name)
    version = {'groupVersion': f'{name}/{served}', 'version': served}
    return {'name': name, 'versions': [version], 'preferredVersion': version}


def served_groups(state) -> list[str]:
    """The groups discovery lists: the metrics API only while a test has enabled it (as when
    metrics-server is installed), and not those a test has switched off (as if cert-manager's CRDs
    were not installed), so that clients can be tested without them too."""
    return [
        name
        for name, _versions in GROUPS
        if (name != METRICS or state.metrics is not None) and name not in state.unserved
    ]


async def version(_request):
    return json_response(VERSION)


async def core_versions(request):
    address = f'{request.host}'
    return json_response(
        {
            'kind': 'APIVersions',
            'versions': ['v1'],
            'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0', 'serverAddress': address}],
        }
    )


async def core_resources(_request):
    return json_response(_resource_list(''))


async def group_list(request):
    groups = [_group(g) for g in served_groups(request.app['state'])]
    return json_response({'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups})


async def group(request):
    name = request.match_info['group']
    if name not in served_groups(request.app['state']):
        raise web.HTTPNotFound()
    return json_response({'kind': 'APIGroup', 'apiVersion': 'v1', **_group(name)})


async def group_resources(request):
    name, ver = request.match_info['group'], request.match_info['version']
    if name not in served_groups(request.app['state']) or ver != group_version(name):
        raise web.HTTPNotFound()
    return json_response(_resource_list(name, ver))


def add_routes(app: web.Application):
    app.router.add_get('/version', version)
    app.router.add_get('/api', core_versions)
    app.router.add_get('/api/v1', core_resources)
    app.router.add_get('/apis', group_list)
    app.router.add_get('/apis/{group}', group)
    app.router.add_get('/apis/{group}/{version}', group_resources)
