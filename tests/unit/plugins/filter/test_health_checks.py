# SPDX-License-Identifier: GPL-3.0-or-later
"""not_checked: the checks a check-mode run on a host it would provision could not make."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.health_checks import not_checked

CHECKS = [
    {'name': 'postgresql', 'kind': 'postgres', 'ok': False, 'detail': 'pg_isready is not installed', 'rc': 2},
    {'name': 'api health', 'kind': 'http', 'ok': True, 'detail': '200'},
    {'name': 'disk /', 'kind': 'disk', 'ok': True, 'detail': '11% used'},
]


@pytest.mark.parametrize('would_install', [[], None, [{'component': 'redis', 'checks': ['redis']}]])
def test_nothing_to_install_leaves_every_check_as_probed(would_install):
    assert not_checked(CHECKS, would_install) == CHECKS


def test_a_check_that_needs_what_the_run_would_install_is_a_finding_never_ok():
    marked = not_checked(
        CHECKS,
        [
            {'component': 'PostgreSQL 15', 'checks': ['postgresql']},
            {'component': 'api-server', 'checks': ['api health', 'postgresql']},
        ],
    )
    assert marked[0] == {
        'name': 'postgresql',
        'kind': 'postgres',
        'ok': False,
        'not_checked': True,
        'detail': 'not checked: PostgreSQL 15 would be installed by this run',
    }
    # Passed against whatever answers now: still not checked, not ok.
    assert (marked[1]['ok'], marked[1]['detail']) == (False, 'not checked: api-server would be installed by this run')
    assert marked[2] == CHECKS[2]


@pytest.mark.parametrize('entry', [{'checks': ['postgresql']}, 'postgresql', {'component': '', 'checks': []}])
def test_an_entry_without_its_component_is_refused(entry):
    with pytest.raises(AnsibleFilterError, match='component'):
        not_checked(CHECKS, [entry])
