# SPDX-License-Identifier: GPL-3.0-or-later
"""pm2 state reading, the commands the pm2 module plans for each state, and the
module against a real pm2 daemon, including one that dies during a restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._pm2 import (
    DaemonLost,
    Pm2,
    Pm2Error,
    converge,
    parse_jlist,
    summarize,
)
from ansible_collections.sre.runbooks.plugins.modules.pm2 import plan
from tests.support.adhoc import run_adhoc
from tests.support.services import free_port

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
        'started_at': 1000.0,
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


# ---------------------------------------------------------------------------------
# Against a real pm2 daemon (pm2 5.4.3 from npm, as provision_node_app installs it),
# with a private PM2_HOME: a dead daemon mid-command, recovered or reported.

ROOT = Path(__file__).resolve().parents[4]
PM2_VERSION = '5.4.3'


@pytest.fixture(scope='session')
def pm2_bin() -> str:
    """pm2 from PATH, else from .cache/pm2 (installed there with npm on first use)."""
    found = shutil.which('pm2')
    if found:
        return found
    prefix = ROOT / '.cache' / 'pm2'
    binary = prefix / 'node_modules' / '.bin' / 'pm2'
    if not binary.exists():
        npm = shutil.which('npm')
        if not npm or not shutil.which('node'):
            pytest.fail('pm2 tests need Node.js and npm on PATH (the machine image has them; nothing is skipped)')
        subprocess.run(
            [npm, 'install', '--prefix', str(prefix), '--no-audit', '--no-fund', f'pm2@{PM2_VERSION}'],
            check=True,
            capture_output=True,
        )
    return str(binary)


def real_run(argv: list[str], cwd: str | None = None, environ_update: dict | None = None, check_rc: bool = False):
    """What AnsibleModule.run_command does, for Pm2 outside a module."""
    proc = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(environ_update or {})}, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def app(tmp_path, pm2_bin):
    """A one-file HTTP app and an empty PM2_HOME; the daemon is killed afterwards."""
    home, appdir = tmp_path / 'pm2', tmp_path / 'app'
    appdir.mkdir()
    (appdir / 'server.js').write_text(
        "require('http').createServer((q, r) => r.end('ok\\n')).listen(0, '127.0.0.1');\n"
    )
    (appdir / 'ecosystem.config.js').write_text(
        "module.exports = { apps: [{ name: 'demo', script: 'server.js', cwd: __dirname }] };\n"
    )
    pm2 = Pm2(pm2_bin, str(home), real_run)
    yield pm2, str(appdir / 'ecosystem.config.js')
    real_run([pm2_bin, 'kill'], environ_update={'PM2_HOME': str(home)})


def module(pm2: Pm2, ecosystem: str, state: str, *extra: str) -> tuple[int, dict]:
    args = {'name': 'demo', 'state': state, 'ecosystem': ecosystem, 'pm2_home': pm2.home, 'executable': pm2.binary}
    return run_adhoc('sre.runbooks.pm2', {**args, 'min_uptime': 1, 'timeout': 20}, *extra)


def test_online_is_checked_applied_then_idempotent(app):
    pm2, ecosystem = app
    rc, result = module(pm2, ecosystem, 'online', '--check')
    assert rc == 0 and result['changed'] and not pm2.daemon_running(), result
    rc, result = module(pm2, ecosystem, 'online')
    assert rc == 0 and result['changed'] and result['app']['status'] == 'online', result
    assert result['app']['started_at'] <= time.time()
    for extra in (('--check',), ()):
        rc, result = module(pm2, ecosystem, 'online', *extra)
        assert rc == 0 and not result['changed'], result


def killing_daemon(pm2: Pm2, when: str):
    """A run_command that kills the daemon on the first `pm2 restart`: `before` it
    runs (kill -9, as the OOM killer does), or `during` it (pm2 kill alongside)."""
    fired = []

    def run(argv, **kwargs):
        if argv[1:2] == ['restart'] and not fired:
            fired.append(argv)
            if when == 'before':
                os.kill(pm2.daemon_pid(), signal.SIGKILL)
            else:
                killer = subprocess.Popen([pm2.binary, 'kill'], env={**os.environ, 'PM2_HOME': pm2.home})
                try:
                    return real_run(argv, **kwargs)
                finally:
                    killer.wait(30)
        return real_run(argv, **kwargs)

    return run, fired


@pytest.mark.parametrize('when', ['before', 'during'])
def test_a_daemon_killed_at_restart_is_resurrected_and_the_app_restarted(app, when):
    pm2, ecosystem = app
    assert module(pm2, ecosystem, 'online')[0] == 0
    run, fired = killing_daemon(pm2, when)
    faulty = Pm2(pm2.binary, pm2.home, run)
    first = faulty.app('demo')
    app_after, done = converge(
        faulty,
        'demo',
        plan(faulty, 'restarted', first, 'demo', ecosystem),
        lambda now: plan(faulty, 'restarted', now, 'demo', ecosystem),
        wait=True,
        min_uptime=1,
        timeout=20,
        cwd=os.path.dirname(ecosystem),
    )
    assert fired, 'the fault was not injected'
    assert app_after['status'] == 'online' and app_after['pid'] != first['pid']
    assert ['resurrect'] in done or when == 'during', done
    rc, again = module(pm2, ecosystem, 'online')
    assert rc == 0 and not again['changed'], again


def test_a_daemon_lost_with_no_saved_app_fails_saying_so(app):
    pm2, ecosystem = app
    assert module(pm2, ecosystem, 'online')[0] == 0
    real_run([pm2.binary, 'delete', 'demo'], environ_update={'PM2_HOME': pm2.home})
    real_run([pm2.binary, 'save', '--force'], environ_update={'PM2_HOME': pm2.home})
    real_run([pm2.binary, 'start', ecosystem], cwd=os.path.dirname(ecosystem), environ_update={'PM2_HOME': pm2.home})
    run, _fired = killing_daemon(pm2, 'before')
    faulty = Pm2(pm2.binary, pm2.home, run)
    with pytest.raises(DaemonLost, match=r'died while acting on demo.*dump\.pm2.*no app named demo'):
        converge(
            faulty,
            'demo',
            [['restart', 'demo']],
            lambda now: plan(faulty, 'restarted', now, 'demo', None),
            wait=True,
            min_uptime=1,
            timeout=20,
        )
    rc, result = module(pm2, ecosystem, 'online')
    assert rc == 0 and result['changed'] and result['app']['status'] == 'online', result


# ---------------------------------------------------------------------------------
# The pm2_app role's release step on localhost, with a real git repository, build and
# pm2: "already deployed" must come from what is built and running, not from git HEAD.

BUILD = """const fs = require('fs');
if (fs.existsSync(process.argv[2])) { console.error('build broken on purpose'); process.exit(1); }
fs.rmSync('dist', {recursive: true, force: true});
fs.mkdirSync('dist');
fs.copyFileSync('src/server.js', 'dist/server.js');
"""
SERVER = """const version = '{version}';
require('http').createServer((q, r) => r.end(JSON.stringify({{version}}))).listen(process.env.PORT, '127.0.0.1');
"""


@pytest.fixture
def release(tmp_path, pm2_bin):
    """A git repository with releases v1 and v2 of an app whose build fails while the
    file `break` exists; a playbook that deploys -e version=... with pm2_app."""
    repo, home, port = tmp_path / 'repo', tmp_path / 'pm2', free_port()
    (repo / 'src').mkdir(parents=True)
    (repo / 'build.js').write_text(BUILD)
    (repo / 'ecosystem.config.js').write_text(
        "module.exports = { apps: [{ name: 'demo', script: 'dist/server.js', cwd: __dirname,"
        f" env: {{ PORT: '{port}' }} }}] }};\n"
    )
    (repo / '.gitignore').write_text('dist/\n')
    git = ['git', '-C', str(repo), '-c', 'user.email=t@t', '-c', 'user.name=t']
    subprocess.run([*git, 'init', '-q'], check=True)
    for version in ('v1', 'v2'):
        (repo / 'src' / 'server.js').write_text(SERVER.format(version=version))
        subprocess.run([*git, 'add', '-A'], check=True)
        subprocess.run([*git, 'commit', '-qm', version], check=True)
        subprocess.run([*git, 'tag', version], check=True)
    playbook = tmp_path / 'deploy.yml'
    playbook.write_text(
        f"""- hosts: localhost
  gather_facts: false
  roles:
    - role: sre.runbooks.pm2_app
      vars:
        pm2_app_name: demo
        pm2_app_user: root
        pm2_app_pm2_home: {home}
        pm2_app_dir: {repo}
        pm2_app_repo_dir: {repo}
        pm2_app_version: "{{{{ version }}}}"
        pm2_app_install_command: [node, --version]
        pm2_app_build_commands: [{{cmd: [node, build.js, {tmp_path / 'break'}]}}]
        pm2_app_health_url: http://127.0.0.1:{port}/
        pm2_app_health_retries: 10
        pm2_app_health_delay: 1
        pm2_app_min_uptime: 1
        pm2_app_fallback: false
"""
    )
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), PATH=f'{Path(pm2_bin).parent}:{os.environ["PATH"]}'
    )

    def deploy(version: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(Path(sys.executable).with_name('ansible-playbook')),
                '-i', 'localhost,', '-c', 'local', str(playbook),
                '-e', f'version={version}', '-e', f'ansible_python_interpreter={sys.executable}',
                '-e', 'ansible_become_method=su', *extra,
            ],
            capture_output=True, text=True, cwd=ROOT, env=env, check=False,
        )  # fmt: skip

    def serving() -> str:
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5) as answer:
            return json.load(answer)['version']

    yield deploy, serving, tmp_path / 'break', repo
    subprocess.run([pm2_bin, 'kill'], env={**env, 'PM2_HOME': str(home)}, capture_output=True, check=False)


def recap_changed(run: subprocess.CompletedProcess) -> int:
    return int(re.findall(r'localhost\s*:.*changed=(\d+)', run.stdout)[-1])


def test_a_failed_build_is_retried_by_the_rerun_and_the_app_restarted(release):
    deploy, serving, broken, _repo = release
    assert deploy('v1').returncode == 0
    assert serving() == 'v1'
    broken.write_text('')
    failed = deploy('v2')
    assert failed.returncode != 0
    assert 'still runs the previous build' in failed.stdout and 'running again retries' in failed.stdout
    assert serving() == 'v1'
    broken.unlink()
    predicted = deploy('v2', '--check')
    assert predicted.returncode == 0 and 'install, build and restart demo' in predicted.stdout, predicted.stdout
    retried = deploy('v2')
    assert retried.returncode == 0, retried.stdout
    assert serving() == 'v2'
    again = deploy('v2')
    assert again.returncode == 0 and recap_changed(again) == 0, again.stdout


def test_a_build_newer_than_the_running_process_is_restarted_onto(release):
    """The build succeeded but the restart never happened (a daemon killed, a lost
    connection): the marker is newer than the process, so the re-run restarts."""
    deploy, _serving, _broken, repo = release
    assert deploy('v1').returncode == 0
    time.sleep(1.1)
    (repo / '.git' / 'sre-runbooks-build').touch()
    rerun = deploy('v1')
    assert rerun.returncode == 0 and recap_changed(rerun) > 0, rerun.stdout
    assert 'Set the pm2 state of the app to restarted' in rerun.stdout
    assert recap_changed(deploy('v1')) == 0


def test_check_mode_on_a_host_without_pm2_predicts_and_a_real_run_says_what_is_missing(tmp_path):
    """A bare host that the same run would provision (rebuild_host.yml --check): the check
    predicts the start; the real run fails naming what to do."""
    missing = {'pm2_home': str(tmp_path / 'pm2'), 'executable': str(tmp_path / 'bin/pm2')}
    args = {'name': 'demo', 'state': 'online', **missing}
    rc, result = run_adhoc('sre.runbooks.pm2', args, '--check')
    assert rc == 0 and result['changed'] and 'not installed on this host yet' in result['msg'], result
    rc, info = run_adhoc('sre.runbooks.pm2_info', {'name': 'demo', **missing}, '--check')
    assert rc == 0 and info['app'] is None and info['apps'] == [], info
    rc, result = run_adhoc('sre.runbooks.pm2', args)
    assert rc != 0 and 'pm2 is not installed on this host' in result['msg'], result
