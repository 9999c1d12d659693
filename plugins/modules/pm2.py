#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pm2
short_description: Keep a pm2 app online, restart, stop or remove it, and wait until it stays up
version_added: 0.1.0
description:
  - Reads the app's state from C(pm2 jlist) and acts only when the state differs
    (C(restarted) always restarts).
  - C(online) and C(restarted) then wait until the app is online and has stayed up
    O(min_uptime) seconds, so a crash loop fails the task with the last lines of the
    app's error log.
  - When the pm2 daemon of O(pm2_home) is not running, the saved process list is brought
    back with C(pm2 resurrect) first (what the C(pm2-<user>) systemd unit does at boot).
  - When the daemon dies while a command runs or while the app starts (C(pm2 kill), the
    OOM killer), the saved list is brought back with C(pm2 resurrect), the commands are
    planned again from what then runs, and tried once more; a second death, or a saved
    list without the app, fails the task saying so. A re-run is always safe.
  - Run it as the app's user (C(become_user)); O(pm2_home) selects that user's daemon.
  - No community collection ships a pm2 module, hence this one.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  name:
    description: The pm2 app name (C(name) in the ecosystem file).
    type: str
    required: true
  state:
    description: The wanted state.
    type: str
    choices: [online, restarted, stopped, absent]
    default: online
  ecosystem:
    description:
      - The ecosystem file that starts the app when pm2 does not know it
        (C(pm2 start <file> --only <name>), run in the file's directory).
    type: path
  resurrect:
    description: Start a stopped daemon with C(pm2 resurrect) before acting.
    type: bool
    default: true
  save:
    description: Run C(pm2 save) after a change, so that a reboot brings back the same apps.
    type: bool
    default: true
  min_uptime:
    description: Seconds the app must stay online after a start or restart.
    type: float
    default: 3
  timeout:
    description: Seconds to wait for that.
    type: float
    default: 30
extends_documentation_fragment:
  - sre.runbooks.pm2
attributes:
  check_mode:
    support: full
    description:
      - Reads the state and reports what it would do; starts no daemon.
      - On a host where pm2 is not installed yet (a bare host that an earlier step of the same run
        provisions), predicts the start instead of failing; a real run there fails saying pm2 is missing.
  diff_mode:
    support: full
    description: The before and after status of the app.
  idempotent:
    support: partial
    description: C(restarted) always restarts; every other state acts only on a difference.
seealso:
  - module: sre.runbooks.pm2_info
"""

EXAMPLES = r"""
- name: Restart the api-server and require it to stay online
  sre.runbooks.pm2:
    name: api-server
    state: restarted
    ecosystem: /home/ubuntu/o4o-platform/apps/api-server/ecosystem.config.js
    pm2_home: /home/ubuntu/.pm2
  become: true
  become_user: ubuntu
"""

RETURN = r"""
app:
  description: The app after the action, as in C(pm2 list); null when absent.
  returned: always
  type: dict
  sample: {name: api-server, status: online, pid: 4242, restarts: 1, uptime_seconds: 3.5, started_at: 1767000000.5}
actions:
  description: The pm2 commands run (or that would run in check mode), with C(resurrect) when the daemon was lost.
  returned: always
  type: list
  elements: str
  sample: [restart api-server, save]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._pm2 import (
    Pm2,
    Pm2Error,
    converge,
    pm2_argument_spec,
    pm2_from_params,
)


def plan(pm2: Pm2, state: str, app: dict | None, name: str, ecosystem: str | None) -> list[list[str]]:
    """The pm2 commands that bring the app from its status to the state."""
    status = app['status'] if app else None
    if state in ('online', 'restarted') and app is None:
        if not ecosystem:
            raise Pm2Error(f'{pm2.unknown(name)}; check the name, or give ecosystem= to start it')
        return [['start', ecosystem, '--only', name]]
    if state == 'restarted' or (state == 'online' and status != 'online'):
        return [['restart', name]]
    if state == 'stopped' and app is None:
        raise pm2.unknown(name)
    if state == 'stopped' and status not in ('stopped', 'errored'):
        return [['stop', name]]
    if state == 'absent' and app is not None:
        return [['delete', name]]
    return []


def _preflight(module: AnsibleModule, name: str, state: str, ecosystem: str | None) -> Pm2:
    """The host's pm2; in check mode on a host where pm2 is not installed yet (a bare host
    an earlier step of the run provisions), exits with the prediction: nothing runs."""
    pm2 = pm2_from_params(module)
    if pm2 is not None:
        if ecosystem and not os.path.isfile(ecosystem):
            module.fail_json(msg=f'ecosystem file {ecosystem} does not exist; check pm2 app directory')
        return pm2
    actions = [] if state in ('absent', 'stopped') else [f'{state} {name}']
    module.exit_json(
        changed=bool(actions),
        app=None,
        actions=actions,
        msg=f"pm2 is not installed on this host yet; would run: {', '.join(actions) or 'nothing'}",
        diff={'before': f'{name}: not installed\n', 'after': f'{name}: {state}\n'},
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['online', 'restarted', 'stopped', 'absent'], default='online'),
            ecosystem=dict(type='path'),
            **pm2_argument_spec(),
            resurrect=dict(type='bool', default=True),
            save=dict(type='bool', default=True),
            min_uptime=dict(type='float', default=3),
            timeout=dict(type='float', default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name, state, ecosystem = p['name'], p['state'], p['ecosystem']
    pm2 = _preflight(module, name, state, ecosystem)
    try:
        commands: list[list[str]] = []
        if not pm2.daemon_running() and state != 'absent':
            if not p['resurrect']:
                raise Pm2Error(f'the pm2 daemon of {pm2.home} is not running and resurrect=false')
            commands.append(['resurrect'])
            if not module.check_mode:
                pm2.run('resurrect')
        before = pm2.app(name)
        if module.check_mode and commands:
            commands.append(['(then)', state, name])
        else:
            commands += plan(pm2, state, before, name, ecosystem)
        if commands and p['save']:
            commands.append(['save'])
        actions = [' '.join(command) for command in commands]
        result = dict(changed=bool(actions), actions=actions, diff={'before': f'{name}: {_status(before)}\n'})
        if module.check_mode:
            result['diff']['after'] = f"{name}: {'online' if state == 'restarted' else state}\n"
            module.exit_json(app=before, msg=f"would run: {', '.join(actions) or 'nothing'}", **result)
        app, done = converge(
            pm2,
            name,
            [command for command in commands if command[0] != 'save'],
            lambda now: plan(pm2, state, now, name, ecosystem),
            wait=state in ('online', 'restarted'),
            min_uptime=p['min_uptime'],
            timeout=p['timeout'],
            cwd=os.path.dirname(ecosystem) if ecosystem else None,
        )
        ran = [command for command in commands if command == ['resurrect']] + done
        if ran and p['save']:
            pm2.run('save')
            ran.append(['save'])
        result.update(changed=bool(ran), actions=[' '.join(command) for command in ran])
    except Pm2Error as err:
        module.fail_json(msg=f'{err}.')
    result['diff']['after'] = f'{name}: {_status(app)}\n'
    module.exit_json(app=app, msg=f'{name}: {_status(app)}', **result)


def _status(app: dict | None) -> str:
    return app['status'] if app else 'absent'


if __name__ == '__main__':
    main()
