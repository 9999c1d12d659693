# SPDX-License-Identifier: GPL-3.0-or-later
"""The safe_command action through ansible itself: refusals stop before anything
runs (normal and check mode), allowed commands run, overrides are recorded."""

from __future__ import annotations

import json

import pytest

from tests.support.adhoc import run_adhoc, run_adhoc_output


@pytest.fixture
def marker(tmp_path):
    return tmp_path / 'ran'


@pytest.mark.parametrize('check_mode', [False, True])
def test_refused_command_fails_and_runs_nothing(marker, check_mode):
    rc, result = run_adhoc(
        'sre.runbooks.safe_command',
        {'cmd': f'touch {marker} && docker compose down -v'},
        *(['--check'] if check_mode else []),
    )
    assert rc != 0
    assert result['allowed'] is False
    assert 'compose_down_volumes' in result['msg'] and 'deletes the named volumes' in result['msg']
    assert not marker.exists()


def test_allowed_shell_command_runs(marker):
    rc, result = run_adhoc('sre.runbooks.safe_command', {'cmd': f'touch {marker} && echo done | tr a-z A-Z'})
    assert rc == 0 and result['allowed'] and result['stdout'] == 'DONE'
    assert marker.exists()


def test_allowed_argv_runs_without_a_shell(tmp_path):
    rc, result = run_adhoc(
        'sre.runbooks.safe_command', {'argv': ['echo', '$HOME && docker volume rm x'], 'chdir': str(tmp_path)}
    )
    assert rc == 0 and result['stdout'] == '$HOME && docker volume rm x'


def test_check_mode_predicts_without_running(marker):
    rc, result = run_adhoc('sre.runbooks.safe_command', {'cmd': f'touch {marker}'}, '--check')
    assert rc == 0 and result['changed'] and result['allowed']
    assert not marker.exists()


def test_override_needs_a_reason(marker):
    rc, result = run_adhoc(
        'sre.runbooks.safe_command', {'cmd': 'redis-cli FLUSHALL', 'override_rules': ['redis_flush']}
    )
    assert rc != 0 and 'override_reason' in result['msg']


def test_override_is_recorded_in_the_audit_log(tmp_path, marker):
    log = tmp_path / 'audit.log'
    rc, result = run_adhoc(
        'sre.runbooks.safe_command',
        {
            'cmd': f'true redis-cli && touch {marker}; echo redis-cli FLUSHALL',
            'override_rules': ['redis_flush'],
            'override_reason': 'drill',
        },
        '-e',
        f'sre_audit_log={log}',
    )
    assert rc == 0  # nothing to waive: echo is not a flush, so no override is recorded
    assert 'override' not in result and not log.exists()
    rc, output = run_adhoc_output(
        'sre.runbooks.safe_command',
        {
            'argv': ['sh', '-c', f'touch {marker} || redis-cli FLUSHALL'],
            'override_rules': ['redis_flush'],
            'override_reason': 'INC-42: cache poisoned, flush approved by lead',
        },
        '-e',
        f'sre_audit_log={log}',
    )
    result = output['plays'][0]['tasks'][0]['hosts']['localhost']
    assert rc == 0, result
    assert result['override']['rules'] == ['redis_flush']
    record = json.loads(log.read_text().splitlines()[-1])
    assert record['event'] == 'safe_command_override' and record['reason'].startswith('INC-42')
    # and the job's artifacts hold it: AWX throws the controller's disk away
    assert list(output['global_custom_stats']['sre_audit'].values()) == [record]


def test_inventory_policy_is_applied(tmp_path):
    policy = json.dumps(
        {
            'sre_safety_policy': {
                'extra_rules': [{'id': 'no_reboot', 'argv': ['reboot'], 'reason': 'ask the on-call lead'}]
            }
        }
    )
    rc, result = run_adhoc('sre.runbooks.safe_command', {'cmd': 'sudo -n reboot'}, '-e', policy)
    assert rc != 0 and 'ask the on-call lead' in result['msg']


def test_cmd_and_argv_are_exclusive():
    rc, result = run_adhoc('sre.runbooks.safe_command', {'cmd': 'true', 'argv': ['true']})
    assert rc != 0 and 'mutually exclusive' in result['msg']


@pytest.mark.parametrize(
    ('args', 'rule'),
    [
        ({'argv': ['psql'], 'stdin': 'DROP DATABASE o4o_platform;'}, 'drop_live_database'),
        ({'argv': ['rm', '-rf', 'main'], 'chdir': '/var/lib/postgresql/15'}, 'pgdata_destroy'),
    ],
    ids=['stdin-to-a-database-shell', 'relative-delete-in-chdir'],
)
def test_stdin_and_chdir_are_judged_too(args, rule):
    rc, result = run_adhoc('sre.runbooks.safe_command', args, '--check')
    assert rc != 0 and rule in result['msg']
