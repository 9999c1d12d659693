# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.safe_command: the policy is checked on the
controller, before anything reaches the target, in normal and in check mode."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.sre.runbooks.plugins.module_utils._audit import append_audit, audit_record, audit_stats
from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import (
    POLICY_VARIABLES,
    evaluate,
    inventory_policy,
    merge_policy,
)

display = Display()

ARGUMENT_SPEC = dict(
    cmd=dict(type='str'),
    argv=dict(type='list', elements='str'),
    chdir=dict(type='path'),
    creates=dict(type='path'),
    removes=dict(type='path'),
    stdin=dict(type='str'),
    policy=dict(type='dict', default={}),
    confirm=dict(type='list', elements='str', default=[]),
    override_rules=dict(type='list', elements='str', default=[]),
    override_reason=dict(type='str'),
)


class ActionModule(ActionBase):
    """Judge a command against the policy, then run it with the command/shell module."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[('cmd', 'argv')],
            required_one_of=[('cmd', 'argv')],
        )
        if args['override_rules'] and not (args['override_reason'] or '').strip():
            raise AnsibleActionFail('override_rules needs a non-empty override_reason, which is recorded')
        command = args['cmd'] if args['cmd'] is not None else args['argv']
        try:
            variables = {name: self._templar.template(task_vars.get(name)) for name in POLICY_VARIABLES}
            policy = merge_policy(*inventory_policy(variables), args['policy'])
        except ValueError as err:
            raise AnsibleActionFail(f'sre_safety_policy is invalid: {err}') from err
        verdict = evaluate(command, policy, args['confirm'], stdin=args['stdin'], cwd=args['chdir'])
        waived = [v for v in verdict['violations'] if v['rule'] in args['override_rules']]
        blocking = [v for v in verdict['violations'] if v not in waived]
        result.update(allowed=not blocking, reason=verdict['reason'], violations=verdict['violations'], cmd=command)
        if blocking:
            raise AnsibleActionFail(f"safe_command {verdict['reason']}", result=result)
        if waived:
            result['override'], result['ansible_stats'] = self._record_override(
                waived, args['override_reason'], command, task_vars
            )
        if self._task.check_mode:
            result.update(changed=True, skipped=False, msg='check mode: the policy allows this command; not run')
            return result
        self._supports_async = True
        module_args = {
            'chdir': args['chdir'],
            'creates': args['creates'],
            'removes': args['removes'],
            'stdin': args['stdin'],
        }
        if isinstance(command, str):
            module_args.update(_raw_params=command, _uses_shell=True)
        else:
            # No expansion: what runs is exactly what the policy read.
            module_args.update(argv=command, expand_argument_vars=False)
        run = self._execute_module(
            module_name='ansible.builtin.command',
            module_args=module_args,
            task_vars=task_vars,
            wrap_async=self._task.async_val,
        )
        result.update(run)
        result.update(allowed=True)
        return result

    def _record_override(
        self, waived: list[dict[str, str]], reason: str, command: Any, task_vars: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        rules = sorted({v['rule'] for v in waived})
        host = task_vars.get('inventory_hostname')
        record = audit_record('safe_command_override', host=host, rules=rules, reason=reason, command=command)
        log = append_audit(task_vars.get('sre_audit_log'), record)
        display.warning(
            f'safe_command: policy override on {host} of {", ".join(rules)} '
            f'for {command!r}; reason: {reason} (recorded in {log})'
        )
        return {'rules': rules, 'reason': reason, 'audit_log': log}, audit_stats(record)
