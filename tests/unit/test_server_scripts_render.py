# SPDX-License-Identifier: GPL-3.0-or-later
"""The server scripts of runbook R4 (roles/server_scripts/templates), rendered by ansible-playbook
on localhost with the role's defaults and vars and the Re-Fit group vars: shellcheck-clean, and
discord-notify.sh run here against the real webhook receiver (bodies per kind, the P0 mention,
JSON escaping, exit codes, and the token never on a process command line)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.webhooks import webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / 'roles' / 'server_scripts'
SCRIPTS = ('rollback.sh', 'discord-notify.sh')
TOKEN = 'T0KEN-must-never-show'


@pytest.fixture(scope='module')
def rendered(tmp_path_factory) -> Path:
    """The scripts rendered into a directory; the env file they read is <dir>/notify.env."""
    out = tmp_path_factory.mktemp('scripts')
    play = {
        'name': 'Render the server scripts',
        'hosts': 'localhost',
        'gather_facts': False,
        'vars_files': [
            str(ROLE / 'defaults' / 'main.yml'),
            str(ROLE / 'vars' / 'main.yml'),
            str(ROOT / 'playbooks' / 'group_vars' / 'refit' / 'app.yml'),
            str(ROOT / 'playbooks' / 'group_vars' / 'refit' / 'incident.yml'),
        ],
        'tasks': [
            {
                'name': 'Render the templates',
                'ansible.builtin.template': {
                    'src': str(ROLE / 'templates' / '{{ item }}.j2'),
                    'dest': str(out / '{{ item }}'),
                    'mode': '0755',
                },
                'loop': list(SCRIPTS),
                # Task vars: above the play's vars_files (the role's defaults) in precedence.
                'vars': {
                    'server_scripts_app_name': '{{ refit_app_name }}',
                    'server_scripts_app_user': '{{ refit_app_user }}',
                    'server_scripts_app_dir': '{{ refit_app_dir }}',
                    'server_scripts_health_url': '{{ refit_health_url }}',
                    'server_scripts_dir': str(out),
                    'server_scripts_env_file': str(out / 'notify.env'),
                    'server_scripts_notify_timeout': 5,
                },
            }
        ],
    }
    (out / 'render.yml').write_text(yaml.safe_dump([play], sort_keys=False))
    env = {**os.environ, 'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg')}
    command = [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c', 'local']
    command += ['-e', f'ansible_python_interpreter={sys.executable}', str(out / 'render.yml')]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    return out


@pytest.mark.parametrize('script', SCRIPTS)
def test_the_rendered_scripts_are_shellcheck_clean(rendered, script):
    check = subprocess.run(
        ['/usr/bin/shellcheck', '--shell=bash', str(rendered / script)], check=False, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    text = (rendered / script).read_text()
    assert '{{' not in text and '{%' not in text


def test_rollback_sh_has_the_apps_values_and_no_webhook(rendered):
    text = (rendered / 'rollback.sh').read_text()
    assert "APP_NAME=refit-api\nAPP_USER=ec2-user\nAPP_DIR=/home/ec2-user/refit-api\n" in text
    assert 'HEALTH_URL=http://localhost:8080/actuator/health' in text
    assert 'HISTORY_FILE=/home/ec2-user/.local/state/sre-runbooks/pm2-refit-api.json' in text
    assert 'INSTALL=(npm ci)' in text and 'BUILD=(npm run build)' in text
    assert 'WEBHOOK' not in text


def notify(rendered: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(rendered / 'discord-notify.sh'), *args], check=False, capture_output=True, text=True, timeout=30
    )


def write_env(rendered: Path, kind: str, url: str) -> None:
    env = rendered / 'notify.env'
    env.write_text(f'# test\nSRE_NOTIFY_WEBHOOK_KIND={kind}\nSRE_NOTIFY_WEBHOOK_URL={url}\n')
    env.chmod(0o600)


def test_discord_notify_posts_each_kind_with_the_p0_mention_and_escapes_json(rendered):
    tricky = 'v1.2.0 "DOWN"\\ok\n\tnext line'
    with webhook_receiver() as rx:
        for kind in ('discord', 'slack', 'mattermost'):
            write_env(rendered, kind, rx.url(f'/{kind}/{TOKEN}'))
            done = notify(rendered, '-s', 'P0', '-e', '🚨', tricky)
            assert done.returncode == 0, done.stderr
            assert TOKEN not in done.stdout + done.stderr
        write_env(rendered, 'discord', rx.url(f'/discord/{TOKEN}'))
        assert notify(rendered, 'Deploy started').returncode == 0
        messages = rx.wait_for(4)
    expected = f'🚨 [refit] P0 {tricky} @devops-oncall'
    assert [m['text'] for m in messages] == [expected] * 3 + ['[refit] Deploy started']
    assert messages[0]['body'] == {'content': expected, 'allowed_mentions': {'parse': []}}
    assert messages[1]['body'] == messages[2]['body'] == {'text': expected}
    assert messages[0]['mentions'] == ['@devops-oncall'] and messages[3]['mentions'] == []


def test_discord_notify_exit_codes(rendered):
    with webhook_receiver(status=500) as rx:
        write_env(rendered, 'slack', rx.url(f'/slack/{TOKEN}'))
        failed = notify(rendered, 'x')
    assert failed.returncode == 1 and 'the slack webhook answered 500' in failed.stderr
    assert TOKEN not in failed.stderr
    write_env(rendered, 'slack', '')
    assert notify(rendered, 'x').returncode == 2
    assert notify(rendered).returncode == 2
    assert notify(rendered, '-s', 'P9', 'x').returncode == 2


def test_the_token_is_never_on_a_command_line_while_posting(rendered):
    with webhook_receiver(delay=3) as rx:
        write_env(rendered, 'discord', rx.url(f'/discord/{TOKEN}'))
        slow = subprocess.Popen(
            [str(rendered / 'discord-notify.sh'), '-s', 'P0', 'slow'],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        rx.wait_for(1, timeout=10)  # curl has sent the post and waits for the answer
        time.sleep(0.3)
        processes = subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True, check=True).stdout
        slow.communicate(timeout=30)
    assert 'discord-notify.sh' in processes and 'curl' in processes
    assert TOKEN not in processes and rx.base_url not in processes
