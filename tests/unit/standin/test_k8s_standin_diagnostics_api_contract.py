# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of what the Kubernetes API stand-in serves for the PlayCode diagnostics (runbook
P4, P5, P8): the metrics API (metrics.k8s.io/v1beta1 pods and nodes, served only while enabled, as
metrics-server is installed or not), autoscaling/v2 HPAs, networking.k8s.io/v1 ingresses, events by
involvedObject.name and previous-container logs. kubectl 1.31 and the kubernetes python client talk to it
unchanged. They check the stand-in, not a cluster."""

from __future__ import annotations

import json
import time
import urllib.error

import pytest
from kubernetes import config, dynamic
from kubernetes.client import CoreV1Api
from kubernetes.client.rest import ApiException

IMAGE = '925216255375.dkr.ecr.ap-northeast-2.amazonaws.com/playcode-app'
POD_METRICS = '/apis/metrics.k8s.io/v1beta1/namespaces/playcode/pods'


def _groups(k8s) -> list[str]:
    return [group['name'] for group in k8s.get('/apis')['groups']]


def _app_pods(k8s) -> list[dict]:
    return k8s.get('/api/v1/namespaces/playcode/pods?labelSelector=app%3Dplaycode-app')['items']


def test_metrics_api_is_absent_until_enabled_as_without_metrics_server(k8s):
    """API contract: without metrics the group is not discovered, its paths answer 404, and kubectl top
    says "Metrics API not available" - the case the diagnostics must report as a finding."""
    assert 'metrics.k8s.io' not in _groups(k8s)
    with pytest.raises(urllib.error.HTTPError) as error:
        k8s.get(POD_METRICS)
    assert error.value.code == 404
    result = k8s.kubectl('top', 'pods', check=False)
    assert result.returncode != 0 and 'Metrics API not available' in result.stderr


def test_metrics_api_serves_pod_and_node_usage_to_kubectl_top_and_stops_on_reset(k8s):
    """API contract: enabled with a usage table, kubectl top pods (also with -l) and top nodes read it;
    PodMetrics exist for running pods only; reset() turns the API off again."""
    k8s.set_metrics({'pods': {'playcode-app-*': {'cpu': '450m', 'memory': '300Mi'}}, 'nodes': {'*': {'cpu': '1'}}})
    assert 'metrics.k8s.io' in _groups(k8s)
    top = k8s.kubectl('top', 'pods', '-l', 'app=playcode-app', '--no-headers').stdout.splitlines()
    assert sorted(line.split()[0] for line in top) == sorted(p['metadata']['name'] for p in _app_pods(k8s))
    assert all(line.split()[1:3] == ['450m', '300Mi'] for line in top)
    assert 'mongodb-0' in k8s.kubectl('top', 'pods').stdout  # unlisted pods get a small default
    node = k8s.kubectl('top', 'nodes', '--no-headers').stdout.split()
    assert node[:3] == ['standin-node-1', '1000m', '50%']
    metrics = k8s.get(POD_METRICS + '?labelSelector=app%3Dplaycode-app')
    assert metrics['kind'] == 'PodMetricsList'
    assert metrics['items'][0]['containers'] == [{'name': 'playcode-app', 'usage': {'cpu': '450m', 'memory': '300Mi'}}]
    client = dynamic.DynamicClient(config.new_client_from_config(config_file=str(k8s.kubeconfig)))
    pod_metrics = client.resources.get(api_version='metrics.k8s.io/v1beta1', kind='PodMetrics')
    assert len(pod_metrics.get(namespace='playcode').items) == 4  # 2 app pods, redis, mongodb-0
    k8s.reset()
    assert 'metrics.k8s.io' not in _groups(k8s)


def test_hpa_and_ingress_are_served_with_their_seeded_status_and_annotations(k8s):
    """API contract: autoscaling/v2 HorizontalPodAutoscaler and networking.k8s.io/v1 Ingress, through
    kubectl (short names hpa, ing) and the python client, as the P5 and P8 diagnostics read them."""
    hpa = json.loads(k8s.kubectl('get', 'hpa', 'playcode-app', '-o', 'json').stdout)
    assert hpa['apiVersion'] == 'autoscaling/v2'
    assert (hpa['spec']['maxReplicas'], hpa['status']['currentReplicas']) == (10, 2)
    ingress = json.loads(k8s.kubectl('get', 'ing', 'playcode-app', '-o', 'json').stdout)
    assert ingress['metadata']['annotations']['nginx.ingress.kubernetes.io/proxy-read-timeout'] == '3600'
    client = dynamic.DynamicClient(config.new_client_from_config(config_file=str(k8s.kubeconfig)))
    ingresses = client.resources.get(api_version='networking.k8s.io/v1', kind='Ingress')
    patched = ingresses.patch(
        name='playcode-app',
        namespace='playcode',
        body={'metadata': {'annotations': {'nginx.ingress.kubernetes.io/proxy-read-timeout': '60'}}},
        content_type='application/merge-patch+json',
        dry_run='All',
    )
    assert patched.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'] == '60'
    assert k8s.get('/apis/networking.k8s.io/v1/namespaces/playcode/ingresses/playcode-app') == ingress


def test_events_by_involved_object_and_previous_logs_of_a_crash_looping_pod(k8s):
    """API contract: events listed with fieldSelector involvedObject.name are that pod's only (kubectl
    --field-selector too); a crash-looping pod has a previous container's log, a healthy one answers 400."""
    k8s.kubectl('set', 'image', 'deployment/playcode-app', f'playcode-app={IMAGE}:crashloop-1')
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pods = _app_pods(k8s)
        waiting = {
            p['metadata']['name']: p['status'].get('containerStatuses', [{}])[0].get('state', {}).get('waiting', {})
            for p in pods
        }
        crashing = next((name for name, state in waiting.items() if state.get('reason') == 'CrashLoopBackOff'), '')
        if crashing:
            break
        time.sleep(0.2)
    healthy = next(p['metadata']['name'] for p in pods if p['metadata']['name'] != crashing)
    events = k8s.get(f'/api/v1/namespaces/playcode/events?fieldSelector=involvedObject.name%3D{crashing}')['items']
    assert events and {e['involvedObject']['name'] for e in events} == {crashing}
    assert 'BackOff' in {e['reason'] for e in events}
    listed = k8s.kubectl('get', 'events', f'--field-selector=involvedObject.name={crashing}', '-o', 'json').stdout
    assert len(json.loads(listed)['items']) == len(events)
    core = CoreV1Api(config.new_client_from_config(config_file=str(k8s.kubeconfig)))
    previous = core.read_namespaced_pod_log(crashing, 'playcode', previous=True, tail_lines=5)
    assert 'exit status 1' in previous
    with pytest.raises(ApiException) as error:
        core.read_namespaced_pod_log(healthy, 'playcode', previous=True)
    assert error.value.status == 400 and 'previous terminated container' in error.value.body
