#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_info
short_description: List a database's backups and verify each against its manifest
version_added: 0.1.0
description:
  - Reads the manifests that the C(sre.runbooks.pg_backup) role writes beside every
    backup and checks that each manifest is readable and names the same database,
    that the file is present with the recorded size and sha256, and that it was
    validated when taken.
  - Backup files without a manifest are listed as unusable.
  - Read-only.
requirements:
  - Read access to O(backup_dir) and the backups in it on the target
  - Python's standard library only (the sha256 is computed with C(hashlib))
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  backup_dir:
    description: Directory that holds the backups.
    type: path
    required: true
  database:
    description: Only backups of this database are usable.
    type: str
  verify_checksum:
    description: Recompute each backup's sha256.
    type: bool
    default: true
  taken_before:
    description:
      - An ISO 8601 time (such as when a compromise began); RV(newest_usable) is then the
        newest usable backup taken strictly before it, and RV(skipped_backups) says why each
        newer backup was passed over (runbook O9, ransomware - the newest clean backup).
      - A time without a zone is UTC.
    type: str
  max_age_minutes:
    description:
      - With O(taken_before), the chosen backup must be taken at most this many minutes
        before the compromise (not before now - every backup after the compromise holds
        compromised data); when the newest clean one is older, RV(newest_usable) is null and
        RV(skipped_backups) says to raise the limit explicitly after checking it, or to choose
        another clean backup, never to take a fresh one. 0 accepts any age.
    type: float
    default: 0
extends_documentation_fragment:
  - sre.runbooks.attributes.read_only
seealso:
  - module: sre.runbooks.backup_gate
"""

EXAMPLES = r"""
- name: List the O4O backups
  sre.runbooks.backup_info:
    backup_dir: /backup/o4o-platform
    database: o4o_platform
  register: __backups

- name: Find the newest clean backup taken before a compromise began
  sre.runbooks.backup_info:
    backup_dir: /backup/o4o-platform
    database: o4o_platform
    taken_before: "2026-11-20T03:15:00+09:00"
  register: __clean
"""

RETURN = r"""
backups:
  description: Every backup, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: Backup file., type: str, returned: always}
    usable: {description: Whether every check passed., type: bool, returned: always}
    problems: {description: What is wrong with it., type: list, elements: str, returned: always}
    age_minutes: {description: Minutes since it was taken., type: float, returned: when known}
    tables: {description: Row count per table when it was taken., type: dict, returned: when known}
    minutes_before_compromise:
      description: Minutes between it and O(taken_before).
      type: float
      returned: with O(taken_before), for the backups taken before it
newest_usable:
  description: The newest usable backup (taken before O(taken_before) when given), or null.
  returned: always
  type: dict
skipped_backups:
  description: Each backup newer than it that was passed over (all of them when none is usable), with why.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._backup import list_backups, pick_clean, pick_newest


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            backup_dir=dict(type='path', required=True),
            database=dict(type='str'),
            verify_checksum=dict(type='bool', default=True),
            taken_before=dict(type='str'),
            max_age_minutes=dict(type='float', default=0),
        ),
        supports_check_mode=True,
    )
    directory = module.params['backup_dir']
    if not os.path.isdir(directory):
        module.fail_json(
            msg=f'backup directory {directory} does not exist; check the path, or take a '
            'backup first (playbooks/backup.yml)',
            backups=[],
            newest_usable=None,
            skipped_backups=[],
        )
    backups = list_backups(directory, module.params['database'], module.params['verify_checksum'])
    taken_before = module.params['taken_before']
    try:
        newest, skipped = (
            pick_clean(backups, taken_before, module.params['max_age_minutes'])
            if taken_before
            else pick_newest(backups)
        )
    except ValueError as err:
        module.fail_json(msg=f'taken_before {taken_before!r} is not an ISO 8601 time: {err}')
    module.exit_json(changed=False, backups=backups, newest_usable=newest, skipped_backups=skipped)


if __name__ == '__main__':
    main()
