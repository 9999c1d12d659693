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
    finding too); RV(ok) sums it up, for the caller to assert on.
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
  description: Reachable, the database exists, no table missing and none with fewer rows than the backup.
  returned: always
  type: bool
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
    result.update(compare(live, (reference or {}).get('tables') or {}, p['tables']))
    result['ok'] = bool(
        result['reachable'] and result['exists'] and not result['missing_tables'] and not result['fewer_rows']
    )
    if not result['reachable']:
        result['msg'] = f"the server did not answer: {result['error']}"
    elif not result['exists']:
        result['msg'] = f"database {p['database']} does not exist"
    else:
        lines = [
            f"{n}: {'missing' if r['rows'] is None else r['rows']} rows (backup {r['backup_rows']})"
            for n, r in result['tables'].items()
        ]
        result['msg'] = ('intact: ' if result['ok'] else 'damaged: ') + '; '.join(lines)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
