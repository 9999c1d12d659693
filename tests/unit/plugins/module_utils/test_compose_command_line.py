# SPDX-License-Identifier: GPL-3.0-or-later
"""docker_compose_v2 requests spelled as the docker compose commands the policy judges."""

from __future__ import annotations

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import evaluate
from ansible_collections.sre.runbooks.plugins.module_utils._compose import command_line

PROJECT = {'project_src': '/home/ubuntu/qa_labs', 'files': ['docker-compose.prod.yml'], 'env_files': ['.env']}


@pytest.mark.parametrize(
    ('args', 'tail'),
    [
        ({'state': 'restarted', 'services': ['backend']}, ['restart', 'backend']),
        (
            {'services': ['backend'], 'build': 'always', 'dependencies': False},
            ['up', '-d', '--build', '--no-deps', 'backend'],
        ),
        (
            {'scale': {'worker-llm': 3}, 'services': ['worker-llm']},
            ['up', '-d', '--scale', 'worker-llm=3', 'worker-llm'],
        ),
        ({'state': 'stopped', 'services': ['app', 'nginx']}, ['stop', 'app', 'nginx']),
        ({'state': 'absent', 'remove_volumes': True}, ['down', '--volumes']),
        ({'wait': True, 'recreate': 'never'}, ['up', '-d', '--no-recreate', '--wait']),
    ],
)
def test_command_line(args, tail):
    argv = command_line({**PROJECT, **args})
    assert argv[:6] == ['docker', 'compose', '-f', 'docker-compose.prod.yml', '--env-file', '.env']
    assert argv[6:] == tail


def test_down_with_volumes_is_refused_and_plain_down_is_not():
    refused = evaluate(command_line({**PROJECT, 'state': 'absent', 'remove_volumes': True}))
    assert [v['rule'] for v in refused['violations']] == ['compose_down_volumes']
    assert evaluate(command_line({**PROJECT, 'state': 'absent'}))['violations'] == []


def test_unknown_state():
    with pytest.raises(ValueError, match='unknown state'):
        command_line({'state': 'paused'})
