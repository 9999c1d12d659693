# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.compose: community.docker.docker_compose_v2 behind
the collection's safety policy, judged on the controller before anything runs."""

from __future__ import annotations

import shlex
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import (
    POLICY_VARIABLES,
    evaluate,
    inventory_policy,
    merge_policy,
)
from ansible_collections.sre.runbooks.plugins.module_utils._compose import command_line

OWN_ARGS = ('policy', 'confirm')


class ActionModule(ActionBase):
    """Spell the request as a docker compose command, judge it, then run docker_compose_v2."""

    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        module_args = {key: value for key, value in self._task.args.items() if key not in OWN_ARGS}
        try:
            argv = command_line(module_args)
            variables = {name: self._templar.template(task_vars.get(name)) for name in POLICY_VARIABLES}
            policy = merge_policy(*inventory_policy(variables), self._task.args.get('policy') or {})
        except ValueError as err:
            raise AnsibleActionFail(f'compose: {err}') from err
        verdict = evaluate(argv, policy, self._task.args.get('confirm') or [])
        result.update(cmd=shlex.join(argv), violations=verdict['violations'])
        if verdict['violations']:
            raise AnsibleActionFail(f"compose {verdict['reason']}; nothing was run", result=result)
        run = self._execute_module(
            module_name='community.docker.docker_compose_v2', module_args=module_args, task_vars=task_vars
        )
        result.update(run)
        return result
