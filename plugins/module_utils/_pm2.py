# SPDX-License-Identifier: GPL-3.0-or-later
"""pm2 plumbing shared by the pm2 and pm2_info modules.

State comes from ``pm2 jlist``. Every pm2 command starts a daemon when none runs, so
reads first look at ``$PM2_HOME/pm2.pid``: a read never spawns an empty daemon that
would then hide the saved process list from ``pm2 resurrect``.

A daemon that dies while a command runs (``pm2 kill``, the OOM killer) is noticed by
its pid: :func:`converge` brings the saved list back with ``pm2 resurrect`` and plans
again, once, so the app ends online or the task fails saying what happened.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

RunCommand = Callable[..., 'tuple[int, str, str]']


class Pm2Error(RuntimeError):
    """pm2 failed or an app did not reach the wanted state."""


class DaemonLost(Pm2Error):
    """The pm2 daemon stopped (or was replaced by an empty one) during a command."""


def parse_jlist(stdout: str) -> list[dict[str, Any]]:
    """The JSON array of ``pm2 jlist``, skipping the banner lines pm2 may print first."""
    for line in reversed(stdout.splitlines()):
        if line.startswith('['):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise Pm2Error(f'pm2 jlist printed no process list: {stdout.strip()[:300]!r}')


def summarize(raw: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The fields an operator reads in ``pm2 list``, from one jlist entry."""
    env = raw.get('pm2_env', {})
    status = env.get('status', 'unknown')
    started = env.get('pm_uptime') or 0
    now = time.time() if now is None else now
    return {
        'name': raw.get('name'),
        'pm_id': raw.get('pm_id'),
        'status': status,
        'pid': raw.get('pid') or None,
        'restarts': env.get('restart_time', 0),
        'unstable_restarts': env.get('unstable_restarts', 0),
        'uptime_seconds': round(max(0.0, now - started / 1000), 1) if status == 'online' and started else 0.0,
        'started_at': round(started / 1000, 3) if started else None,
        'cwd': env.get('pm_cwd'),
        'script': env.get('pm_exec_path'),
        'error_log': env.get('pm_err_log_path'),
        'memory_bytes': (raw.get('monit') or {}).get('memory'),
    }


def daemon_pid(home: str) -> int | None:
    """The pid of the pm2 daemon of a PM2_HOME when it runs: its pid file names a live
    process (one owned by another user counts; reading as root or as the app user both
    work), else None."""
    try:
        with open(os.path.join(home, 'pm2.pid'), encoding='ascii') as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except PermissionError:
        return pid
    except (OSError, ValueError):
        return None
    return pid


def daemon_running(home: str) -> bool:
    """Whether the pm2 daemon of a PM2_HOME runs."""
    return daemon_pid(home) is not None


def default_home() -> str:
    """~/.pm2 of the user running the module (pm2's own default)."""
    return os.path.join(os.path.expanduser('~'), '.pm2')


def tail(path: str | None, lines: int = 10) -> list[str]:
    """The last lines of a log file, or nothing when it cannot be read."""
    if not path:
        return []
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            text = handle.read().decode('utf-8', 'replace')
    except OSError:
        return []
    return text.splitlines()[-lines:]


@dataclass
class Pm2:
    """One user's pm2 (one PM2_HOME), driven through its command-line client."""

    binary: str
    home: str
    run_command: RunCommand

    def daemon_running(self) -> bool:
        return daemon_running(self.home)

    def daemon_pid(self) -> int | None:
        return daemon_pid(self.home)

    def run(self, *args: str, cwd: str | None = None) -> str:
        rc, out, err = self.run_command(
            [self.binary, *args], cwd=cwd, environ_update={'PM2_HOME': self.home}, check_rc=False
        )
        if rc != 0:
            raise Pm2Error(f"'pm2 {' '.join(args)}' failed (rc={rc}): {(err or out).strip()[-600:]}")
        return out

    def apps(self) -> list[dict[str, Any]]:
        if not self.daemon_running():
            return []
        return [summarize(raw) for raw in parse_jlist(self.run('jlist'))]

    def app(self, name: str) -> dict[str, Any] | None:
        return next((app for app in self.apps() if app['name'] == name), None)

    def wait_online(self, name: str, min_uptime: float, timeout: float) -> dict[str, Any]:
        """Poll until the app is online and has stayed up min_uptime seconds."""
        deadline = time.monotonic() + timeout
        app = self.app(name)
        while time.monotonic() < deadline:
            if app and app['status'] == 'online' and app['uptime_seconds'] >= min_uptime:
                return app
            if not self.daemon_running():
                raise DaemonLost(f'the pm2 daemon of {self.home} stopped while {name} was starting')
            time.sleep(0.5)
            app = self.app(name)
        state = 'missing' if app is None else f"{app['status']}, {app['restarts']} restarts"
        log = tail(app and app['error_log'], 5) or tail(os.path.join(self.home, 'pm2.log'), 5)
        detail = ('; last log lines: ' + ' | '.join(log)) if log else ''
        raise Pm2Error(
            f'{name} did not stay online for {min_uptime:g}s within {timeout:g}s ({state}){detail}. '
            f'Read its log (pm2 logs {name}) and fix the cause; running again is safe'
        )

    def unknown(self, name: str) -> Pm2Error:
        known = ', '.join(app['name'] for app in self.apps()) or 'none'
        return Pm2Error(f'pm2 ({self.home}) has no app named {name} (its apps: {known})')


Planner = Callable[['dict[str, Any] | None'], 'list[list[str]]']


def converge(
    pm2: Pm2,
    name: str,
    commands: list[list[str]],
    replan: Planner,
    *,
    wait: bool,
    min_uptime: float,
    timeout: float,
    cwd: str | None = None,
) -> tuple[dict[str, Any] | None, list[list[str]]]:
    """Run the planned commands and, for a start or restart, wait until the app stays
    online. When the daemon dies meanwhile (its pid is gone or another one runs: the
    pm2 client spawned an empty daemon), bring the saved list back with ``pm2
    resurrect``, plan again from what then runs, and try once more. Returns the app and
    every command run."""
    done: list[list[str]] = []
    for attempt in (1, 2):
        pid = pm2.daemon_pid()
        try:
            for command in commands:
                if command[0] in ('start', 'restart', 'stop', 'delete'):
                    pm2.run(*command, cwd=cwd if command[0] == 'start' else None)
                    done.append(command)
            app = pm2.wait_online(name, min_uptime, timeout) if wait else pm2.app(name)
            return app, done
        except Pm2Error as err:
            if pid is None or pm2.daemon_pid() == pid:
                raise
            if attempt == 2:
                raise DaemonLost(
                    f'the pm2 daemon of {pm2.home} died twice while acting on {name} ({err}); '
                    f'find what kills it (journalctl, dmesg for the OOM killer, pm2.log) and run again'
                ) from err
        pm2.run('resurrect')
        done.append(['resurrect'])
        try:
            commands = replan(pm2.app(name))
        except Pm2Error as err:
            raise DaemonLost(
                f'the pm2 daemon of {pm2.home} died while acting on {name}, and its saved list '
                f'(dump.pm2) did not bring {name} back: {err}'
            ) from err
    raise AssertionError('unreachable')


def pm2_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of doc fragment sre.runbooks.pm2, for a module's argument_spec."""
    return dict(pm2_home=dict(type='path'), executable=dict(type='path'))


def pm2_from_params(module: Any) -> Pm2 | None:
    """The Pm2 of a module's pm2_home and executable options.

    None in check mode on a host without pm2 (a bare host that an earlier step of the
    same run would provision): the module predicts instead of failing. A real run
    without pm2 fails saying so."""
    binary = module.params['executable'] or module.get_bin_path('pm2', opt_dirs=['/usr/local/bin'])
    if not binary or not os.access(binary, os.X_OK):
        if module.check_mode:
            return None
        where = binary or 'PATH nor /usr/local/bin'
        module.fail_json(
            msg=f'pm2 is not installed on this host (not in {where}): '
            'provision it first (roles/provision_node_app) or give its path as executable'
        )
    return Pm2(binary, module.params['pm2_home'] or default_home(), module.run_command)
