# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.confirm: destructive work on a production
inventory needs the operator to type the target's name."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.sre.runbooks.plugins.module_utils._audit import append_audit, audit_record, audit_stats

display = Display()

# Environments known to hold nothing of value. Anything else, a typo or no
# sre_environment at all, counts as production: the guard fails closed.
NON_PRODUCTION = frozenset({'lab', 'molecule', 'ci', 'test', 'testing', 'dev', 'development', 'staging', 'local'})

ARGUMENT_SPEC = dict(
    target=dict(type='raw', required=True),
    action=dict(type='str', required=True),
    confirmation=dict(type='raw', no_log=False),
    environment=dict(type='str'),
)


def confirmed_names(confirmation: Any) -> list[str]:
    """The names the operator typed: a list, or one string of names joined by commas."""
    if confirmation is None:
        return []
    if isinstance(confirmation, (list, tuple)):
        return [str(name) for name in confirmation]
    return str(confirmation).split(',')


class ActionModule(ActionBase):
    """Runs on the controller only."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        environment = args['environment'] or task_vars.get('sre_environment') or 'unset'
        confirmation = args['confirmation']
        if confirmation is None:
            confirmation = task_vars.get('sre_confirm')
        targets = args['target'] if isinstance(args['target'], list) else [args['target']]
        targets = [str(name) for name in targets]
        target, action = ' and '.join(targets), args['action']
        result.update(changed=False, environment=environment, target=target, confirmed=False)
        if environment in NON_PRODUCTION:
            result.update(confirmed=True, msg=f'{environment}: no confirmation needed to {action} {target}')
            return result
        if environment != 'production':
            display.warning(
                f'sre_environment is {environment!r}, not one of {sorted(NON_PRODUCTION)}: treated as production'
            )
        how = f'-e sre_confirm={",".join(targets)} (in AWX, the survey field sre_confirm)'
        if set(targets) <= set(confirmed_names(confirmation)):
            record = audit_record(
                'production_confirmed', target=target, action=action, host=task_vars.get('inventory_hostname')
            )
            log = append_audit(task_vars.get('sre_audit_log'), record)
            result.update(
                confirmed=True,
                audit_log=log,
                ansible_stats=audit_stats(record),
                msg=f'production: {action} {target} confirmed',
            )
            return result
        if self._task.check_mode:
            display.warning(f'check mode: to {action} {target} in production, the real run needs {how}')
            result.update(
                would_need_confirmation=True, msg=f'check mode: {action} {target} in production would need {how}'
            )
            return result
        given = '' if confirmation in (None, '') else f' (got {confirmation!r})'
        raise AnsibleActionFail(
            f'refusing to {action} {target} in production without confirmation{given}. '
            f'Check the plan with --check, then run again with {how}.',
            result=result,
        )
