# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.nginx_reload: nginx is never reloaded, restarted or
started on a configuration that `nginx -t` rejects (runbook O4, F13)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(
    state=dict(type='str', choices=['started', 'reloaded', 'restarted'], default='reloaded'),
    name=dict(type='str', default='nginx'),
    test_command=dict(type='list', elements='str', default=['nginx', '-t']),
)


class ActionModule(ActionBase):
    """Run the config test on the target (also in check mode: it only reads), then the service."""

    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        check_mode, self._task.check_mode = self._task.check_mode, False
        try:
            test = self._execute_module(
                module_name='ansible.builtin.command',
                module_args={'argv': args['test_command']},
                task_vars=task_vars,
            )
        finally:
            self._task.check_mode = check_mode
        output = (test.get('stderr') or test.get('msg') or '').strip()
        result['config_test'] = {'rc': test.get('rc'), 'output': output.splitlines()}
        if test.get('rc') != 0:
            raise AnsibleActionFail(
                f"nginx_reload: '{' '.join(args['test_command'])}' rejected the configuration, so "
                f"{args['name']} was not {args['state']} and keeps serving the configuration it had "
                f'loaded. Fix the file named here and run again: {output}',
                result=result,
            )
        service = self._execute_module(
            module_name='ansible.builtin.service',
            module_args={'name': args['name'], 'state': args['state']},
            task_vars=task_vars,
        )
        if service.get('failed'):
            raise AnsibleActionFail(f"nginx_reload: {service.get('msg')}", result=service)
        result.update(changed=service.get('changed', False), state=args['state'])
        verb = 'would be' if check_mode and result['changed'] else 'is'
        result['msg'] = f"configuration test passed; {args['name']} {verb} {args['state']}"
        return result
