# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.report_file: writes a report on the controller, in the
controller's process (no module run, which costs about half a second per file)."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.sre.runbooks.plugins.module_utils._backup import write_durably

ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    content=dict(type='str', required=True),
    mode=dict(type='raw', default='0640'),
)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class ActionModule(ActionBase):
    """Writes content to path on the controller, whatever the task's host."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        path, content = args['path'], args['content']
        try:
            mode = int(args['mode'], 8) if isinstance(args['mode'], str) else int(args['mode'])
        except ValueError as err:
            raise AnsibleActionFail(f"report_file: mode {args['mode']!r} is not an octal mode like '0640'") from err
        before = _read(path)
        changed = before != content
        result.update(changed=changed, path=path, size=len(content.encode()))
        if self._task.diff and changed:
            result['diff'] = {'before': before or '', 'after': content, 'before_header': path, 'after_header': path}
        if changed and not self._task.check_mode:
            try:
                os.makedirs(os.path.dirname(path) or '.', mode=0o750, exist_ok=True)
                write_durably(path, content, mode)
            except OSError as err:
                raise AnsibleActionFail(
                    f'report_file: cannot write {path} on the controller: {err}. Check the directory '
                    '(incident_report_dir or the report path) and its permissions, then run again'
                ) from err
        return result
