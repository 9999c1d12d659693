# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.backup_gate: nothing destructive happens to a
database without a verified backup of it younger than max_age_minutes."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(
    database=dict(type='str', required=True),
    backup_dir=dict(type='path', required=True),
    max_age_minutes=dict(type='float', default=60),
    backup_command=dict(type='str'),
)


class ActionModule(ActionBase):
    """Ask backup_info on the target, then decide on the controller."""

    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        database, limit = args['database'], args['max_age_minutes']
        host = task_vars.get('inventory_hostname', 'localhost')
        fix = args['backup_command'] or (
            f'ansible-playbook playbooks/backup.yml -l {host} -e pg_backup_database={database}'
        )
        info = self._execute_module(
            module_name='sre.runbooks.backup_info',
            module_args={'backup_dir': args['backup_dir'], 'database': database},
            task_vars=task_vars,
        )
        if info.get('failed'):
            raise AnsibleActionFail(f"backup_gate: {info.get('msg')}. Take a backup first: {fix}", result=info)
        skipped = info['skipped_backups']
        result.update(changed=False, database=database, skipped_backups=skipped)
        newest = info['newest_usable']
        if newest is None:
            detail = f" ({len(skipped)} unusable: {' | '.join(skipped)})" if skipped else ''
            raise AnsibleActionFail(
                f"backup_gate: no verified backup of {database} in {args['backup_dir']}{detail}. Take one first: {fix}",
                result=result,
            )
        result['backup'] = newest
        if newest['age_minutes'] > limit:
            raise AnsibleActionFail(
                f"backup_gate: the newest verified backup of {database} ({newest['path']}) is "
                f"{newest['age_minutes']:.0f} minutes old, over the limit of {limit:.0f}. Take a fresh one: {fix}",
                result=result,
            )
        result['msg'] = (
            f"verified backup of {database}: {newest['path']}, "
            f"{newest['age_minutes']:.0f} minutes old (limit {limit:.0f})"
        )
        return result
