# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the PlayCode verification and diagnostics (runbook P2, P4-P8): they read
what kubernetes.core.k8s_info, k8s_log and k8s_exec returned (pods, events, nodes, the
metrics API, HPAs, PVCs, ingresses; the output of ``wget``, ``mongosh``, ``redis-cli``
and ``df`` run in a pod) and turn it into lines for the report and findings.

A finding is ``{severity, service, problem}`` (severity ``critical``, ``warning`` or
``info``), the shape ``finding_line`` prints. A check that had nothing to read (no pod,
no metrics API, a command that failed, no ingress) is a finding, never silence: the
report never calls "ok" what it could not compare."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.compose_health import redis_info

SEVERITIES = ('critical', 'warning', 'info')
HEALTHY = {'ok', 'healthy', 'up', 'pass', 'passing', 'green'}
NODE_PRESSURE = ('MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable')
TIMEOUT_ANNOTATIONS = (
    'nginx.ingress.kubernetes.io/proxy-read-timeout',
    'nginx.ingress.kubernetes.io/proxy-send-timeout',
)
# socket.io / WebSocket trouble, and the socket.io Redis adapter losing Redis.
SOCKET_ERROR = re.compile(
    r'(?i)(?:socket\.io|websocket|\bws\b|\bsocket\b)'
    r'.*?(?:error|fail|refused|reset|timed? ?out|hang up|closed abnormally)'
    r'|(?:error|fail).*?(?:socket\.io|websocket|\bsocket\b)'
)
ADAPTER_ERROR = re.compile(
    r'(?i)(?:redis[- ]?adapter|@socket\.io/redis|\bredis\b).*?(?:error|fail|ECONNREFUSED|ECONNRESET|ETIMEDOUT|reconnect'
    r'|closed|MaxRetriesPerRequest)'
)
SAMPLES = 5
CPU_UNITS = {'n': 1e-6, 'u': 1e-3, 'm': 1.0, '': 1000.0}
MEMORY_UNITS = {'Ki': 2**10, 'Mi': 2**20, 'Gi': 2**30, 'Ti': 2**40, 'K': 1e3, 'M': 1e6, 'G': 1e9, '': 1}


def _finding(severity: str, service: str, problem: str) -> dict[str, str]:
    return {'severity': severity, 'service': service, 'problem': problem}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get('metadata') or {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get('name', '?'))


def _resources(value: Any) -> list[dict[str, Any]]:
    """Objects from a k8s_info result, a list of objects, or nothing."""
    if isinstance(value, Mapping):
        return list(value.get('resources') or [])
    return list(value or [])


def _by_name(results: Any) -> dict[str, dict[str, Any]]:
    """Exec results by name: a dict as is, or the results of a loop whose item has a name."""
    if isinstance(results, Mapping) and 'results' in results:
        results = results['results']
    if isinstance(results, Mapping):
        return dict(results)
    named = {}
    for result in results or []:
        item = result.get('item')
        name = item.get('name') if isinstance(item, Mapping) else item
        named[str(name)] = None if result.get('skipped') else result
    return named


def _output(result: Mapping[str, Any] | None) -> tuple[str, str]:
    """(stdout, error) of an exec result; error is '' when the command ran and exited 0."""
    if not result:
        return '', 'not run (no pod to run it in)'
    if result.get('failed') and 'rc' not in result:
        return '', str(result.get('msg') or 'the exec failed')
    if int(result.get('rc', 0) or 0) != 0:
        detail = (result.get('stderr') or result.get('stdout') or '').strip().splitlines()
        return '', f'exit {result.get("rc")}' + (f': {detail[-1]}' if detail else '')
    return str(result.get('stdout') or ''), ''


def _json_output(result: Mapping[str, Any] | None) -> tuple[Any, str]:
    out, error = _output(result)
    if error:
        return None, error
    try:
        return json.loads(out), ''
    except ValueError:
        return None, f'output is not JSON: {out.strip()[:80]!r}'


# --- pods (P2, P4, P6) -------------------------------------------------------------


def _container_state(state: Mapping[str, Any]) -> str:
    for kind in ('waiting', 'terminated', 'running'):
        if kind in (state or {}):
            detail = state[kind] or {}
            reason = detail.get('reason') or ''
            code = f' exit {detail["exitCode"]}' if 'exitCode' in detail else ''
            return f'{kind}{" " + reason if reason else ""}{code}'
    return 'unknown'


def _pod_view(pod: Mapping[str, Any]) -> dict[str, Any]:
    status = pod.get('status') or {}
    containers = [
        {
            'name': each.get('name'),
            'image': each.get('image'),
            'ready': bool(each.get('ready')),
            'restartCount': int(each.get('restartCount') or 0),
            'state': _container_state(each.get('state') or {}),
            'lastState': _container_state(each.get('lastState') or {}) if each.get('lastState') else 'none',
        }
        for each in status.get('containerStatuses') or []
    ]
    conditions = {c.get('type'): c for c in status.get('conditions') or []}
    ready = (conditions.get('Ready') or {}).get('status') == 'True'
    waiting = [c['state'].split(' ')[1] for c in containers if c['state'].startswith('waiting ')]
    return {
        'name': _name(pod),
        'phase': status.get('phase', 'Unknown'),
        'ready': ready,
        'node': (pod.get('spec') or {}).get('nodeName', ''),
        'restarts': sum(c['restartCount'] for c in containers),
        'reason': waiting[0] if waiting else '',
        'containers': containers,
        'conditions': [
            f'{kind}={cond.get("status")}' + (f' ({cond["reason"]})' if cond.get('reason') else '')
            for kind, cond in conditions.items()
        ],
    }


def _pod_line(view: Mapping[str, Any]) -> str:
    state = '; '.join(
        f'{c["name"]}: {c["state"]}, last {c["lastState"]}, restarts {c["restartCount"]}' for c in view['containers']
    )
    return (
        f'{view["name"]}: {view["phase"]}, {"Ready" if view["ready"] else "not Ready"}, node {view["node"] or "-"}'
        f' | {state or "no container status"} | {", ".join(view["conditions"]) or "no conditions"}'
    )


def _pod_problem(view: Mapping[str, Any]) -> tuple[str, str] | None:
    if view['reason'] == 'CrashLoopBackOff':
        return 'critical', f'pod {view["name"]} is in CrashLoopBackOff ({view["restarts"]} restarts)'
    if view['phase'] in ('Succeeded',):
        return None
    if not view['ready']:
        why = view['reason'] or view['phase']
        return 'critical', f'pod {view["name"]} is not Ready ({why})'
    if view['restarts']:
        return 'warning', f'pod {view["name"]} restarted {view["restarts"]} times'
    return None


def _labelled(pods: list[dict[str, Any]], selector: str) -> list[dict[str, Any]]:
    """The pods whose labels equal every `key=value` of the selector (empty: all)."""
    wanted = dict(term.strip().split('=', 1) for term in selector.split(',') if '=' in term)
    return [pod for pod in pods if all((_meta(pod).get('labels') or {}).get(k) == v for k, v in wanted.items())]


def _of_template(pod: Mapping[str, Any], template: Mapping[str, Any] | None) -> bool:
    """Whether the pod runs the template's images (a pod of the current revision), when one is given."""
    if not template:
        return True
    wanted = [each.get('image') for each in ((template.get('spec') or {}).get('containers') or [])]
    running = [each.get('image') for each in ((pod.get('spec') or {}).get('containers') or [])]
    return running == wanted


def k8s_diag_pods(
    pods: Any, service: str = 'pods', selector: str = '', template: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Pods (those matching the `key=value,...` selector, when given) as `kubectl describe
    pod` shows their state: a view and a line per pod, the names of those in
    CrashLoopBackOff (or restarting and not Ready) and of those running and Ready, and
    findings (no pod at all, not Ready, crash loops, restarts). Terminating pods are left out,
    and so are the pods of an older revision when the Deployment's pod template is given."""
    # A terminating pod or one of an old ReplicaSet (during a rollout) is on its way out: not judged.
    alive = [
        pod
        for pod in _resources(pods)
        if not (pod.get('metadata') or {}).get('deletionTimestamp') and _of_template(pod, template)
    ]
    views = [_pod_view(pod) for pod in _labelled(alive, selector)]
    findings = []
    for view in views:
        problem = _pod_problem(view)
        if problem:
            findings.append(_finding(problem[0], service, problem[1]))
    if not views:
        findings.append(_finding('critical', service, 'no pod found: nothing to check (wrong namespace or labels?)'))
    crashing = [v['name'] for v in views if v['reason'] == 'CrashLoopBackOff' or (v['restarts'] and not v['ready'])]
    return {
        'views': views,
        'lines': [_pod_line(view) for view in views],
        'crashing': crashing,
        'running': [v['name'] for v in views if v['phase'] == 'Running' and v['ready']],
        'all_ready': bool(views) and all(v['ready'] for v in views),
        'findings': findings,
    }


# --- health (P2) -------------------------------------------------------------------


def k8s_diag_health(result: Mapping[str, Any] | None, service: str = 'health') -> dict[str, Any]:
    """The answer of `wget -qO- http://localhost:3000/health` run in a pod: ok when the
    command exited 0 and the body is not a JSON document whose status says otherwise."""
    out, error = _output(result)
    if error:
        return {'ok': False, 'detail': error, 'findings': [_finding('critical', service, f'/health failed: {error}')]}
    body = out.strip()
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    status = document.get('status') if isinstance(document, Mapping) else None
    ok = bool(body) and (status is None or str(status).lower() in HEALTHY)
    findings = [] if ok else [_finding('critical', service, f'/health answered {body[:200]!r}')]
    return {'ok': ok, 'detail': body[:200], 'findings': findings}


# --- resource use, nodes, events (P4, P5) ------------------------------------------


def _cpu_millicores(value: str) -> float:
    match = re.fullmatch(r'([\d.]+)([numk]?)', str(value))
    if not match:
        return 0.0
    number, unit = float(match.group(1)), match.group(2)
    return number * 1e6 if unit == 'k' else number * CPU_UNITS[unit]


def _memory_bytes(value: str) -> float:
    match = re.fullmatch(r'([\d.]+)([KMGT]i?)?', str(value))
    return float(match.group(1)) * MEMORY_UNITS[match.group(2) or ''] if match else 0.0


def _limits(pods: list[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (_name(pod), str(c.get('name'))): (c.get('resources') or {}).get('limits') or {}
        for pod in pods
        for c in (pod.get('spec') or {}).get('containers') or []
    }


def _usage_problem(pod: str, container: Mapping[str, Any], limit: Mapping[str, str], percent: float) -> str:
    usage = container.get('usage') or {}
    for key, parse in (('memory', _memory_bytes), ('cpu', _cpu_millicores)):
        if limit.get(key) and parse(limit[key]) and parse(usage.get(key, '0')) * 100 / parse(limit[key]) >= percent:
            return f'{pod}/{container.get("name")} uses {usage.get(key)} of its {key} limit {limit[key]}'
    return ''


def k8s_diag_usage(metrics: Any, pods: Any = None, percent: float = 90, service: str = 'resources') -> dict[str, Any]:
    """`kubectl top pods` from the metrics API (a k8s_info result of PodMetrics or
    NodeMetrics, registered with failed_when false): a line per pod or node, and a finding
    for a container at or over percent of its limit. An API that is not served is a
    finding ("metrics API not available"), not an error."""
    served = isinstance(metrics, Mapping) and metrics.get('api_found', True) and 'resources' in metrics
    if isinstance(metrics, Mapping) and (metrics.get('failed') or not served):
        why = str(metrics.get('msg') or 'metrics.k8s.io/v1beta1 is not served').splitlines()[0][:160]
        return {
            'available': False,
            'lines': [],
            'findings': [_finding('warning', service, f'metrics API not available (metrics-server?): {why}')],
        }
    limits, lines, findings = _limits(_resources(pods)), [], []
    for item in _resources(metrics):
        name = _name(item)
        if 'usage' in item:
            lines.append(f'{name}: cpu {item["usage"].get("cpu")}, memory {item["usage"].get("memory")}')
            continue
        for container in item.get('containers') or []:
            usage = container.get('usage') or {}
            lines.append(f'{name}/{container.get("name")}: cpu {usage.get("cpu")}, memory {usage.get("memory")}')
            problem = _usage_problem(name, container, limits.get((name, str(container.get('name'))), {}), percent)
            if problem:
                findings.append(_finding('warning', service, problem))
    if not lines:
        findings.append(
            _finding('warning', service, 'metrics API not available: it answered no usage (metrics-server not ready?)')
        )
    return {'available': True, 'lines': lines, 'findings': findings}


def k8s_diag_nodes(nodes: Any, service: str = 'nodes') -> dict[str, Any]:
    """Node conditions as `kubectl describe node` lists them: Ready other than True, or a
    pressure condition that is True, is a finding."""
    lines, findings = [], []
    for node in _resources(nodes):
        conditions = {c.get('type'): c for c in (node.get('status') or {}).get('conditions') or []}
        allocatable = (node.get('status') or {}).get('allocatable') or {}
        lines.append(
            f'{_name(node)}: '
            + ', '.join(f'{kind}={cond.get("status")}' for kind, cond in conditions.items())
            + f' (allocatable cpu {allocatable.get("cpu", "?")}, memory {allocatable.get("memory", "?")})'
        )
        if (conditions.get('Ready') or {}).get('status') != 'True':
            findings.append(_finding('critical', service, f'node {_name(node)} is not Ready'))
        for kind in NODE_PRESSURE:
            if (conditions.get(kind) or {}).get('status') == 'True':
                findings.append(_finding('critical', service, f'node {_name(node)} has {kind}'))
    if not lines:
        findings.append(_finding('warning', service, 'no node could be read: node conditions unknown'))
    return {'lines': lines, 'findings': findings}


def k8s_diag_events(events: Any) -> list[str]:
    """Events as `kubectl describe` lists them, oldest first: `Warning BackOff (x5): ...`."""
    items = sorted(_resources(events), key=lambda e: str(e.get('lastTimestamp') or e.get('eventTime') or ''))
    return [
        f'{e.get("type", "Normal")} {e.get("reason", "")} (x{e.get("count", 1)}) '
        f'{(e.get("involvedObject") or {}).get("name", "")}: {e.get("message", "")}'
        for e in items
    ]


def _by_pod(results: Any, previous: bool | None = None) -> dict[str, Any]:
    """Loop results (k8s_info of events, k8s_log) by the pod of their item (item.pod or the item)."""
    found = {}
    for result in (results or {}).get('results', []) if isinstance(results, Mapping) else results or []:
        item = result.get('item')
        pod = item.get('pod') if isinstance(item, Mapping) else item
        if previous is not None and isinstance(item, Mapping) and bool(item.get('previous')) != previous:
            continue
        found[str(pod)] = result
    return found


def _previous_log(result: Mapping[str, Any] | None) -> list[str]:
    if not result or result.get('skipped'):
        return ['  (not read)']
    if result.get('failed') or 'log_lines' not in result:
        return [f'  (none: {str(result.get("msg", "not read")).splitlines()[0][:160]})']
    return [f'  {line}' for line in result.get('log_lines') or [] if line.strip()] or ['  (empty)']


def k8s_diag_crashloop(
    pods: Mapping[str, Any],
    events: Any,
    logs: Any,
    *,
    usage: Mapping[str, Any],
    nodes: Mapping[str, Any],
    rollback: str = '',
) -> dict[str, Any]:
    """Runbook P4 as one report section (usage, nodes and rollback by keyword): the pods
    (k8s_diag_pods), and for each pod in CrashLoopBackOff its describe-like state, its
    events and the log of its previous container; resource use (k8s_diag_usage) and node
    conditions (k8s_diag_nodes); the mitigation offered is the rollback command, when a pod
    crash-loops."""
    event_results, log_results = _by_pod(events), _by_pod(logs, previous=True)
    views = {view['name']: view for view in pods.get('views') or []}
    crashing = list(pods.get('crashing') or [])
    lines = [f'{len(views)} pods read; crash-looping or restarting: {", ".join(crashing) or "none"}']
    for name in crashing:
        lines.append(_pod_line(views[name]) if name in views else name)
        if name in event_results:
            lines += ['  events:'] + [f'  {line}' for line in k8s_diag_events(event_results[name])] or []
        if name in log_results:
            lines += ['  log of the previous container:', *_previous_log(log_results[name])]
    lines += ['resource use (metrics API):'] + [f'  {line}' for line in usage.get('lines') or ['not available']]
    lines += ['nodes:'] + [f'  {line}' for line in nodes.get('lines') or []]
    crash_findings = [f for f in pods.get('findings') or [] if 'CrashLoopBackOff' in f['problem'] or not views]
    return {
        'title': 'P4 CrashLoopBackOff',
        'lines': lines,
        'findings': crash_findings + list(usage.get('findings') or []) + list(nodes.get('findings') or []),
        'next': f'roll back to the previous revision: {rollback}' if crashing and rollback else '',
    }


# --- HPA (P5) ----------------------------------------------------------------------


def _hpa_utilisation(hpa: Mapping[str, Any]) -> str:
    current = []
    for metric in (hpa.get('status') or {}).get('currentMetrics') or []:
        resource = metric.get('resource') or {}
        value = (resource.get('current') or {}).get('averageUtilization')
        if value is not None:
            current.append(f'{resource.get("name")} {value}%')
    return ', '.join(current) or 'no current metrics'


def k8s_diag_hpa(hpas: Any, service: str = 'hpa') -> dict[str, Any]:
    """`kubectl get hpa` (autoscaling/v2): replicas against min/max and current use. At its
    maximum, or unable to scale or to read its metrics, is a finding; no HPA is one too."""
    lines, findings = [], []
    for hpa in _resources(hpas):
        spec, status = hpa.get('spec') or {}, hpa.get('status') or {}
        current, top = status.get('currentReplicas', 0), spec.get('maxReplicas', 0)
        lines.append(
            f'{_name(hpa)}: {current} replicas (min {spec.get("minReplicas", 1)}, max {top}), {_hpa_utilisation(hpa)}'
        )
        if top and current >= top:
            findings.append(_finding('warning', service, f'{_name(hpa)} is at its maximum of {top} replicas'))
        for cond in status.get('conditions') or []:
            if cond.get('type') in ('AbleToScale', 'ScalingActive') and cond.get('status') != 'True':
                findings.append(
                    _finding(
                        'warning', service, f'{_name(hpa)} {cond["type"]}={cond.get("status")}: {cond.get("message")}'
                    )
                )
    if not lines:
        findings.append(_finding('warning', service, 'no HorizontalPodAutoscaler found: scaling state unknown'))
    return {'lines': lines, 'findings': findings}


# --- MongoDB (P5, P6) --------------------------------------------------------------


def _rs_status(result: Mapping[str, Any] | None) -> tuple[list[str], list[dict[str, str]]]:
    status, error = _json_output(result)
    if error or not isinstance(status, Mapping) or status.get('ok') not in (1, 1.0, True):
        why = error or str((status or {}).get('errmsg', 'not ok'))
        return [], [_finding('critical', 'mongodb', f'rs.status() failed: {why}')]
    members = status.get('members') or []
    lines = [f'replica set {status.get("set")}: ' + ', '.join(f'{m.get("name")} {m.get("stateStr")}' for m in members)]
    findings = [
        _finding('critical', 'mongodb', f'member {m.get("name")} is {m.get("stateStr")} (health {m.get("health")})')
        for m in members
        if m.get('health') not in (1, 1.0) or m.get('stateStr') not in ('PRIMARY', 'SECONDARY', 'ARBITER')
    ]
    if not any(m.get('stateStr') == 'PRIMARY' for m in members):
        findings.append(_finding('critical', 'mongodb', f'replica set {status.get("set")} has no PRIMARY'))
    return lines, findings


def _server_status(result: Mapping[str, Any] | None) -> tuple[list[str], list[dict[str, str]]]:
    status, error = _json_output(result)
    if error or not isinstance(status, Mapping):
        return [], [_finding('critical', 'mongodb', f'db.serverStatus() failed: {error}')]
    connections = status.get('connections') or {}
    current, available = int(connections.get('current', 0)), int(connections.get('available', 0))
    lines = [
        f'mongod {status.get("version")}: up {status.get("uptime")} s, connections {current} (available {available})'
    ]
    if current + available and available * 10 < current + available:
        return lines, [_finding('warning', 'mongodb', f'only {available} connections left of {current + available}')]
    return lines, []


def _current_op(result: Mapping[str, Any] | None, seconds: int) -> tuple[list[str], list[dict[str, str]]]:
    ops, error = _json_output(result)
    if error or not isinstance(ops, Mapping):
        return [], [_finding('warning', 'mongodb', f'db.currentOp() could not be read: {error}')]
    slow = ops.get('inprog') or []
    findings = [
        _finding(
            'warning',
            'mongodb',
            f'op {op.get("opid")} ({op.get("op")} on {op.get("ns") or "?"}) running {op.get("secs_running")} s',
        )
        for op in slow
    ]
    return [f'operations running {seconds} s or more: {len(slow)}'], findings


def _disk(result: Mapping[str, Any] | None, service: str) -> tuple[list[str], list[dict[str, str]]]:
    out, error = _output(result)
    rows = [line.split() for line in out.strip().splitlines()[1:] if line.strip()]
    if error or not rows or len(rows[-1]) < 6:
        return [], [_finding('warning', service, f'df could not be read: {error or repr(out.strip()[:80])}')]
    size, used, avail, percent, mount = rows[-1][-5:]
    line = f'{mount}: {used} of {size} used ({percent}), {avail} free'
    use = int(percent.rstrip('%') or 0)
    if use >= 90:
        return [line], [_finding('critical', service, f'{mount} is {percent} full')]
    if use >= 80:
        return [line], [_finding('warning', service, f'{mount} is {percent} full')]
    return [line], []


def _pvcs(pvcs: Any) -> tuple[list[str], list[dict[str, str]]]:
    lines, findings = [], []
    for pvc in _resources(pvcs):
        status = pvc.get('status') or {}
        phase = status.get('phase', 'Unknown')
        lines.append(f'pvc {_name(pvc)}: {phase}, {(status.get("capacity") or {}).get("storage", "?")}')
        if phase != 'Bound':
            findings.append(_finding('critical', 'mongodb', f'pvc {_name(pvc)} is {phase}, not Bound'))
    if not lines:
        findings.append(_finding('warning', 'mongodb', 'no PersistentVolumeClaim found: storage state unknown'))
    return lines, findings


def k8s_diag_mongodb(execs: Any, pvcs: Any = None, seconds: int = 3) -> dict[str, Any]:
    """MongoDB from the commands run in its pod (by name: rs_status, server_status,
    current_op, df - each parsed only when it was run) and, when given, its PVCs.
    mongosh is expected to print JSON (--json=relaxed)."""
    named = _by_name(execs)
    parts = []
    if 'rs_status' in named:
        parts.append(_rs_status(named['rs_status']))
    if 'server_status' in named:
        parts.append(_server_status(named['server_status']))
    if 'current_op' in named:
        parts.append(_current_op(named['current_op'], seconds))
    if 'df' in named:
        parts.append(_disk(named['df'], 'mongodb'))
    if pvcs is not None:
        parts.append(_pvcs(pvcs))
    return {'lines': [line for part in parts for line in part[0]], 'findings': [f for part in parts for f in part[1]]}


# --- Redis (P5, P7) ----------------------------------------------------------------


def _redis_memory(info: Mapping[str, Any], percent: float) -> tuple[list[str], list[dict[str, str]]]:
    used, limit = int(info.get('used_memory', 0) or 0), int(info.get('maxmemory', 0) or 0)
    line = f'memory {info.get("used_memory_human", used)} used, peak {info.get("used_memory_peak_human", "?")}, '
    if not limit:
        return [line + 'no maxmemory'], [_finding('info', 'redis', 'no maxmemory set: Redis grows until the pod limit')]
    share = used * 100 / limit
    line += f'maxmemory {info.get("maxmemory_human", limit)} ({share:.0f}%, policy {info.get("maxmemory_policy")})'
    if share >= percent:
        return [line], [_finding('warning', 'redis', f'used memory is {share:.0f}% of maxmemory')]
    return [line], []


def _redis_persistence(info: Mapping[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    aof = int(info.get('aof_enabled', 0) or 0)
    line = (
        f'persistence: aof {"on" if aof else "off"}, last aof write {info.get("aof_last_write_status", "?")}, '
        f'last bgsave {info.get("rdb_last_bgsave_status", "?")}, {info.get("rdb_changes_since_last_save", "?")} '
        'changes since the last save'
    )
    findings = []
    if aof and info.get('aof_last_write_status') != 'ok':
        findings.append(_finding('critical', 'redis', f'AOF writes fail ({info.get("aof_last_write_status")})'))
    if aof and info.get('aof_last_bgrewrite_status', 'ok') != 'ok':
        findings.append(_finding('warning', 'redis', 'the last AOF rewrite failed'))
    if info.get('rdb_last_bgsave_status', 'ok') != 'ok':
        findings.append(_finding('warning', 'redis', 'the last RDB snapshot (bgsave) failed'))
    if int(info.get('loading', 0) or 0):
        findings.append(_finding('warning', 'redis', 'Redis is still loading its data'))
    if not aof:
        findings.append(_finding('info', 'redis', 'AOF is off: writes since the last snapshot are lost on a restart'))
    return [line], findings


def _redis_ping(result: Mapping[str, Any] | None) -> tuple[list[str], list[dict[str, str]]]:
    out, error = _output(result)
    if error or out.strip() != 'PONG':
        return [f'ping: {out.strip() or error}'], [
            _finding('critical', 'redis', f'redis-cli ping did not answer PONG: {error or out.strip()}')
        ]
    return ['ping: PONG'], []


def _redis_overview(info: Mapping[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    line = (
        f'redis {info.get("redis_version")} ({info.get("role")}): up {info.get("uptime_in_seconds")} s, '
        f'{info.get("connected_clients")} clients, {info.get("blocked_clients")} blocked, '
        f'{info.get("evicted_keys", 0)} evicted keys, {info.get("rejected_connections", 0)} rejected connections'
    )
    rejected = int(info.get('rejected_connections', 0) or 0)
    return [line], [_finding('warning', 'redis', f'{rejected} connections were rejected')] if rejected else []


def _redis_dbsize(result: Mapping[str, Any] | None) -> tuple[list[str], list[dict[str, str]]]:
    out, error = _output(result)
    if error or not out.strip().isdigit():
        return [], [_finding('warning', 'redis', f'dbsize could not be read: {error or repr(out.strip())}')]
    return [f'keys: {out.strip()}'], []


def _redis_info_section(result: Mapping[str, Any] | None, name: str, judge: Any) -> tuple[list, list]:
    out, error = _output(result)
    info = redis_info(out) if not error else {}
    if not info:
        return [], [_finding('warning', 'redis', f'info {name} could not be read: {error or "empty answer"}')]
    return judge(info)


def k8s_diag_redis(execs: Any, memory_percent: float = 90) -> dict[str, Any]:
    """Redis from `redis-cli` run in its pod (by name: ping, info, persistence, memory,
    dbsize - each judged only when it was run; the persistence and memory sections are read
    from the full `info` when they were not asked apart). INFO is parsed by
    sre.runbooks.redis_info."""
    named = _by_name(execs)
    judges = {
        'info': _redis_overview,
        'persistence': _redis_persistence,
        'memory': lambda info: _redis_memory(info, memory_percent),
    }
    # The full INFO holds the persistence and memory sections: one exec reads all three.
    sources = {name: named.get(name) or named.get('info') for name in judges if name in named or 'info' in named}
    parts = [_redis_ping(named['ping'])] if 'ping' in named else []
    parts += [_redis_info_section(sources[name], name, judges[name]) for name in sources]
    if 'dbsize' in named:
        parts.append(_redis_dbsize(named['dbsize']))
    return {'lines': [line for part in parts for line in part[0]], 'findings': [f for part in parts for f in part[1]]}


# --- WebSocket (P8) ----------------------------------------------------------------


def _seconds(value: Any) -> int | None:
    match = re.fullmatch(r'\s*(\d+)\s*(s|m|h)?\s*', str(value))
    if not match:
        return None
    return int(match.group(1)) * {'s': 1, 'm': 60, 'h': 3600, None: 1}[match.group(2)]


def _ingress_timeouts(ingress: Mapping[str, Any], minimum: int) -> tuple[str, list[dict[str, str]]]:
    annotations = _meta(ingress).get('annotations') or {}
    parts, findings = [], []
    for key in TIMEOUT_ANNOTATIONS:
        short = key.rsplit('/', 1)[1]
        value = annotations.get(key)
        seconds = _seconds(value) if value is not None else None
        parts.append(f'{short} {value if value is not None else "unset"}')
        if seconds is None:
            why = 'not set (nginx default 60 s)' if value is None else f'unreadable ({value!r})'
            findings.append(_finding('warning', 'websocket', f'ingress {_name(ingress)} {short} {why}'))
        elif seconds < minimum:
            findings.append(
                _finding('warning', 'websocket', f'ingress {_name(ingress)} {short} is {seconds} s (< {minimum} s)')
            )
    return f'ingress {_name(ingress)}: {", ".join(parts)}', findings


def _log_matches(lines: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {'socket': [], 'adapter': []}
    for line in lines:
        if ADAPTER_ERROR.search(line):
            found['adapter'].append(line)
        elif SOCKET_ERROR.search(line):
            found['socket'].append(line)
    return found


def k8s_diag_websocket(ingresses: Any, log_lines: Any, min_timeout: int = 3600) -> dict[str, Any]:
    """WebSocket trouble: the ingresses' nginx proxy read/send timeouts (unset or under
    min_timeout seconds is a finding; no ingress is one too) and socket/WebSocket and
    Redis adapter error lines in the app's logs (a list of lines, or k8s_log results)."""
    lines, findings = [], []
    for ingress in _resources(ingresses):
        line, more = _ingress_timeouts(ingress, min_timeout)
        lines.append(line)
        findings += more
    if not lines:
        findings.append(_finding('warning', 'websocket', 'no ingress found: proxy timeouts unknown'))
    text = _log_text(log_lines)
    if text is None:
        findings.append(_finding('warning', 'websocket', 'no app log could be read: socket errors unknown'))
        text = []
    found = _log_matches(text)
    lines.append(f'{len(text)} log lines read: {len(found["socket"])} socket errors, {len(found["adapter"])} Redis '
                 'adapter errors')  # fmt: skip
    for kind, label in (('socket', 'socket/WebSocket'), ('adapter', 'Redis adapter')):
        if found[kind]:
            findings.append(_finding('warning', 'websocket', f'{len(found[kind])} {label} error lines in the app logs'))
            lines += [f'  {line}' for line in found[kind][-SAMPLES:]]
    return {'lines': lines, 'findings': findings}


def _log_text(logs: Any) -> list[str] | None:
    """Lines from a list of lines or from k8s_log results (None: none could be read)."""
    if isinstance(logs, Mapping):
        logs = logs.get('results', [logs])
    read, any_read = [], False
    for each in logs or []:
        if isinstance(each, Mapping):
            if each.get('failed') or each.get('skipped') or 'log_lines' not in each:
                continue
            any_read = True
            read += list(each.get('log_lines') or [])
        else:
            any_read = True
            read.append(str(each))
    return read if any_read else None


# --- report ------------------------------------------------------------------------


def _merged(section: Mapping[str, Any]) -> dict[str, Any]:
    """A section whose `parts` (each with lines and findings) are merged into its own."""
    merged = {**section, 'lines': list(section.get('lines') or []), 'findings': list(section.get('findings') or [])}
    for part in section.get('parts') or []:
        merged['lines'] += list(part.get('lines') or [])
        merged['findings'] += list(part.get('findings') or [])
    return merged


def k8s_diag_report(sections: Any, title: str = 'PlayCode diagnosis') -> dict[str, Any]:
    """One report from sections {title, lines, findings, parts?, next?} (parts: results of
    the other k8s_diag filters, merged in order): Markdown text, the findings (each problem
    once) sorted critical first, and ok (no critical or warning finding)."""
    if not isinstance(sections, list):
        raise AnsibleFilterError(f'k8s_diag_report expects a list of sections, got {type(sections).__name__}')
    sections = [_merged(section) for section in sections]
    unique: dict[str, dict[str, Any]] = {}
    for section in sections:
        for finding in section.get('findings') or []:
            unique.setdefault(str(finding.get('problem')), finding)
    findings = sorted(unique.values(), key=lambda f: SEVERITIES.index(f.get('severity', 'info')))
    text = [f'# {title}', '']
    text += [f'- {f["severity"]} {f["service"]}: {f["problem"]}' for f in findings] or ['- no finding']
    for section in sections:
        text += ['', f'## {section.get("title")}', '']
        text += [f'    {line}' for line in section.get('lines') or []] or ['    (nothing read)']
        if section.get('next'):
            text += ['', f'Next: {section["next"]}']
    worst = [f for f in findings if f.get('severity') in ('critical', 'warning')]
    return {
        'ok': not worst,
        'critical': sum(1 for f in findings if f.get('severity') == 'critical'),
        'findings': findings,
        'finding_lines': [f'{f["severity"]} {f["service"]}: {f["problem"]}' for f in findings],
        'text': '\n'.join(text) + '\n',
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'k8s_diag_pods': k8s_diag_pods,
            'k8s_diag_health': k8s_diag_health,
            'k8s_diag_usage': k8s_diag_usage,
            'k8s_diag_nodes': k8s_diag_nodes,
            'k8s_diag_events': k8s_diag_events,
            'k8s_diag_crashloop': k8s_diag_crashloop,
            'k8s_diag_hpa': k8s_diag_hpa,
            'k8s_diag_mongodb': k8s_diag_mongodb,
            'k8s_diag_redis': k8s_diag_redis,
            'k8s_diag_websocket': k8s_diag_websocket,
            'k8s_diag_report': k8s_diag_report,
        }
