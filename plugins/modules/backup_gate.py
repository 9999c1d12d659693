#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_gate
short_description: Require a fresh, verified backup before anything destructive
version_added: 0.1.0
description:
  - Passes only when the newest backup of O(database) in O(backup_dir) whose manifest,
    size, sha256 and validation all check out is younger than O(max_age_minutes).
  - Otherwise fails with what is missing, stale or damaged, and the exact command
    that takes a fresh backup.
  - Put it in front of restores, database swaps, schema migrations and redeploys
    with migrations (runbooks O6, Q6, Q8, F7).
  - This module is implemented as an action plugin that calls
    M(sre.runbooks.backup_info) on the target; the file documents it.
requirements:
  - Those of M(sre.runbooks.backup_info), which it runs on the target - read access to
    O(backup_dir); Python's standard library only
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  database:
    description: Database that is about to be changed.
    type: str
    required: true
  backup_dir:
    description: Directory of that database's backups on the target.
    type: path
    required: true
  max_age_minutes:
    description: Oldest acceptable backup, in minutes.
    type: float
    default: 60
  backup_command:
    description: Command shown to the operator to take a backup; defaults to the collection's backup playbook.
    type: str
attributes:
  action:
    support: full
    description: Decides on the controller from what backup_info reports.
extends_documentation_fragment:
  - sre.runbooks.attributes.read_only
seealso:
  - module: sre.runbooks.backup_info
  - module: sre.runbooks.confirm
"""

EXAMPLES = r"""
- name: Require a verified backup of o4o_platform from the last 30 minutes
  sre.runbooks.backup_gate:
    database: o4o_platform
    backup_dir: /backup/o4o-platform
    max_age_minutes: 30
"""

RETURN = r"""
backup:
  description: The backup that passed the gate (see M(sre.runbooks.backup_info)).
  returned: success
  type: dict
skipped_backups:
  description: Newer or other backups that were not usable, with why.
  returned: always
  type: list
  elements: str
"""
