#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pm2_info
short_description: Read the apps of one user's pm2 daemon without starting one
version_added: 0.1.0
description:
  - Reports whether the pm2 daemon of O(pm2_home) runs and, when it does, each app as in
    C(pm2 list) (status, pid, restarts, uptime, memory, error log), and when each was
    last started (C(started_at) in RV(app), epoch seconds), which tells whether it runs the
    latest build.
  - Never starts a daemon (every pm2 command would), so reading a host whose daemon
    died does not replace its saved process list with an empty one.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  name:
    description: Also return this app as RV(app) (null when pm2 does not know it).
    type: str
extends_documentation_fragment:
  - sre.runbooks.pm2
  - sre.runbooks.attributes.read_only
seealso:
  - module: sre.runbooks.pm2
"""

EXAMPLES = r"""
- name: Read the api-server's pm2 state
  sre.runbooks.pm2_info:
    name: api-server
    pm2_home: /home/ubuntu/.pm2
  become: true
  become_user: ubuntu
  register: api_pm2
"""

RETURN = r"""
daemon_running:
  description: Whether the pm2 daemon of O(pm2_home) runs.
  returned: always
  type: bool
apps:
  description: Every app of the daemon.
  returned: always
  type: list
  elements: dict
app:
  description: The app named O(name), or null.
  returned: when O(name) is given
  type: dict
  sample: {name: api-server, status: online, pid: 4242, restarts: 0, uptime_seconds: 81.2, started_at: 1767000000.5}
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._pm2 import Pm2Error, pm2_argument_spec, pm2_from_params


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(name=dict(type='str'), **pm2_argument_spec()),
        supports_check_mode=True,
    )
    p = module.params
    pm2 = pm2_from_params(module)
    if pm2 is None:  # check mode on a host without pm2: nothing runs under it
        module.exit_json(changed=False, daemon_running=False, apps=[], app=None)
    try:
        apps = pm2.apps()
    except Pm2Error as err:
        module.fail_json(msg=str(err))
    result = dict(changed=False, daemon_running=pm2.daemon_running(), apps=apps)
    if p['name']:
        result['app'] = next((app for app in apps if app['name'] == p['name']), None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
