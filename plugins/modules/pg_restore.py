#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_restore
short_description: Rehearse a restore into <db>_restore, verify it, and swap it in crash-safely
version_added: 0.1.0
description:
  - O(phase=rehearse) restores a verified backup (taken by the C(sre.runbooks.pg_backup)
    role) into C(<db>_restore), never into C(<db>), and checks the restore's exit
    status, every table's row count against the manifest and O(required_tables).
  - O(phase=swap) blocks new connections to C(<db>), ends its sessions, renames
    C(<db>) to C(<db>_broken_<timestamp>) and C(<db>_restore) to C(<db>) in one
    transaction, and allows connections again. Nothing is ever dropped but a stale
    C(<db>_restore).
  - Crash-safe; if the process or the host dies at any step, running the module again
    completes the swap. The name C(<db>) never disappears.
  - Idempotent; when C(<db>) already is the restore of the chosen backup, nothing is done.
    The mark on C(<db>) is not taken on trust - no table of the backup may be missing or
    hold fewer rows than the manifest says (more rows are the writes since the restore);
    a marked but damaged C(<db>) is restored again, and the message says why.
  - A swap that fails after blocking connections lets clients in again on whichever
    database is live, and its message names the state it left. O(phase=reopen) does the
    same after a swap that died (the role's rescue runs it).
  - With O(max_age_minutes), a backup older than that is refused; with O(taken_before)
    (when a compromise began) the backup must be taken before it and its age counts from
    it, not from now, and the advice never is to back up the compromised data.
  - O(phase=restore) does both in one run, the swap only after the rehearsal passed. The
    backup is chosen, its checksum read and its age checked once, and no second module run
    pays its start-up. The C(pg_restore) role uses it.
  - Runbook procedures O6, Q8 and F7. Put M(sre.runbooks.confirm) before the first phase that
    changes anything (the C(pg_restore) role does); the checks of M(sre.runbooks.backup_gate)
    on the chosen backup are this module's own, before anything is changed.
requirements:
  - For custom-format backups, C(pg_restore) on the target or inside O(container), as new as the
    C(pg_dump) that took the backup (an older C(pg_restore) refuses a newer archive); O4O archives
    (C(.tar.gz) with a gzipped SQL dump) are fed to C(psql) instead
  - The backup and its manifest readable on the target by the user the module runs as (their
    size and checksum are checked there before anything is changed)
  - A database user allowed to create, rename and drop databases and to end other sessions,
    such as C(postgres) (the examples run the module as that OS user, with peer authentication)
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  database:
    description: The live database to restore.
    type: str
    required: true
  backup:
    description: Backup file to restore; it must pass every check of M(sre.runbooks.backup_info).
    type: path
  backup_dir:
    description: Directory to choose the newest usable backup from, when O(backup) is not given.
    type: path
  phase:
    description:
      - Which part to run. V(restore) is V(rehearse) then V(swap) in one run. V(reopen) only
        allows connections again to O(database) and to the copy a swap set aside, and reports
        which database is live.
    type: str
    choices: [rehearse, swap, restore, reopen]
    required: true
  max_age_minutes:
    description:
      - Oldest acceptable backup, in minutes; 0 accepts any age. Counted from now, or from
        O(taken_before) when that is given. The C(pg_restore) role passes
        C(pg_restore_backup_max_age_minutes).
    type: float
    default: 0
  taken_before:
    description:
      - An ISO 8601 time when a compromise began (runbook O9, ransomware). The backup must
        be taken before it (with O(backup_dir), the newest usable one before it is
        chosen) and O(max_age_minutes) counts from it. A time without a zone is UTC.
    type: str
  required_tables:
    description: Tables (C(schema.table)) that the rehearsal must contain.
    type: list
    elements: str
    default: []
  owner:
    description: Owner of the rehearsal database; defaults to the owner of O(database).
    type: str
  jobs:
    description: Parallel jobs of C(pg_restore) for custom-format backups on the host.
    type: int
    default: 2
  allow_missing_live:
    description:
      - Restore also when O(database) does not exist (a new or rebuilt server, runbook O9
        scenarios 2 and 3); the verified rehearsal is then renamed to O(database) and
        nothing is set aside. Without it a missing database is taken for a wrong name.
      - The rehearsal is owned by O(owner), or C(postgres) when that is not given.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports the backup it would use and what it would rename.
  diff_mode:
    support: none
    description: Reports the plan in its message instead.
  idempotent:
    support: full
    description: A second run after a successful swap changes nothing.
extends_documentation_fragment:
  - sre.runbooks.postgres
seealso:
  - module: sre.runbooks.pg_backup
  - module: sre.runbooks.backup_gate
  - module: community.postgresql.postgresql_db
notes:
  - community.postgresql.postgresql_db C(state=rename) is deprecated and does not end
    the sessions of the database it renames, so it cannot swap a live database; its
    C(state=restore) restores into the named database directly, which runbook Q8 forbids.
"""

EXAMPLES = r"""
- name: Rehearse the newest O4O backup
  become: true
  become_user: postgres
  sre.runbooks.pg_restore:
    database: o4o_platform
    backup_dir: /backup/o4o-platform
    phase: rehearse
    required_tables: [public.users, public.products, public.orders]
  register: __rehearsal

- name: Swap it in
  become: true
  become_user: postgres
  sre.runbooks.pg_restore:
    database: o4o_platform
    backup: "{{ __rehearsal.backup.path }}"
    phase: swap

- name: Or both in one run, as the pg_restore role does (after its confirmation)
  become: true
  become_user: postgres
  sre.runbooks.pg_restore:
    database: o4o_platform
    backup_dir: /backup/postgres
    phase: restore
    max_age_minutes: 10080
"""

RETURN = r"""
backup:
  description: The backup used (see M(sre.runbooks.backup_info)).
  returned: success
  type: dict
skipped_backups:
  description: Newer backups that were not usable, with why.
  returned: always
  type: list
  elements: str
tables:
  description: Row count per table of the rehearsal (or of the live database after the swap).
  returned: when a rehearsal ran or was found
  type: dict
rehearsal:
  description: The rehearsal part of O(phase=restore) - whether it changed anything, its message and row counts.
  returned: phase=restore, when the swap ran
  type: dict
broken:
  description: Name the old database was renamed to.
  returned: phase=swap or restore
  type: str
resumed:
  description: Whether the swap finished the work of an earlier run that died.
  returned: phase=swap or restore
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._backup import (
    MANIFEST_SUFFIX,
    age_problem,
    inspect_backup,
    list_backups,
    parse_time,
    pick_clean,
    pick_newest,
)
from ansible_collections.sre.runbooks.plugins.module_utils._pg_restore import (
    RestoreError,
    SwapStopped,
    database_owner,
    database_state,
    live_differences,
    rehearse,
    reopen,
    swap,
)
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import (
    PostgresError,
    Target,
    connection_argument_spec,
    target_from_params,
)


def choose_backup(module: AnsibleModule) -> tuple[dict, list[str]]:
    p = module.params
    if p['backup']:
        chosen = inspect_backup(p['backup'] + MANIFEST_SUFFIX, p['database'])
        if not chosen['usable']:
            module.fail_json(msg=f"backup {p['backup']} cannot be used: {'; '.join(chosen['problems'])}")
        return chosen, []
    if not p['backup_dir'] or not os.path.isdir(p['backup_dir']):
        module.fail_json(msg=f"backup directory {p['backup_dir']} does not exist; check pg_restore_backup_dir")
    # Checksums are read newest first, only until a backup passes (pick_*(verify=True)).
    backups = list_backups(p['backup_dir'], p['database'], verify_checksum=False)
    backup, skipped = (
        pick_clean(backups, p['taken_before'], verify=True) if p['taken_before'] else pick_newest(backups, verify=True)
    )
    if backup:
        for text in skipped:
            module.warn(f'skipped a damaged backup: {text}')
        return backup, skipped
    module.fail_json(
        msg=f"no usable backup of {p['database']} in {p['backup_dir']}"
        + (f" taken before {p['taken_before']}" if p['taken_before'] else '')
        + (f" ({' | '.join(skipped)})" if skipped else '')
        + (
            '; find a clean copy taken before the compromise (the off-host store); a backup taken now '
            'would hold the compromised data'
            if p['taken_before']
            else '; take one with playbooks/backup.yml'
        ),
        skipped_backups=skipped,
    )
    raise AssertionError('unreachable')


AGE_VARIABLE = 'pg_restore_backup_max_age_minutes'


def check_age(module: AnsibleModule, backup: dict, result: dict) -> None:
    """Refuse a backup too old (from now, or before the compromise) or taken after the compromise."""
    p = module.params
    if p['taken_before'] and parse_time(str(backup.get('created_at'))) >= parse_time(p['taken_before']):
        module.fail_json(
            msg=f"backup {backup['path']} was taken {backup.get('created_at')}, after the compromise began "
            f"({p['taken_before']}): it may hold the compromised data. Choose a clean backup taken before it "
            '(leave pg_restore_backup empty to let the newest one be picked); nothing was changed',
            **result,
        )
    problem = age_problem(backup, p['max_age_minutes'], taken_before=p['taken_before'], variable=AGE_VARIABLE)
    if problem:
        module.fail_json(msg=f'{problem}. Nothing was changed.', **result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **connection_argument_spec(),
            database=dict(type='str', required=True),
            backup=dict(type='path'),
            backup_dir=dict(type='path'),
            phase=dict(type='str', choices=['rehearse', 'swap', 'restore', 'reopen'], required=True),
            required_tables=dict(type='list', elements='str', default=[]),
            owner=dict(type='str'),
            jobs=dict(type='int', default=2),
            allow_missing_live=dict(type='bool', default=False),
            max_age_minutes=dict(type='float', default=0),
            taken_before=dict(type='str'),
        ),
        required_if=[
            ('phase', 'rehearse', ('backup', 'backup_dir'), True),
            ('phase', 'swap', ('backup', 'backup_dir'), True),
            ('phase', 'restore', ('backup', 'backup_dir'), True),
        ],
        supports_check_mode=True,
    )
    p = module.params
    target = target_from_params(p, module.get_bin_path('docker', required=bool(p['container'])))
    if p['phase'] == 'reopen':
        run_reopen(module, target)
    if p['taken_before']:
        try:
            parse_time(p['taken_before'])
        except ValueError as err:
            module.fail_json(msg=f"taken_before {p['taken_before']!r} is not an ISO 8601 time: {err}")
    backup, skipped = choose_backup(module)
    result = {'backup': backup, 'skipped_backups': skipped}
    try:
        run_restore(module, target, backup, result)
    except SwapStopped as err:
        module.fail_json(msg=str(err), **result)
    except (RestoreError, PostgresError) as err:
        module.fail_json(
            msg=f"{err}. The live database {p['database']} was not replaced; it is safe to run again.", **result
        )


def run_restore(module: AnsibleModule, target: Target, backup: dict, result: dict) -> None:
    """phase=rehearse, swap or restore (both in this one run) with the chosen backup."""
    database, phase = module.params['database'], module.params['phase']
    state = database_state(target, {'live': database, 'restore': f'{database}_restore'})
    done, again = live_is_restored(module, target, backup, state, result)
    check_age(module, backup, result)
    if phase in ('rehearse', 'restore'):
        rehearsal = run_rehearsal(module, target, backup, state=state, done=done, again=again)
        if phase == 'rehearse':
            module.exit_json(**rehearsal, **result)
        if module.check_mode:
            # Past live_is_restored, the swap (or the end of one that died) is still to do.
            swap_msg = f'; then {predicted_swap(database, state["live"]["exists"])}'
            module.exit_json(**{**rehearsal, 'changed': True, 'msg': rehearsal['msg'] + swap_msg}, **result)
        result['rehearsal'] = rehearsal
        again = ''  # the rehearsal's message already says why
    run_swap(module, target, backup, result, live_exists=state['live']['exists'], again=again)


def predicted_swap(database: str, live_exists: bool) -> str:
    restore = f'{database}_restore'
    if live_exists:
        return f'would rename {database} to {database}_broken_<timestamp> and {restore} to {database}'
    return f'would rename {restore} to {database} (which does not exist yet)'


def live_is_restored(
    module: AnsibleModule, target: Target, backup: dict, state: dict, result: dict
) -> tuple[bool, str]:
    """Exit when the live database already is the restore of backup and lacks no rows
    of it; else (whether the swap of backup is done, why a marked database is restored
    again: '' or a sentence)."""
    database = module.params['database']
    live, rehearsal = state['live'], state['restore']
    done = (live['marker'] or {}).get('sha256') == backup['sha256'] and not rehearsal['exists']
    if not (done and live['allow_connections'] and live['marker'].get('state') == 'restored'):
        return done, ''
    wrong = live_differences(target, database, backup.get('tables') or live['marker'].get('tables') or {})
    if not wrong:
        module.exit_json(
            msg=f"{database} already is the restore of {backup['path']}; no table lacks rows of it",
            tables=live['marker'].get('tables'),
            broken=live['marker'].get('broken'),
            **result,
        )
    return False, (
        f"{database} carries the mark of {os.path.basename(backup['path'])} but {'; '.join(wrong)}: restoring again. "
    )


def run_rehearsal(module: AnsibleModule, target: Target, backup: dict, *, state: dict, done: bool, again: str) -> dict:
    """Restore backup into <db>_restore and verify it, unless that is done (done, again:
    what live_is_restored found); returns changed, msg and the row counts."""
    p = module.params
    database, restore = p['database'], f"{p['database']}_restore"
    live, rehearsal = state['live'], state['restore']
    if not live['exists'] and not done and not p['allow_missing_live']:
        module.fail_json(
            msg=f'database {database} does not exist on this server; check the name (nothing was changed)',
            backup=backup,
        )
    marker = rehearsal['marker'] or {}
    if (rehearsal['exists'] and marker.get('sha256') == backup['sha256']) or done:
        return {
            'changed': False,
            'msg': f'{restore} already holds the verified rehearsal of {backup["path"]}',
            'tables': (marker or live['marker'] or {}).get('tables'),
        }
    if module.check_mode:
        return {'changed': True, 'msg': f"{again}would restore {backup['path']} into {restore} and verify it"}
    owner = p['owner'] or (database_owner(target, database) if live['exists'] else 'postgres')
    rehearsed = rehearse(target, database, backup, owner=owner, required_tables=p['required_tables'], jobs=p['jobs'])
    return {
        'changed': True,
        'tables': rehearsed['tables'],
        'msg': f"{again}restored {backup['path']} into {restore}; row counts match the manifest",
    }


def run_swap(
    module: AnsibleModule, target: Target, backup: dict, result: dict, *, live_exists: bool, again: str
) -> None:
    """phase=swap: <db> becomes <db>_broken_<timestamp> and <db>_restore becomes <db>."""
    p = module.params
    database = p['database']
    if module.check_mode:
        module.exit_json(changed=True, msg=again + predicted_swap(database, live_exists), **result)
    swapped = swap(target, database, backup['sha256'], allow_missing_live=p['allow_missing_live'])
    rehearsal = result.get('rehearsal') or {}
    module.exit_json(
        changed=swapped['changed'] or rehearsal.get('changed', False),
        broken=swapped['broken'],
        tables=backup.get('tables'),
        resumed=swapped.get('resumed', False),
        msg=(f"{rehearsal['msg']}; " if rehearsal else '')
        + f"{again}{database} now serves the restore of {backup['path']}; "
        + (f"the old one is {swapped['broken']}" if swapped['broken'] else 'there was no old one'),
        **result,
    )


def run_reopen(module: AnsibleModule, target: Target) -> None:
    """phase=reopen: connections back on after a swap that died, and the state."""
    database = module.params['database']
    try:
        if module.check_mode:
            state = database_state(target, {'live': database})['live']
            module.exit_json(
                changed=state['exists'] and not state['allow_connections'],
                msg=f'{database} '
                + ('accepts connections' if state['allow_connections'] else 'would accept connections again'),
            )
        reopened = reopen(target, database)
    except PostgresError as err:
        module.fail_json(
            msg=f'could not let clients into {database} again: {err}. When the server answers, run '
            f'ALTER DATABASE {database} ALLOW_CONNECTIONS true (as postgres), or run the restore again'
        )
    module.exit_json(changed=reopened['changed'], broken=reopened['broken'], msg=reopened['state'])


if __name__ == '__main__':
    main()
