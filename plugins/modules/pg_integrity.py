#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_integrity
short_description: Compare a live database's tables and row counts with its newest verified backup
version_added: 0.1.0
description:
  - Counts the rows of every table of O(database) in one snapshot and compares them
    with the manifest of the newest verified backup in O(backup_dir) (or O(backup)),
    as written by C(sre.runbooks.pg_backup).
  - Reports tables that the backup has and the database lacks, and tables with fewer
    rows than the backup (runbook O3 assessment, O10 data integrity). More rows than the
    backup is normal (writes since it was taken) and reported only as a difference.
  - Never fails on what it finds (an unreachable server or a missing database is a
    finding too); RV(ok) sums it up, for the caller to assert on, and RV(findings) lists
    each with its severity.
  - Nothing to compare with (no O(backup_dir) nor O(backup), no usable backup in it, an
    unreadable manifest) is the finding C(no_reference), severity C(warning), and RV(ok)
    is false - a database is never called intact when nothing was compared. A table of
    O(tables) that the backup lacks is the warning C(not_in_backup).
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  database:
    description: The live database.
    type: str
    required: true
  backup_dir:
    description: Directory of the backups; the newest verified one is the reference.
    type: path
  backup:
    description: A backup file to compare with instead (its manifest is read).
    type: path
  tables:
    description: Only these tables (C(schema.table)); default every table of the manifest.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - sre.runbooks.postgres
  - sre.runbooks.attributes.read_only
seealso:
  - module: sre.runbooks.backup_info
  - module: sre.runbooks.pg_restore
"""

EXAMPLES = r"""
- name: Compare o4o_platform with its newest backup
  sre.runbooks.pg_integrity:
    database: o4o_platform
    backup_dir: /backup/o4o-platform
    tables: [public.users, public.products, public.orders]
  become: true
  become_user: postgres
  register: integrity
"""

RETURN = r"""
ok:
  description:
    - A reference backup was compared, the server answered, the database exists, no table
      is missing and none has fewer rows than the backup. False whenever RV(findings) is not empty.
  returned: always
  type: bool
findings:
  description:
    - What keeps RV(ok) false, each with C(severity) (C(critical) or C(warning)), C(code)
      (C(unreachable), C(no_database), C(missing_tables), C(fewer_rows), C(no_reference),
      C(not_in_backup)) and C(msg).
  returned: always
  type: list
  elements: dict
reachable:
  description: Whether the server answered.
  returned: always
  type: bool
tables:
  description: Per table, the live rows, the backup's rows and the difference.
  returned: always
  type: dict
  sample: {public.users: {rows: 1500, backup_rows: 2000, delta: -500}}
missing_tables:
  description: Tables of the backup that the database lacks.
  returned: always
  type: list
  elements: str
fewer_rows:
  description: Tables with fewer rows than the backup.
  returned: always
  type: list
  elements: str
backup:
  description: Path and creation time of the reference backup; null when there is none.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._backup import (
    MANIFEST_SUFFIX,
    inspect_backup,
    list_backups,
    pick_newest,
)
from ansible_collections.sre.runbooks.plugins.module_utils._postgres import (
    COUNT_ROWS_SQL,
    PostgresError,
    connection_argument_spec,
    table_counts,
    target_from_params,
)


def compare(live: dict[str, int], reference: dict[str, int], tables: list[str]) -> dict:
    """Per-table comparison of live counts with a manifest's counts."""
    names = tables or sorted(reference) or sorted(live)
    report = {
        name: {
            'rows': live.get(name),
            'backup_rows': reference.get(name),
            'delta': None if name not in live or name not in reference else live[name] - reference[name],
        }
        for name in names
    }
    missing = [name for name in names if name not in live]
    fewer = [name for name, row in report.items() if row['delta'] is not None and row['delta'] < 0]
    return {'tables': report, 'missing_tables': missing, 'fewer_rows': fewer}


def findings_of(result: dict, reference: dict | None, database: str) -> list[dict[str, str]]:
    """Every reason the database is not confirmed intact, with its severity."""
    found = []

    def add(severity: str, code: str, msg: str) -> None:
        found.append({'severity': severity, 'code': code, 'msg': msg})

    if not result['reachable']:
        add('critical', 'unreachable', f"the server did not answer: {result['error']}")
    elif not result['exists']:
        add('critical', 'no_database', f'database {database} does not exist')
    if reference is None or not reference.get('usable') or not reference.get('tables'):
        why = '; '.join((reference or {}).get('problems') or []) or 'none given or found'
        add(
            'warning',
            'no_reference',
            f'no reference backup ({why}): nothing was compared; give backup_dir or backup '
            '(a verified backup of this database) to check the rows',
        )
    elif result['reachable'] and result['exists']:
        if result['missing_tables']:
            add('critical', 'missing_tables', f"tables missing: {', '.join(result['missing_tables'])}")
        if result['fewer_rows']:
            add('critical', 'fewer_rows', f"fewer rows than the backup: {', '.join(result['fewer_rows'])}")
        lacking = [name for name, row in result['tables'].items() if row['backup_rows'] is None]
        if lacking:
            add('warning', 'not_in_backup', f"the backup has no count of {', '.join(lacking)}: not compared")
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **connection_argument_spec(),
            database=dict(type='str', required=True),
            backup_dir=dict(type='path'),
            backup=dict(type='path'),
            tables=dict(type='list', elements='str', default=[]),
        ),
        mutually_exclusive=[('backup', 'backup_dir')],
        supports_check_mode=True,
    )
    p = module.params
    reference, problems = None, []
    if p['backup']:
        reference = inspect_backup(p['backup'] + MANIFEST_SUFFIX, p['database'], verify_checksum=False)
    elif p['backup_dir']:
        reference, problems = pick_newest(list_backups(p['backup_dir'], p['database'], verify_checksum=False))
    target = target_from_params(p, module.get_bin_path('docker', required=bool(p['container'])))
    result = dict(changed=False, reachable=True, exists=True, skipped_backups=problems)
    result['backup'] = reference and {'path': reference['path'], 'created_at': reference.get('created_at')}
    try:
        exists = target.script("SELECT 1 FROM pg_database WHERE datname = :'db';", {'db': p['database']})
        result['exists'] = bool(exists)
        live = table_counts(target.script(COUNT_ROWS_SQL, database=p['database'])) if exists else {}
    except PostgresError as err:
        result.update(reachable=False, exists=None, error=str(err))
        live = {}
    usable = reference is not None and reference.get('usable')
    result.update(compare(live, (reference or {}).get('tables') or {} if usable else {}, p['tables']))
    result['findings'] = findings_of(result, reference, p['database'])
    result['ok'] = not result['findings']
    codes = {finding['code'] for finding in result['findings']}
    lines = [
        f"{n}: {'missing' if r['rows'] is None else r['rows']} rows (backup {r['backup_rows']})"
        for n, r in result['tables'].items()
    ]
    if 'unreachable' in codes or 'no_database' in codes:
        result['msg'] = result['findings'][0]['msg']
    elif 'no_reference' in codes:
        result['msg'] = 'not compared: ' + next(f['msg'] for f in result['findings'] if f['code'] == 'no_reference')
    else:
        critical = any(finding['severity'] == 'critical' for finding in result['findings'])
        verdict = 'intact' if result['ok'] else 'damaged' if critical else 'not fully compared'
        result['msg'] = f"{verdict}: {'; '.join(lines)}"

    module.exit_json(**result)


if __name__ == '__main__':
    main()
