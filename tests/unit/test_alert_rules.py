# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/alert_rules.yml (role alert_rules, runbooks F3/F11/R1) through ansible-playbook
on the controller: every team's Prometheus rules rendered into a temporary directory,
checked with the real `promtool check rules` and unit-tested with `promtool test rules`
(tests/promtool/*.test.yml); idempotence, check mode with diff, a broken rule that never
replaces a good file, refused thresholds, a pattern that matches no host.

The inventory is a temporary one with the production groups (no host is contacted:
every task runs on the controller), and inventories/lab for the lab's short windows."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which('promtool') or '/usr/bin/promtool'
TEAMS = ('fragrance', 'o4o', 'qa_arena', 'refit')
SEVERITIES = {'P0', 'P1', 'P2', 'P3'}
REMEDIATIONS = {'rollback', 'restart', 'scale', 'diagnose'}
# The production groups of the four teams; o4o has several hosts in two child groups,
# of which one renders the team's file.
INVENTORY = {
    'all': {
        'children': {
            'refit': {'hosts': {'refit-ai': {}}},
            'fragrance': {'hosts': {'fragrance-ai': {}}},
            'qa_arena': {'hosts': {'qa-arena': {}}},
            'o4o': {'children': {'o4o_api': {'hosts': {'api': {}, 'spare': {}}}, 'o4o_web': {'hosts': {'web': {}}}}},
        }
    }
}

pytestmark = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason='promtool (Debian prometheus) is not installed')


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.changed = sum(int(n) for n in re.findall(r'^\S+\s+: ok=\d+\s+changed=(\d+)', proc.stdout, re.M))


@pytest.fixture(scope='module')
def tmpdir_short() -> Iterator[Path]:
    """A short TMPDIR for ansible-playbook (ansible-core's sockets live there)."""
    path = Path(tempfile.mkdtemp(prefix='ar', dir='/tmp'))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='module')
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp('inventory') / 'hosts.yml'
    path.write_text(yaml.safe_dump(INVENTORY))
    return path


@pytest.fixture(scope='module')
def playbook(tmpdir_short: Path):
    def run(inventory: Path | str, out: Path, *args: str, extra: dict[str, Any] | None = None) -> Run:
        cmd = [
            str(Path(sys.executable).parent / 'ansible-playbook'),
            '-i',
            str(inventory),
            str(ROOT / 'playbooks' / 'alert_rules.yml'),
            '-e',
            f'alert_rules_dir={out}',
            *args,
        ]
        if extra:
            cmd += ['-e', json.dumps(extra)]
        env = {
            **os.environ,
            'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
            'TMPDIR': str(tmpdir_short),
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_NOCOLOR': '1',
            'PATH': f'{Path(sys.executable).parent}:{os.environ.get("PATH", "")}',
        }
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
        return Run(proc)

    return run


@pytest.fixture(scope='module')
def rendered(playbook, inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four teams' rules with the production windows."""
    out = tmp_path_factory.mktemp('rules')
    run = playbook(inventory, out)
    assert run.rc == 0, run.out[-3000:]
    assert run.changed == len(TEAMS) + 1  # the directory, then one file per team
    return out


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_file_per_team(rendered: Path) -> None:
    assert sorted(p.name for p in rendered.iterdir()) == [f'{team}.rules.yml' for team in TEAMS]
    for team in TEAMS:
        groups = yaml.safe_load((rendered / f'{team}.rules.yml').read_text())['groups']
        assert [g['name'] for g in groups] == [f'sre_runbooks_{team}']
        for rule in groups[0]['rules']:
            assert rule['labels']['severity'] in SEVERITIES
            assert rule['labels']['team'] == team
            assert rule['annotations']['remediation'] in REMEDIATIONS
            assert rule['annotations']['summary'].startswith(f'{team}: ')
            assert f'job="{team}"' in rule['expr']


def test_alerts_of_each_team(rendered: Path) -> None:
    """The alerts, severities and remediations that the EDA rulebook maps (issue #16)."""
    found = {
        team: [
            (r['alert'], r['labels']['severity'], r['annotations']['remediation'])
            for r in yaml.safe_load((rendered / f'{team}.rules.yml').read_text())['groups'][0]['rules']
        ]
        for team in TEAMS
    }
    assert found['refit'] == [
        ('HighErrorRate', 'P0', 'rollback'),
        ('HighErrorRate', 'P1', 'diagnose'),
        ('HighErrorRate', 'P2', 'diagnose'),
        ('HighResponseTime', 'P2', 'diagnose'),
        ('HealthCheckFailing', 'P0', 'rollback'),
    ]
    assert found['fragrance'] == [
        ('HighErrorRate', 'P1', 'rollback'),
        ('HighResponseTime', 'P2', 'scale'),
        ('WorkerQueueBacklog', 'P2', 'scale'),
        ('DatabaseConnectionPoolExhausted', 'P1', 'diagnose'),
        ('HealthCheckFailing', 'P0', 'restart'),
    ]
    assert ('WorkerQueueBacklog', 'P2', 'scale') not in found['o4o']
    assert ('WorkerQueueBacklog', 'P2', 'scale') in found['qa_arena']


def test_promtool_check_rules(rendered: Path) -> None:
    check = promtool('check', 'rules', *(f'{team}.rules.yml' for team in TEAMS), cwd=rendered)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count('SUCCESS') == len(TEAMS)


@pytest.mark.parametrize('team', TEAMS)
def test_promtool_test_rules(rendered: Path, team: str, tmp_path: Path) -> None:
    """Each alert fires over its threshold for its window, not under it (tests/promtool)."""
    shutil.copy(rendered / f'{team}.rules.yml', tmp_path)
    shutil.copy(ROOT / 'tests' / 'promtool' / f'{team}.test.yml', tmp_path)
    result = promtool('test', 'rules', f'{team}.test.yml', cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lab_windows(playbook, tmp_path: Path) -> None:
    """inventories/lab's windows: the 5xx alert fires within 15 s, health on the second failure."""
    run = playbook(ROOT / 'inventories' / 'lab', tmp_path, '-e', 'teams=refit')
    assert run.rc == 0, run.out[-3000:]
    rules = (tmp_path / 'refit.rules.yml').read_text()
    assert '[6s]' in rules and 'for: 8s' in rules and 'offset 2s' in rules
    shutil.copy(ROOT / 'tests' / 'promtool' / 'refit_lab.test.yml', tmp_path)
    result = promtool('test', 'rules', 'refit_lab.test.yml', cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_idempotent_and_check_mode(playbook, inventory: Path, rendered: Path) -> None:
    """A re-run changes nothing; check mode shows the diff of a new window and writes nothing."""
    before = {team: digest(rendered / f'{team}.rules.yml') for team in TEAMS}
    again = playbook(inventory, rendered)
    assert (again.rc, again.changed) == (0, 0), again.out[-3000:]
    check = playbook(inventory, rendered, '--check', '--diff', '-e', 'teams=refit', extra=_windows('7m'))
    assert check.rc == 0, check.out[-3000:]
    assert check.changed == 1
    assert '-        for: 5m' in check.out and '+        for: 7m' in check.out
    assert {team: digest(rendered / f'{team}.rules.yml') for team in TEAMS} == before


def test_broken_rule_keeps_the_good_file(playbook, inventory: Path, rendered: Path, tmpdir_short: Path) -> None:
    good = digest(rendered / 'refit.rules.yml')
    run = playbook(inventory, rendered, '-e', 'teams=refit', extra=_windows('5m', rate_window='five minutes'))
    assert run.rc != 0
    text = ' '.join(run.out.split())
    assert 'fail promtool check rules' in text and 'is left as it was' in text
    assert digest(rendered / 'refit.rules.yml') == good
    assert not list(tmpdir_short.glob('*.rules.yml')), 'the staging file was left behind'


@pytest.mark.parametrize(
    ('thresholds', 'message'),
    [
        ({'alerts': {'HighErrorRates': {}}}, 'unknown: HighErrorRates'),
        (
            {
                'alerts': {
                    'HighErrorRate': {
                        'levels': [
                            {'severity': 'P2', 'above': 0.03, 'remediation': 'diagnose'},
                            {'severity': 'P0', 'above': 0.5, 'remediation': 'rollback'},
                        ]
                    }
                }
            },
            'most severe (highest) first',
        ),
        (
            {'alerts': {'HighErrorRate': {'levels': [{'severity': 'P0', 'above': 0.5, 'remediation': 'reboot'}]}}},
            'a remediation (rollback, restart, scale, diagnose)',
        ),
        (
            {'alerts': {'HealthCheckFailing': {'levels': [{'severity': 'P0', 'remediation': 'restart'}]}}},
            'failures (a whole number > 0)',
        ),
    ],
)
def test_refused_thresholds(playbook, inventory: Path, tmp_path: Path, thresholds: dict, message: str) -> None:
    run = playbook(inventory, tmp_path, '-e', 'teams=refit', extra={'sre_alert_thresholds': thresholds})
    assert run.rc != 0
    assert message in ' '.join(run.out.split())
    assert not list(tmp_path.iterdir()), 'a refused policy must write nothing'


def test_multi_level_health(playbook, inventory: Path, tmp_path: Path) -> None:
    """Health levels exclude each other: P1 on one failure unless P0's three in a row."""
    levels = [
        {'severity': 'P0', 'failures': 3, 'remediation': 'rollback'},
        {'severity': 'P1', 'failures': 1, 'remediation': 'restart'},
    ]
    extra = {'sre_alert_thresholds': {'alerts': {'HealthCheckFailing': {'levels': levels}}}}
    run = playbook(inventory, tmp_path, '-e', 'teams=fragrance', extra=extra)
    assert run.rc == 0, run.out[-3000:]
    rules = yaml.safe_load((tmp_path / 'fragrance.rules.yml').read_text())['groups'][0]['rules']
    health = [r for r in rules if r['alert'] == 'HealthCheckFailing']
    assert [r['labels']['severity'] for r in health] == ['P0', 'P1']
    assert 'offset 60s' in health[0]['expr'] and 'unless' in health[1]['expr']


def test_no_matching_host_fails(playbook, inventory: Path, tmp_path: Path) -> None:
    run = playbook(inventory, tmp_path, '-e', 'teams=playcode')
    assert run.rc != 0
    assert "No host of the inventory matches 'playcode'" in ' '.join(run.out.split())
    assert not list(tmp_path.iterdir())


def _windows(window: str, rate_window: str = '5m') -> dict[str, Any]:
    return {'sre_alert_windows': {'HighErrorRate': {'for': window, 'rate_window': rate_window}}}
