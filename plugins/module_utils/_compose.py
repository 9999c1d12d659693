# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker Compose requests in the words of the command line.

The compose action plugin hands its arguments to community.docker.docker_compose_v2.
Before that, it spells the request as the ``docker compose`` command an operator
would type. That command is what the safety policy judges (the same rules as
safe_command, e.g. runbook Q11's ``down -v``) and what the task result shows.
"""

from __future__ import annotations

from typing import Any

VERBS = {'present': 'up', 'stopped': 'stop', 'restarted': 'restart', 'absent': 'down'}


def _base(args: dict[str, Any]) -> list[str]:
    argv = ['docker', 'compose']
    if args.get('project_name'):
        argv += ['-p', str(args['project_name'])]
    for name in args.get('files') or []:
        argv += ['-f', str(name)]
    for name in args.get('env_files') or []:
        argv += ['--env-file', str(name)]
    return argv


def _up_options(args: dict[str, Any]) -> list[str]:
    options = ['-d']
    options += {'always': ['--build'], 'never': ['--no-build']}.get(args.get('build') or 'policy', [])
    options += {'always': ['--force-recreate'], 'never': ['--no-recreate']}.get(args.get('recreate') or 'auto', [])
    if args.get('dependencies') is False:
        options.append('--no-deps')
    if args.get('remove_orphans'):
        options.append('--remove-orphans')
    for service, count in sorted((args.get('scale') or {}).items()):
        options += ['--scale', f'{service}={count}']
    if args.get('wait'):
        options.append('--wait')
    return options


def _down_options(args: dict[str, Any]) -> list[str]:
    options = []
    if args.get('remove_volumes'):
        options.append('--volumes')
    if args.get('remove_images'):
        options += ['--rmi', str(args['remove_images'])]
    if args.get('remove_orphans'):
        options.append('--remove-orphans')
    return options


def command_line(args: dict[str, Any]) -> list[str]:
    """The docker compose command that does what the docker_compose_v2 args ask."""
    state = args.get('state') or 'present'
    if state not in VERBS:
        raise ValueError(f'unknown state {state!r}; one of {sorted(VERBS)}')
    verb = VERBS[state]
    options = {'up': _up_options, 'down': _down_options}.get(verb, lambda _args: [])(args)
    services = [] if verb == 'down' else [str(s) for s in args.get('services') or []]
    return [*_base(args), verb, *options, *services]
