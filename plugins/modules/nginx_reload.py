#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nginx_reload
short_description: Reload, restart or start nginx only after its configuration test passes
version_added: 0.1.0
description:
  - Runs O(test_command) (C(nginx -t)) on the target first, in check mode too since it
    only reads. When it fails, the task fails with the test's output and the service
    is not touched, so the running nginx keeps serving the configuration it loaded.
  - Then sets the service to O(state) with C(ansible.builtin.service).
  - C(ansible.builtin.service) alone would reload a broken configuration (systemd's
    reload of nginx fails, and a restart stops the site), hence this guard.
requirements:
  - nginx on the target, with O(test_command) (C(nginx -t) by default) runnable by the task's user
    (usually with become)
  - A service manager that M(ansible.builtin.service) drives (systemd, SysV init, OpenRC, ...) and
    that knows the service O(name)
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  state:
    description: C(started) starts nginx only when it is not running; the others always act.
    type: str
    choices: [started, reloaded, restarted]
    default: reloaded
  name:
    description: The service name.
    type: str
    default: nginx
  test_command:
    description: The configuration test, as an argument list.
    type: list
    elements: str
    default: [nginx, -t]
attributes:
  action:
    support: full
    description: The test and the decision run in an action plugin.
  check_mode:
    support: full
    description: Runs the test; reports whether the service would change.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: partial
    description: C(started) is idempotent; C(reloaded) and C(restarted) always act.
seealso:
  - module: ansible.builtin.service
"""

EXAMPLES = r"""
- name: Test the configuration, then reload nginx
  sre.runbooks.nginx_reload:
    state: reloaded
  become: true
"""

RETURN = r"""
config_test:
  description: Exit status and output lines of the configuration test.
  returned: always
  type: dict
  sample: {rc: 0, output: ["nginx: configuration file /etc/nginx/nginx.conf test is successful"]}
"""
