# SPDX-License-Identifier: GPL-3.0-or-later
"""pm2 state reading and the commands the pm2 module plans for each state."""

from __future__ import annotations

import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._pm2 import Pm2, Pm2Error, parse_jlist, summarize
from ansible_collections.sre.runbooks.plugins.modules.pm2 import plan

RAW = {
    'name': 'api-server',
    'pm_id': 0,
    'pid': 101,
    'monit': {'memory': 1024},
    'pm2_env': {'status': 'online', 'pm_uptime': 1_000_000, 'restart_time': 2, 'pm_err_log_path': '/x.log'},
}


def test_jlist_is_read_past_the_daemon_banner():
    out = '[PM2] Spawning PM2 daemon with pm2_home=/h\n[PM2] PM2 Successfully daemonized\n' + json.dumps([RAW])
    assert parse_jlist(out)[0]['name'] == 'api-server'


def test_jlist_without_a_list_is_an_error():
    with pytest.raises(Pm2Error, match='no process list'):
        parse_jlist('[PM2] error\nsomething else')


def test_summary_carries_what_pm2_list_shows():
    app = summarize(RAW, now=1_010.0)
    assert app == {
        'name': 'api-server',
        'pm_id': 0,
        'status': 'online',
        'pid': 101,
        'restarts': 2,
        'unstable_restarts': 0,
        'uptime_seconds': 10.0,
        'cwd': None,
        'script': None,
        'error_log': '/x.log',
        'memory_bytes': 1024,
    }


class FakePm2(Pm2):
    def __init__(self, apps):
        super().__init__('pm2', '/nonexistent', lambda *a, **k: (0, '', ''))
        self._apps = apps

    def apps(self):
        return self._apps


ONLINE = {'name': 'api-server', 'status': 'online'}
STOPPED = {'name': 'api-server', 'status': 'stopped'}
ERRORED = {'name': 'api-server', 'status': 'errored'}


@pytest.mark.parametrize(
    ('state', 'app', 'commands'),
    [
        ('online', ONLINE, []),
        ('online', STOPPED, [['restart', 'api-server']]),
        ('online', ERRORED, [['restart', 'api-server']]),
        ('online', None, [['start', '/app/ecosystem.config.js', '--only', 'api-server']]),
        ('restarted', ONLINE, [['restart', 'api-server']]),
        ('stopped', ONLINE, [['stop', 'api-server']]),
        ('stopped', STOPPED, []),
        ('stopped', ERRORED, []),
        ('absent', ONLINE, [['delete', 'api-server']]),
        ('absent', None, []),
    ],
)
def test_each_state_plans_only_what_differs(state, app, commands):
    pm2 = FakePm2([app] if app else [])
    assert plan(pm2, state, app, 'api-server', '/app/ecosystem.config.js') == commands


@pytest.mark.parametrize('state', ['online', 'restarted', 'stopped'])
def test_an_unknown_app_names_the_known_ones(state):
    pm2 = FakePm2([{'name': 'worker', 'status': 'online'}])
    with pytest.raises(Pm2Error, match=r'no app named api-servr \(its apps: worker\)'):
        plan(pm2, state, None, 'api-servr', None)
