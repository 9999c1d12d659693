#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_backup
short_description: Take a validated PostgreSQL backup with checksum and manifest, and prune old ones
version_added: 0.1.0
description:
  - Dumps O(database) in one consistent snapshot, with the row count of every table
    taken in the same snapshot; validates the dump; writes C(<file>.sha256) and
    C(<file>.manifest.json) beside it; then applies the retention.
  - O(layout=custom) writes C(<prefix>_YYYYMMDD_HHMMSS.dump) (C(pg_dump -Fc), runbook
    Q6) validated with C(pg_restore -l) (Q7). O(layout=o4o_archive) writes
    C(<prefix>_YYYYMMDD_HHMMSS.tar.gz) holding C(db/o4o_db_YYYYMMDD_HHMMSS.sql.gz) as
    the O4O runbook's backups are laid out (O5), validated by reading it to the end.
  - Idempotent through O(max_age_minutes), meaning that when a verified backup younger than
    that exists, nothing is taken unless O(force) is set.
  - Fails cleanly, keeping nothing, when anything goes wrong (the server lost mid-dump, a
    full disk, an unwritable directory) - the message says what to do. The dump, its
    checksum and its manifest are written under temporary names, and the dump is renamed
    into place last, so a backup never stands under its final name without its manifest.
  - One run at a time per O(backup_dir) (a lock on the directory); another run fails at once.
  - Works for a server on the host (run the module as the C(postgres) user) and for
    one inside a container (O(container), e.g. QA-Arena's C(qa_arena_postgres_prod)).
requirements:
  - C(pg_dump) of the server's major version or newer (pg_dump refuses to dump a newer server), and
    for O(layout=custom) C(pg_restore) to validate the dump; both on the target, or inside
    O(container)
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  database:
    description: Database to back up.
    type: str
    required: true
  backup_dir:
    description: Directory for the backups; it must exist.
    type: path
    required: true
  layout:
    description: Backup file layout.
    type: str
    choices: [custom, o4o_archive]
    default: custom
  prefix:
    description: File name prefix; defaults to the database name (V(o4o_backup) suits O(layout=o4o_archive)).
    type: str
  compress:
    description:
      - zlib compression level (0-9) of the dump.
      - The default 1 dumps in about half the time of C(pg_dump)'s own default (6) for
        files about 5% larger (bench/, README "Benchmarks"); 0 is faster still, but the
        file is about three times larger.
    type: int
    default: 1
  app_files_dir:
    description:
      - Directory whose files go into the archive under C(app/) with O(layout=o4o_archive)
        (the app's files that git does not hold, such as secrets and uploads); their
        sha256 are recorded in the manifest and the archive is checked to hold them.
      - The C(pg_backup) role stages the files listed in C(pg_backup_app_files) here.
    type: path
  max_age_minutes:
    description: Do nothing when a verified backup younger than this exists; 0 always takes one.
    type: float
    default: 60
  force:
    description: Take a backup even when a fresh one exists.
    type: bool
    default: false
  keep:
    description: Number of verified backups to keep (the newest is always kept).
    type: int
    default: 7
  max_age_days:
    description: Delete verified backups older than this (never the newest); 0 keeps them.
    type: float
    default: 30
  mode:
    description: Permissions of the backup files.
    type: raw
    default: '0600'
attributes:
  check_mode:
    support: full
    description: Reports whether a backup would be taken and which old ones would be pruned.
  diff_mode:
    support: full
    description: Shows the backup files before and after.
  idempotent:
    support: full
    description: With O(max_age_minutes), a second run finds the fresh backup and does nothing.
extends_documentation_fragment:
  - sre.runbooks.postgres
seealso:
  - module: sre.runbooks.backup_info
  - module: sre.runbooks.backup_gate
  - module: community.postgresql.postgresql_db
notes:
  - community.postgresql.postgresql_db C(state=dump) neither validates the dump nor
    writes a checksum or manifest, and cannot dump a server inside a container; this
    module exists for those.
"""

EXAMPLES = r"""
- name: Back up o4o_platform in the O4O archive layout
  become: true
  become_user: postgres
  sre.runbooks.pg_backup:
    database: o4o_platform
    backup_dir: /backup/o4o-platform
    layout: o4o_archive
    prefix: o4o_backup

- name: Back up QA-Arena's database inside its container
  sre.runbooks.pg_backup:
    database: qa_arena
    backup_dir: /backup/postgres
    container: qa_arena_postgres_prod
    user: postgres
"""

RETURN = r"""
backup:
  description: The manifest of the backup taken, or of the fresh one that made the run a no-op.
  returned: success
  type: dict
taken:
  description: Whether a new backup was taken (or would be, in check mode).
  returned: always
  type: bool
pruned:
  description:
    - Backups deleted (or that would be, in check mode) by the retention.
    - In check mode the backup the run would take counts, as it will when the run is applied.
  returned: always
  type: list
  elements: str
orphans:
  description:
    - Files of backups that are not whole, each as its path and the problem - partial files and work
      directories of a run that died, manifests whose backup file is missing, backup files
      without a manifest.
  returned: always
  type: list
  elements: str
removed_orphans:
  description:
    - Orphans removed (or that would be, in check mode) - partial files, work directories
      and dangling manifests and checksums, last modified before this run started. Backup
      files without a manifest are only reported (a person may have put them there).
  returned: always
  type: list
  elements: str
"""

import contextlib
import datetime
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._backup import find_orphans, list_backups, remove_orphans
from ansible_collections.sre.runbooks.plugins.module_utils._pg_backup import (
    BackupError,
    backup_name,
    directory_lock,
    fresh_backup,
    plan_retention,
    predicted_backup,
    remove_backups,
    take_backup,
)
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import connection_argument_spec, target_from_params


def run(module: AnsibleModule, result: dict) -> None:
    """Take the backup (unless a fresh one exists), then the retention and the orphans."""
    p = module.params
    directory, database = p['backup_dir'], p['database']
    started, now = time.time(), datetime.datetime.now(datetime.timezone.utc)
    target = target_from_params(p, module.get_bin_path('docker', required=bool(p['container'])))
    fresh = None if p['force'] else fresh_backup(directory, database, p['max_age_minutes'])
    if fresh:
        result['backup'] = fresh
        result['msg'] = f"fresh verified backup {fresh['path']} ({fresh['age_minutes']:.0f} min old); none taken"
    elif module.check_mode:
        name = backup_name(p['layout'], p['prefix'] or database, now)
        result.update(
            changed=True, taken=True, backup={'path': os.path.join(directory, name)}, msg=f'would take {name}'
        )
    else:
        mode = int(p['mode'], 8) if isinstance(p['mode'], str) else int(p['mode'])
        result['backup'] = take_backup(
            target,
            database,
            directory,
            layout=p['layout'],
            prefix=p['prefix'] or database,
            compress=p['compress'],
            mode=mode,
            app_files_dir=p['app_files_dir'] if p['layout'] == 'o4o_archive' else None,
        )
        result.update(changed=True, taken=True, msg=f"took {result['backup']['path']}")
    backups = list_backups(directory, database)
    if module.check_mode and result['taken']:
        backups.insert(0, predicted_backup(result['backup']['path'], now))
    doomed = plan_retention(backups, p['keep'], p['max_age_days'], now)
    orphans = find_orphans(directory)
    result['orphans'] = [f"{o['path']}: {o['problem']}" for o in orphans]
    stale = [o for o in orphans if o['removable'] and o['mtime'] < started]
    for orphan in orphans:
        if not orphan['removable']:
            module.warn(f"{orphan['path']}: {orphan['problem']}; it is kept, remove or move it if it is not needed")
    if doomed:
        result.update(changed=True, pruned=doomed)
    if stale:
        result.update(changed=True, removed_orphans=[o['path'] for o in stale])
    if not module.check_mode:
        remove_backups(doomed)
        remove_orphans(stale, started)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **connection_argument_spec(),
            database=dict(type='str', required=True),
            backup_dir=dict(type='path', required=True),
            layout=dict(type='str', choices=['custom', 'o4o_archive'], default='custom'),
            prefix=dict(type='str'),
            compress=dict(type='int', default=1),
            max_age_minutes=dict(type='float', default=60),
            force=dict(type='bool', default=False),
            keep=dict(type='int', default=7),
            max_age_days=dict(type='float', default=30),
            mode=dict(type='raw', default='0600'),
            app_files_dir=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    directory, database = p['backup_dir'], p['database']
    if p['app_files_dir'] and p['layout'] != 'o4o_archive':
        module.fail_json(msg='app_files_dir needs layout=o4o_archive: a custom-format dump cannot carry files')
    if not os.path.isdir(directory):
        if not module.check_mode:
            module.fail_json(
                msg=f'backup directory {directory} does not exist: create it (the pg_backup role does) '
                'or fix pg_backup_dir'
            )
        # A host that never had a backup: the role would create the directory first.
        name = backup_name(p['layout'], p['prefix'] or database, datetime.datetime.now(datetime.timezone.utc))
        module.exit_json(
            changed=True,
            taken=True,
            backup={'path': os.path.join(directory, name)},
            pruned=[],
            removed_orphans=[],
            orphans=[],
            msg=f'would create {directory} and take {name}',
        )
    before = sorted(os.listdir(directory))
    result: dict = {'changed': False, 'taken': False, 'pruned': [], 'removed_orphans': [], 'orphans': []}
    try:
        with contextlib.nullcontext() if module.check_mode else directory_lock(directory):
            run(module, result)
    except BackupError as err:
        module.fail_json(msg=f'backup of {database} failed and nothing was kept: {err}. {err.advice}', **result)
    except OSError as err:
        module.fail_json(
            msg=f'the backup of {database} is kept, but listing or pruning {directory} failed: {err}. '
            f'Check the directory and its file system (owner pg_backup_owner, mode 0700, df -h), then run again',
            **result,
        )
    if module._diff and result['changed']:
        gone = {os.path.basename(d) for d in result['pruned'] + result['removed_orphans']}
        after = (
            sorted(os.listdir(directory))
            if not module.check_mode
            else sorted(
                (set(before) | ({os.path.basename(result['backup']['path'])} if result['taken'] else set())) - gone
            )
        )
        result['diff'] = {
            'before': '\n'.join(before) + '\n',
            'after': '\n'.join(after) + '\n',
            'before_header': directory,
            'after_header': directory,
        }
    module.exit_json(**result)


if __name__ == '__main__':
    main()
