#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_file
short_description: Write a report (a post-mortem, a checklist) on the controller
version_added: 0.3.0
description:
  - Writes O(content) to O(path) on the machine that runs Ansible, whatever the task's host,
    through a private file renamed into place (a reader never sees half a report). Missing
    directories are created (mode 0750).
  - Runs in the controller's own process, without a module run - the C(template) or C(copy)
    module delegated to localhost costs about half a second per file, which a re-run on a
    healthy system should not pay.
  - Render the content with the C(ansible.builtin.template) lookup.
  - This module is implemented as an action plugin only; nothing runs on a managed host.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  path:
    description: The file to write on the controller.
    type: path
    required: true
  content:
    description: What the file holds.
    type: str
    required: true
  mode:
    description: Permissions of the file, as an octal string.
    type: raw
    default: '0640'
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change and writes nothing.
  diff_mode:
    support: full
    description: The file before and after.
  idempotent:
    support: full
    description: The same content again changes nothing.
seealso:
  - module: ansible.builtin.template
    description: What this replaces for a report on the controller.
"""

EXAMPLES = r"""
- name: Write the post-mortem
  sre.runbooks.report_file:
    path: "{{ playbook_dir }}/../reports/postmortem.md"
    content: "{{ lookup('ansible.builtin.template', 'postmortem.md.j2') }}"
"""

RETURN = r"""
path:
  description: The file written (or that would be).
  returned: always
  type: str
size:
  description: Bytes of the content.
  returned: always
  type: int
"""
