# SPDX-License-Identifier: GPL-3.0-or-later
"""The PlayCode diagnostics filters (runbook P2, P4-P8): what k8s_info, k8s_log and k8s_exec
returned, read into report lines and findings; a check with nothing to read is a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.k8s_diagnose import (
    FilterModule,
    k8s_diag_crashloop,
    k8s_diag_events,
    k8s_diag_health,
    k8s_diag_hpa,
    k8s_diag_mongodb,
    k8s_diag_nodes,
    k8s_diag_pods,
    k8s_diag_redis,
    k8s_diag_report,
    k8s_diag_usage,
    k8s_diag_websocket,
)


def _pod(name: str, labels: dict | None = None, ready: bool = True, waiting: str = '', restarts: int = 0) -> dict:
    state = {'waiting': {'reason': waiting}} if waiting else {'running': {'startedAt': 'x'}}
    last = {'terminated': {'exitCode': 1, 'reason': 'Error'}} if restarts else {}
    return {
        'metadata': {'name': name, 'labels': labels or {'app': 'playcode-app'}},
        'spec': {
            'nodeName': 'node-1',
            'containers': [{'name': 'playcode-app', 'resources': {'limits': {'memory': '512Mi', 'cpu': '500m'}}}],
        },
        'status': {
            'phase': 'Running',
            'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}],
            'containerStatuses': [
                {'name': 'playcode-app', 'ready': ready, 'restartCount': restarts, 'state': state, 'lastState': last}
            ],
        },
    }


def _exec(stdout: str = '', rc: int = 0, stderr: str = '') -> dict:
    return {'stdout': stdout, 'stderr': stderr, 'rc': rc, 'changed': False}


def _problems(result: dict) -> list[str]:
    return [f'{f["severity"]} {f["problem"]}' for f in result['findings']]


def test_every_filter_is_registered_and_documented():
    names = set(FilterModule().filters())
    docs = {path.stem for path in Path(__file__).resolve().parents[4].glob('plugins/filter/k8s_diag_*.yml')}
    assert names == docs


def test_pods_views_crash_loops_and_selector():
    pods = [
        _pod('app-1'),
        _pod('app-2', ready=False, waiting='CrashLoopBackOff', restarts=4),
        _pod('redis-1', labels={'app': 'redis'}, restarts=2),
    ]
    state = k8s_diag_pods(pods)
    assert state['crashing'] == ['app-2'] and state['running'] == ['app-1', 'redis-1'] and not state['all_ready']
    assert _problems(state) == [
        'critical pod app-2 is in CrashLoopBackOff (4 restarts)',
        'warning pod redis-1 restarted 2 times',
    ]
    assert 'waiting CrashLoopBackOff, last terminated Error exit 1, restarts 4' in state['lines'][1]
    only_app = k8s_diag_pods({'resources': pods}, 'playcode-app', 'app=playcode-app')
    assert [view['name'] for view in only_app['views']] == ['app-1', 'app-2']
    nothing = k8s_diag_pods([], 'mongodb', 'app=mongodb')
    assert nothing['all_ready'] is False and 'no pod found' in nothing['findings'][0]['problem']


@pytest.mark.parametrize(
    ('result', 'ok', 'detail'),
    [
        (_exec('{"status":"ok"}'), True, '{"status":"ok"}'),
        (_exec('OK'), True, 'OK'),
        (_exec('{"status":"degraded","mongodb":"down"}'), False, '{"status":"degraded","mongodb":"down"}'),
        (_exec('', 8, 'wget: server returned error: HTTP/1.1 503'), False, 'exit 8: wget: server returned error'),
        (_exec(''), False, ''),
        (None, False, 'not run (no pod to run it in)'),
        ({'skipped': True}, False, ''),
    ],
)
def test_health(result, ok, detail):
    health = k8s_diag_health(result)
    assert health['ok'] is ok and health['detail'].startswith(detail)
    assert bool(health['findings']) is not ok


def test_usage_absent_metrics_api_is_a_finding_not_an_error():
    failed = {'failed': True, 'msg': 'Failed to find exact match for metrics.k8s.io/v1beta1.PodMetrics'}
    not_found = {'api_found': False, 'resources': []}
    for answer in (failed, not_found, {'resources': []}):
        usage = k8s_diag_usage(answer)
        assert 'metrics API not available' in usage['findings'][0]['problem'], usage


def test_usage_lines_and_a_container_near_its_limit():
    metrics = {
        'resources': [
            {
                'metadata': {'name': 'app-1'},
                'containers': [{'name': 'playcode-app', 'usage': {'cpu': '100m', 'memory': '480Mi'}}],
            },
            {'metadata': {'name': 'node-1'}, 'usage': {'cpu': '1', 'memory': '2Gi'}},
        ]
    }  # fmt: skip
    usage = k8s_diag_usage(metrics, [_pod('app-1')], 90)
    assert usage['lines'] == ['app-1/playcode-app: cpu 100m, memory 480Mi', 'node-1: cpu 1, memory 2Gi']
    assert _problems(usage) == ['warning app-1/playcode-app uses 480Mi of its memory limit 512Mi']


def test_nodes_and_events():
    nodes = [
        {'metadata': {'name': 'n1'}, 'status': {'conditions': [{'type': 'Ready', 'status': 'True'}]}},
        {
            'metadata': {'name': 'n2'},
            'status': {
                'conditions': [{'type': 'Ready', 'status': 'False'}, {'type': 'DiskPressure', 'status': 'True'}]
            },
        },
    ]
    assert _problems(k8s_diag_nodes(nodes)) == ['critical node n2 is not Ready', 'critical node n2 has DiskPressure']
    assert 'no node' in k8s_diag_nodes([])['findings'][0]['problem']
    events = [
        {'type': 'Warning', 'reason': 'BackOff', 'count': 5, 'message': 'back-off', 'lastTimestamp': '2026-01-02',
         'involvedObject': {'name': 'app-2'}},
        {'type': 'Normal', 'reason': 'Scheduled', 'message': 'assigned', 'lastTimestamp': '2026-01-01',
         'involvedObject': {'name': 'app-2'}},
    ]  # fmt: skip
    assert k8s_diag_events({'resources': events}) == [
        'Normal Scheduled (x1) app-2: assigned',
        'Warning BackOff (x5) app-2: back-off',
    ]


def test_crashloop_section_offers_the_rollback_only_when_a_pod_crash_loops():
    pods = k8s_diag_pods([_pod('app-1'), _pod('app-2', ready=False, waiting='CrashLoopBackOff', restarts=3)])
    events = [{'item': 'app-2', 'resources': [{'type': 'Warning', 'reason': 'BackOff', 'message': 'back-off'}]}]
    logs = [
        {'item': {'pod': 'app-2', 'previous': True}, 'log_lines': ['Error: cannot connect to MongoDB', '']},
        {'item': {'pod': 'app-1', 'previous': False}, 'log_lines': ['fine']},
    ]
    usage, nodes = k8s_diag_usage({'failed': True, 'msg': 'no metrics'}), k8s_diag_nodes([])
    section = k8s_diag_crashloop(pods, events, logs, usage=usage, nodes=nodes, rollback='ansible-playbook rb.yml')
    assert section['next'] == 'roll back to the previous revision: ansible-playbook rb.yml'
    assert '  Error: cannot connect to MongoDB' in section['lines'] and '  fine' not in section['lines']
    assert any('BackOff' in line for line in section['lines'])
    assert [f['service'] for f in section['findings']] == ['pods', 'resources', 'nodes']
    calm = k8s_diag_crashloop(k8s_diag_pods([_pod('app-1')]), [], [], usage=usage, nodes=nodes, rollback='x')
    assert calm['next'] == '' and calm['lines'][0] == '1 pods read; crash-looping or restarting: none'


def test_hpa():
    hpa = {
        'metadata': {'name': 'playcode-app'},
        'spec': {'minReplicas': 2, 'maxReplicas': 4},
        'status': {
            'currentReplicas': 4,
            'currentMetrics': [
                {'type': 'Resource', 'resource': {'name': 'cpu', 'current': {'averageUtilization': 95}}}
            ],
            'conditions': [{'type': 'ScalingActive', 'status': 'False', 'message': 'missing request for cpu'}],
        },
    }
    result = k8s_diag_hpa([hpa])
    assert result['lines'] == ['playcode-app: 4 replicas (min 2, max 4), cpu 95%']
    assert _problems(result) == [
        'warning playcode-app is at its maximum of 4 replicas',
        'warning playcode-app ScalingActive=False: missing request for cpu',
    ]
    assert 'no HorizontalPodAutoscaler' in k8s_diag_hpa([])['findings'][0]['problem']


def _named(**results) -> list[dict]:
    return [{**result, 'item': {'name': name}} if result else {'skipped': True, 'item': {'name': name}}
            for name, result in results.items()]  # fmt: skip


def test_mongodb_healthy_replica_set_and_pvc():
    rs = {'ok': 1, 'set': 'rs0', 'members': [{'name': 'm0', 'stateStr': 'PRIMARY', 'health': 1}]}
    server = {'ok': 1, 'version': '7.0', 'uptime': 5, 'connections': {'current': 10, 'available': 990}}
    df = 'Filesystem Size Used Avail Use% Mounted on\n/dev/x 10G 2G 8G 20% /data/db\n'
    pvc = {'metadata': {'name': 'data-mongodb-0'}, 'status': {'phase': 'Bound', 'capacity': {'storage': '10Gi'}}}
    result = k8s_diag_mongodb(
        _named(rs_status=_exec(json.dumps(rs)), server_status=_exec(json.dumps(server)), df=_exec(df)), [pvc]
    )
    assert result['findings'] == []
    assert result['lines'] == [
        'replica set rs0: m0 PRIMARY',
        'mongod 7.0: up 5 s, connections 10 (available 990)',
        '/data/db: 2G of 10G used (20%), 8G free',
        'pvc data-mongodb-0: Bound, 10Gi',
    ]


def test_mongodb_problems_and_commands_that_did_not_run():
    rs_error = _exec('', 1, 'MongoServerError: no replset config has been received')
    ops = {'ok': 1, 'inprog': [{'opid': 9, 'op': 'update', 'ns': 'playcode.users', 'secs_running': 12}]}
    df = 'Filesystem Size Used Avail Use% Mounted on\n/dev/x 10G 9.5G 0.5G 95% /data/db\n'
    pvc = {'metadata': {'name': 'data-mongodb-0'}, 'status': {'phase': 'Pending'}}
    result = k8s_diag_mongodb(
        _named(rs_status=rs_error, server_status=None, current_op=_exec(json.dumps(ops)), df=_exec(df)), [pvc]
    )
    assert _problems(result) == [
        'critical rs.status() failed: exit 1: MongoServerError: no replset config has been received',
        'critical db.serverStatus() failed: not run (no pod to run it in)',
        'warning op 9 (update on playcode.users) running 12 s',
        'critical /data/db is 95% full',
        'critical pvc data-mongodb-0 is Pending, not Bound',
    ]
    assert _problems(k8s_diag_mongodb({'rs_status': _exec('not json')}))[0].startswith(
        "critical rs.status() failed: output is not JSON: 'not json'"
    )
    assert 'no PersistentVolumeClaim' in k8s_diag_mongodb({}, [])['findings'][0]['problem']


INFO = """# Server
redis_version:7.0.15
uptime_in_seconds:100
# Clients
connected_clients:3
blocked_clients:0
# Memory
used_memory:950000000
used_memory_human:905.99M
used_memory_peak_human:910.00M
maxmemory:1000000000
maxmemory_human:953.67M
maxmemory_policy:noeviction
# Persistence
loading:0
rdb_changes_since_last_save:12
rdb_last_bgsave_status:ok
aof_enabled:1
aof_last_bgrewrite_status:ok
aof_last_write_status:err
# Stats
rejected_connections:0
evicted_keys:0
# Replication
role:master
"""


def test_redis_full_info_gives_persistence_and_memory():
    result = k8s_diag_redis(_named(ping=_exec('PONG\n'), info=_exec(INFO), dbsize=_exec('42\n')))
    assert result['lines'][0] == 'ping: PONG'
    assert result['lines'][1].startswith('redis 7.0.15 (master): up 100 s, 3 clients')
    assert result['lines'][-1] == 'keys: 42'
    assert _problems(result) == ['critical AOF writes fail (err)', 'warning used memory is 95% of maxmemory']


def test_redis_down_and_unreadable_sections():
    down = _exec('', 1, 'Could not connect to Redis at 127.0.0.1:6379: Connection refused')
    result = k8s_diag_redis(_named(ping=down, memory=_exec(''), dbsize=None))
    assert _problems(result) == [
        'critical redis-cli ping did not answer PONG: exit 1: Could not connect to Redis at 127.0.0.1:6379: '
        'Connection refused',
        'warning info memory could not be read: empty answer',
        'warning dbsize could not be read: not run (no pod to run it in)',
    ]


def _ingress(**annotations) -> dict:
    return {
        'metadata': {
            'name': 'app',
            'annotations': {f'nginx.ingress.kubernetes.io/{k}': v for k, v in annotations.items()},
        }
    }


@pytest.mark.parametrize(
    ('annotations', 'problems'),
    [
        ({'proxy-read-timeout': '3600', 'proxy-send-timeout': '3600'}, []),
        ({'proxy-read-timeout': '2h', 'proxy-send-timeout': '3600s'}, []),
        (
            {'proxy-read-timeout': '60'},
            [
                'ingress app proxy-read-timeout is 60 s (< 3600 s)',
                'ingress app proxy-send-timeout not set (nginx default 60 s)',
            ],
        ),
        (
            {'proxy-read-timeout': 'forever', 'proxy-send-timeout': '3600'},
            ["ingress app proxy-read-timeout unreadable ('forever')"],
        ),
    ],
)  # fmt: skip
def test_websocket_ingress_timeouts(annotations, problems):
    result = k8s_diag_websocket([_ingress(**annotations)], ['GET / 200'])
    assert [f['problem'] for f in result['findings']] == problems


def test_websocket_log_errors_and_nothing_to_read():
    logs = [
        {'item': {'pod': 'app-1', 'previous': False}, 'log_lines': [
            'socket.io: websocket error: connection reset by peer',
            'Error: WebSocket closed abnormally',
            '[redis-adapter] Error: connect ECONNREFUSED 10.0.0.7:6379',
            'GET /api/rooms 200 12ms',
        ]},
        {'item': {'pod': 'app-2', 'previous': False}, 'failed': True, 'msg': 'container not found'},
    ]  # fmt: skip
    result = k8s_diag_websocket(
        {'resources': [_ingress(**{'proxy-read-timeout': '3600', 'proxy-send-timeout': '3600'})]}, logs
    )
    assert [f['problem'] for f in result['findings']] == [
        '2 socket/WebSocket error lines in the app logs',
        '1 Redis adapter error lines in the app logs',
    ]
    assert '4 log lines read: 2 socket errors, 1 Redis adapter errors' in result['lines']
    empty = k8s_diag_websocket([], [])
    assert [f['problem'] for f in empty['findings']] == [
        'no ingress found: proxy timeouts unknown',
        'no app log could be read: socket errors unknown',
    ]


def test_report_merges_parts_sorts_and_lists_each_problem_once():
    info = {'severity': 'info', 'service': 'redis', 'problem': 'AOF is off'}
    bad = {'severity': 'critical', 'service': 'pods', 'problem': 'pod x is not Ready (Pending)'}
    same = {'severity': 'critical', 'service': 'mongodb', 'problem': 'pod x is not Ready (Pending)'}
    report = k8s_diag_report(
        [
            {'title': 'P7 Redis', 'parts': [{'lines': ['ping: PONG'], 'findings': [info]}]},
            {'title': 'P4', 'lines': [], 'findings': [bad], 'next': 'roll back'},
            {'title': 'P6', 'parts': [{'lines': [], 'findings': [same]}]},
        ],
        'T',
    )
    assert report['finding_lines'] == ['critical pods: pod x is not Ready (Pending)', 'info redis: AOF is off']
    assert report['ok'] is False and report['critical'] == 1
    assert report['text'].startswith('# T\n\n- critical pods: pod x is not Ready (Pending)\n- info redis: AOF is off\n')
    assert (
        '    ping: PONG' in report['text']
        and '    (nothing read)' in report['text']
        and 'Next: roll back' in report['text']
    )
    assert k8s_diag_report([{'title': 'x', 'findings': [info]}])['ok'] is True
    with pytest.raises(AnsibleFilterError, match='list of sections'):
        k8s_diag_report({'title': 'x'})


def test_a_terminating_pod_is_not_judged():
    """An old ReplicaSet's pod on its way out during a rollout is neither a failure nor a health target."""
    gone = {
        'metadata': {'name': 'old-1', 'deletionTimestamp': '2026-12-05T10:00:00Z', 'labels': {'app': 'a'}},
        'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'False'}]},
    }
    assert k8s_diag_pods([gone], 'a')['views'] == []


def test_with_the_template_only_the_current_revisions_pods_are_judged():
    """Right after a rollout an old-revision pod may still answer /health: it is not the one to ask."""

    def pod(name, tag, ready):
        return {
            'metadata': {'name': name, 'labels': {'app': 'a'}},
            'spec': {'containers': [{'name': 'a', 'image': f'repo:{tag}'}]},
            'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]},
        }

    template = {'spec': {'containers': [{'name': 'a', 'image': 'repo:v2'}]}}
    state = k8s_diag_pods([pod('old', 'v1', True), pod('new', 'v2', True)], 'a', '', template)
    assert [view['name'] for view in state['views']] == ['new'] and state['running'] == ['new']
