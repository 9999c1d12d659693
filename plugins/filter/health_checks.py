# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the health checks: what check mode could not check on a host that the run
would only provision."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError


def not_checked(checks: list[dict[str, Any]], would_install: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``checks`` (health_probe results), each one named in ``would_install``
    (``[{component, checks: [name, ...]}]``) replaced by a finding: not ok, ``not_checked``,
    and a detail that says which component this run would install first. Its probe ran
    against a host without that component, so its result says nothing of the run's outcome."""
    reasons: dict[str, str] = {}
    for entry in would_install or []:
        if not isinstance(entry, dict) or not entry.get('component'):
            raise AnsibleFilterError(f'not_checked: each entry needs a component and its checks, got {entry!r}')
        for name in entry.get('checks') or []:
            reasons.setdefault(name, entry['component'])
    return [
        {
            'name': check['name'],
            'kind': check.get('kind', ''),
            'ok': False,
            'not_checked': True,
            'detail': f"not checked: {reasons[check['name']]} would be installed by this run",
        }
        if check['name'] in reasons
        else check
        for check in checks
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {'not_checked': not_checked}
