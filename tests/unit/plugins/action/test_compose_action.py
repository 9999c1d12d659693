# SPDX-License-Identifier: GPL-3.0-or-later
"""The compose action through ansible itself: a request the policy refuses fails
before docker_compose_v2 runs, in normal and in check mode."""

from __future__ import annotations

import pytest

from tests.support.adhoc import run_adhoc


@pytest.mark.parametrize('check_mode', [False, True])
def test_down_with_volumes_is_refused_before_anything_runs(tmp_path, check_mode):
    # The project directory does not even exist: a refusal must come first.
    rc, result = run_adhoc(
        'sre.runbooks.compose',
        {'project_src': str(tmp_path / 'absent'), 'state': 'absent', 'remove_volumes': True},
        *(['--check'] if check_mode else []),
    )
    assert rc != 0
    assert 'compose_down_volumes' in result['msg'] and 'nothing was run' in result['msg']
    assert result['cmd'] == 'docker compose down --volumes'
