# SPDX-License-Identifier: GPL-3.0-or-later
"""QA-Arena's deploy guards on the lab's real stack: a deploy whose commits change a
migration takes a verified backup first (runbook Q6), and the files only git may change
on the server (Q11) are neither deployed over nor written by a command."""

from __future__ import annotations

import time

from .conftest import task_results

QA = 'qa-arena'
NEWEST_BACKUP = 'ls -t /backup/postgres/qa_arena_*.dump 2>/dev/null | head -1'


def on_compose_host(lab, script: str, user: str = 'ubuntu') -> str:
    return lab.exec('compose', 'sh', '-c', script, user=user)


def push_release(lab, path: str, text: str, message: str) -> None:
    on_compose_host(
        lab,
        'set -e; rm -rf /tmp/release && git clone -q /srv/git/qa_labs.git /tmp/release && cd /tmp/release'
        f' && mkdir -p "$(dirname {path})" && echo "{text}" > {path} && git add {path}'
        f' && git -c user.name=dev -c user.email=dev@lab.invalid commit -qm "{message}"'
        ' && git push -q origin main',
    )


def test_a_deploy_with_a_migration_takes_a_verified_backup_first(lab):
    assert lab.playbook('redeploy.yml', cmdline=f'-l {QA}').rc == 0
    before = on_compose_host(lab, NEWEST_BACKUP, user='root').strip()
    time.sleep(1)
    migration = f'backend/migrations/{int(time.time())}_add_score.sql'
    push_release(lab, migration, 'ALTER TABLE items ADD COLUMN score int;', 'a migration')
    deploy = lab.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert deploy.rc == 0, deploy.stdout.read()
    why = task_results(deploy, 'Guard | Say why the deploy needs a fresh backup (Q6)')[QA]['msg']
    assert migration in why
    gate = 'Gate | Require a verified backup no older than the limit, minutes - 30'
    assert QA in task_results(deploy, gate), 'no backup gate'
    after = on_compose_host(lab, NEWEST_BACKUP, user='root').strip()
    assert after and after != before, 'no new backup was taken before the migration'
    again = lab.playbook('redeploy.yml', cmdline=f'-l {QA}')
    assert again.rc == 0 and again.stats['changed'].get(QA, 0) == 0
    assert not task_results(again, 'Guard | Say why the deploy needs a fresh backup (Q6)')


def test_a_deploy_over_a_protected_file_changed_on_the_server_is_refused(lab):
    on_compose_host(lab, 'echo "# hand edit" >> ~/qa_labs/nginx/qa_arena.conf')
    try:
        runner = lab.playbook('redeploy.yml', cmdline=f'-l {QA}')
        assert runner.rc != 0
        refusal = task_results(runner, 'Guard | Refuse a deploy over protected files changed on the server (Q11)')
        assert 'nginx/qa_arena.conf' in refusal[QA]['msg'] and 'only git may change' in refusal[QA]['msg']
        assert 'hand edit' in on_compose_host(lab, 'tail -1 ~/qa_labs/nginx/qa_arena.conf')
    finally:
        on_compose_host(lab, 'cd ~/qa_labs && git checkout -q -- nginx/qa_arena.conf')


def test_a_command_that_rewrites_a_protected_file_is_refused(lab):
    original = on_compose_host(lab, 'sha256sum ~/qa_labs/docker-compose.prod.yml')
    runner = lab.playbook('../tests/integration/playbooks/write_protected_file.yml', cmdline=f'-l {QA}')
    assert runner.rc != 0
    result = task_results(runner, 'Rewrite the compose file in place (must be refused)')[QA]
    assert result['allowed'] is False and 'protected_file_write' in result['msg']
    assert on_compose_host(lab, 'sha256sum ~/qa_labs/docker-compose.prod.yml') == original
