# SPDX-License-Identifier: GPL-3.0-or-later
"""Runbook Q11: the files only git may change on the server (QA-Arena's
docker-compose.prod.yml and nginx/qa_arena.conf) are refused as write targets, in every
form a command line writes a file, and left alone by reads."""

from __future__ import annotations

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import evaluate, merge_policy

POLICY = merge_policy({'protected_files': ['docker-compose.prod.yml', 'nginx/qa_arena.conf']})

WRITES = [
    "sed -i 's/8000/8001/' docker-compose.prod.yml",
    "sed -i.bak -e 's/a/b/' /home/ubuntu/qa_labs/nginx/qa_arena.conf",
    "sed --in-place 's/a/b/' nginx/qa_arena.conf",
    'echo "services: {}" > docker-compose.prod.yml',
    'cat new.yml >> /home/ubuntu/qa_labs/docker-compose.prod.yml',
    "cd /home/ubuntu/qa_labs && printf 'x' > docker-compose.prod.yml",
    "cd ~/qa_labs/nginx && echo 'server {}' > qa_arena.conf",
    'cp /tmp/compose.yml /home/ubuntu/qa_labs/docker-compose.prod.yml',
    'cp -t nginx /tmp/qa_arena.conf',
    'cp /tmp/qa_arena.conf nginx',
    'cp /tmp/new/docker-compose.prod.yml /tmp/other.yml /home/ubuntu/qa_labs/',
    'install -m 0644 /tmp/x nginx/qa_arena.conf',
    'mv docker-compose.prod.yml docker-compose.prod.yml.old',
    'rm -f nginx/qa_arena.conf',
    'truncate -s 0 docker-compose.prod.yml',
    'echo x | tee -a nginx/qa_arena.conf',
    'dd if=/dev/zero of=/home/ubuntu/qa_labs/docker-compose.prod.yml count=1',
    "sudo sh -c 'cat /tmp/x > /home/ubuntu/qa_labs/docker-compose.prod.yml'",
    "docker exec qa_arena_backend_prod sh -c 'cd /srv && echo x > nginx/qa_arena.conf'",
]

READS = [
    'cat docker-compose.prod.yml',
    'docker compose -f docker-compose.prod.yml up -d',
    'grep -n server nginx/qa_arena.conf',
    "sed -n '1,10p' nginx/qa_arena.conf",
    'cp docker-compose.prod.yml /tmp/compose.backup.yml',
    'git -C /home/ubuntu/qa_labs checkout -- docker-compose.prod.yml',
    'diff docker-compose.prod.yml /tmp/x > /tmp/diff.txt',
    'docker compose logs nginx 2>&1 > /tmp/nginx.log',
    'nginx -t 2>&1',
    # Inside the nginx container this is another file than the project's.
    "docker exec qa_arena_nginx_prod sh -c 'cat /etc/nginx/conf.d/default.conf > /tmp/x'",
    'cp nginx/qa_arena.conf /tmp/',
]


@pytest.mark.parametrize('command', WRITES)
def test_a_write_to_a_protected_file_is_refused(command):
    verdict = evaluate(command, POLICY)
    assert not verdict['allowed'], command
    assert [v['rule'] for v in verdict['violations']] == ['protected_file_write']
    assert 'only git may change' in verdict['reason']


@pytest.mark.parametrize('command', READS)
def test_reading_or_git_is_allowed(command):
    assert evaluate(command, POLICY)['allowed'], command


def test_without_protected_files_nothing_is_refused():
    assert evaluate("sed -i 's/a/b/' docker-compose.prod.yml", merge_policy())['allowed']


def test_argv_of_a_writer_is_judged_too():
    assert not evaluate(['rm', '/home/ubuntu/qa_labs/nginx/qa_arena.conf'], POLICY)['allowed']
