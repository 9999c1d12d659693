# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a shell command line into the simple commands it would run.

``simple_commands('sudo -u postgres sh -c "dropdb x && echo ok" | tee log')`` gives
``[Command(argv=['dropdb', 'x']), Command(argv=['echo', 'ok']), Command(argv=['tee', 'log'])]``:
chains (``&& || ; | &``), prefixes (``sudo``, ``env``, ``timeout``, ``nice``, ``VAR=value``),
nested shells (``sh -c``, ``su -c``), ``$(...)`` substitutions and the wrappers
``docker exec``, ``docker compose exec/run`` and ``kubectl exec -- ...`` are unwrapped,
so that policy rules only ever look at the command that really runs.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

SEPARATORS = {';', '&&', '||', '|', '&', '|&', '(', ')', ';;'}
REDIRECTS = {'>', '>>', '<', '<<', '<<<', '>&', '<&', '&>', '&>>', '>|'}
SHELLS = {'sh', 'bash', 'dash', 'zsh', 'ksh', 'ash'}
MAX_DEPTH = 8
ASSIGNMENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')
SUBSTITUTION = re.compile(r'\$\(([^()]*)\)|`([^`]*)`')

# Prefix commands: options that take a value, and whether a positional comes
# before the wrapped command (timeout's DURATION, chroot's NEWROOT).
PREFIXES: dict[str, tuple[set[str], int]] = {
    'sudo': (
        {
            '-u',
            '-g',
            '-h',
            '-p',
            '-C',
            '-D',
            '-r',
            '-t',
            '-U',
            '-T',
            '--user',
            '--group',
            '--host',
            '--prompt',
            '--close-from',
            '--chdir',
            '--role',
            '--type',
            '--other-user',
            '--command-timeout',
        },
        0,
    ),
    'doas': ({'-u', '-C'}, 0),
    'env': ({'-u', '-C', '-S', '--unset', '--chdir', '--split-string'}, 0),
    'timeout': ({'-s', '-k', '--signal', '--kill-after'}, 1),
    'nice': ({'-n', '--adjustment'}, 0),
    'ionice': ({'-c', '-n', '-p', '--class', '--classdata'}, 0),
    'stdbuf': ({'-i', '-o', '-e', '--input', '--output', '--error'}, 0),
    'chroot': ({'--userspec', '--groups'}, 1),
    'nohup': (set(), 0),
    'exec': ({'-a'}, 0),
    'command': (set(), 0),
    'builtin': (set(), 0),
    'time': ({'-f', '-o', '--format', '--output'}, 0),
    'xargs': (
        {
            '-a',
            '-d',
            '-E',
            '-I',
            '-L',
            '-n',
            '-P',
            '-s',
            '--arg-file',
            '--delimiter',
            '--max-args',
            '--max-procs',
            '--max-lines',
            '--replace',
        },
        0,
    ),
    'flock': ({'-w', '-E', '-c', '--timeout', '--conflict-exit-code'}, 1),
}
DOCKER_GLOBAL_VALUE = {
    '-H',
    '--host',
    '-c',
    '--context',
    '--config',
    '-l',
    '--log-level',
    '--tlscacert',
    '--tlscert',
    '--tlskey',
}
DOCKER_EXEC_VALUE = {'-e', '--env', '--env-file', '-u', '--user', '-w', '--workdir', '--detach-keys'}
COMPOSE_GLOBAL_VALUE = {
    '-f',
    '--file',
    '-p',
    '--project-name',
    '--project-directory',
    '--env-file',
    '--profile',
    '--ansi',
    '--progress',
    '--parallel',
}
COMPOSE_EXEC_VALUE = DOCKER_EXEC_VALUE | {'--index'}
COMPOSE_RUN_VALUE = COMPOSE_EXEC_VALUE | {
    '--name',
    '--entrypoint',
    '-l',
    '--label',
    '-p',
    '--publish',
    '-v',
    '--volume',
    '--cap-add',
    '--cap-drop',
}


@dataclass
class Command:
    """One simple command: its argv, the VAR=value words before it, and where it runs."""

    argv: list[str]
    assignments: list[str] = field(default_factory=list)
    inside: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ''

    def __str__(self) -> str:
        where = f" (in {' > '.join(self.inside)})" if self.inside else ''
        return shlex.join([*self.assignments, *self.argv]) + where


class ParseError(ValueError):
    """The command line cannot be read as shell (unbalanced quotes, nesting too deep)."""


def tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text.replace('\n', ' ; '), posix=True, punctuation_chars=';&|()<>')
    lexer.whitespace_split = True
    lexer.commenters = ''
    try:
        return list(lexer)
    except ValueError as err:
        raise ParseError(f'cannot parse {text!r}: {err}') from err


def split_chain(words: list[str]) -> list[list[str]]:
    """Split tokens at separators and drop redirections with their targets."""
    commands: list[list[str]] = [[]]
    skip_next = False
    for index, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        if word in SEPARATORS:
            commands.append([])
        elif word in REDIRECTS:
            skip_next = True
        elif word.isdigit() and index + 1 < len(words) and words[index + 1] in REDIRECTS:
            continue
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def skip_options(argv: list[str], start: int, with_value: set[str]) -> int:
    """Index of the first positional word at or after start, skipping options."""
    index = start
    while index < len(argv):
        word = argv[index]
        if word == '--':
            return index + 1
        if not word.startswith('-') or word == '-':
            return index
        if '=' not in word and word in with_value:
            index += 2
            continue
        if not word.startswith('--') and len(word) > 2 and word[:2] in with_value:
            index += 1  # value attached to a short option: -uroot
            continue
        index += 1
    return index


def _shell_script(argv: list[str]) -> str | None:
    """The -c string of a shell invocation (sh -c, bash -lc, bash -e -c ...)."""
    for index, word in enumerate(argv[1:], start=1):
        if word.startswith('-') and not word.startswith('--') and 'c' in word[1:]:
            return argv[index + 1] if index + 1 < len(argv) else ''
        if not word.startswith('-'):
            return None
    return None


def _su_script(argv: list[str]) -> str | None:
    for index, word in enumerate(argv):
        if word in ('-c', '--command') and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith('--command='):
            return word.split('=', 1)[1]
    return None


def docker_subcommand(argv: list[str]) -> tuple[bool, list[str]]:
    """(is_compose, argv from the subcommand on) for docker, docker-compose and podman."""
    if os.path.basename(argv[0]) in ('docker-compose', 'podman-compose'):
        return True, argv[skip_options(argv, 1, COMPOSE_GLOBAL_VALUE) :]
    index = skip_options(argv, 1, DOCKER_GLOBAL_VALUE)
    if index < len(argv) and argv[index] == 'compose':
        return True, argv[skip_options(argv, index + 1, COMPOSE_GLOBAL_VALUE) :]
    return False, argv[index:]


def _docker_inner(argv: list[str]) -> tuple[str, list[str]] | None:
    """(container, command) of `docker [container] exec` and `docker compose exec/run`."""
    compose, sub = docker_subcommand(argv)
    if sub and sub[0] == 'container' and not compose:
        sub = sub[1:]
    if not sub or sub[0] not in ('exec', 'run') or (sub[0] == 'run' and not compose):
        return None
    values = COMPOSE_RUN_VALUE if sub[0] == 'run' else (COMPOSE_EXEC_VALUE if compose else DOCKER_EXEC_VALUE)
    target = skip_options(sub, 1, values)
    if target >= len(sub) - 1:
        return None
    return sub[target], sub[target + 1 :]


def _kubectl_inner(argv: list[str]) -> tuple[str, list[str]] | None:
    if 'exec' not in argv or '--' not in argv:
        return None
    cut = argv.index('--')
    if argv.index('exec') > cut or cut == len(argv) - 1:
        return None
    pods = [word for word in argv[argv.index('exec') + 1 : cut] if not word.startswith('-')]
    return (pods[-1] if pods else 'pod'), argv[cut + 1 :]


def _unwrap(command: Command, depth: int) -> list[Command]:
    """Strip prefixes and wrappers until the real command is at argv[0]."""
    argv, assignments = list(command.argv), list(command.assignments)
    while argv:
        while argv and ASSIGNMENT.match(argv[0]):
            assignments.append(argv.pop(0))
        if not argv:
            return []
        name = os.path.basename(argv[0])
        if name in PREFIXES:
            with_value, positionals = PREFIXES[name]
            index = skip_options(argv, 1, with_value)
            if name == 'env':
                while index < len(argv) and ASSIGNMENT.match(argv[index]):
                    assignments.append(argv[index])
                    index += 1
                split = [word.split('=', 1)[-1] for word in argv[1:index] if word.startswith(('-S', '--split'))]
                if split:
                    return _nested(' '.join([*split, *map(shlex.quote, argv[index:])]), command, depth)
            argv = argv[index + positionals :]
            continue
        if name in SHELLS:
            script = _shell_script(argv)
            if script is not None:
                return _nested(script, Command(argv, assignments, command.inside), depth)
        if name in ('su', 'runuser'):
            script = _su_script(argv)
            if script is not None:
                return _nested(script, Command(argv, assignments, command.inside), depth)
            if '--' in argv:
                argv = argv[argv.index('--') + 1 :]
                continue
        if name in ('docker', 'docker-compose', 'podman'):
            inner = _docker_inner(argv)
            if inner:
                where = [*command.inside, f'{name} exec {inner[0]}']
                return _expand(Command(inner[1], [], where), depth + 1)
        if name in ('kubectl', 'oc'):
            inner = _kubectl_inner(argv)
            if inner:
                return _expand(Command(inner[1], [], [*command.inside, f'kubectl exec {inner[0]}']), depth + 1)
        break
    return [Command(argv, assignments, command.inside)] if argv else []


def _nested(script: str, outer: Command, depth: int) -> list[Command]:
    inner = simple_commands(script, depth + 1, [*outer.inside])
    for command in inner:
        command.assignments = [*outer.assignments, *command.assignments]
    return inner


def _expand(command: Command, depth: int) -> list[Command]:
    if depth > MAX_DEPTH:
        raise ParseError(f'commands nested more than {MAX_DEPTH} levels deep')
    return _unwrap(command, depth)


def simple_commands(text: str, depth: int = 0, inside: list[str] | None = None) -> list[Command]:
    """Every simple command that the shell string ``text`` would run."""
    if depth > MAX_DEPTH:
        raise ParseError(f'commands nested more than {MAX_DEPTH} levels deep')
    found: list[Command] = []
    for match in SUBSTITUTION.finditer(text):
        found += simple_commands(match.group(1) or match.group(2) or '', depth + 1, inside)
    for argv in split_chain(tokens(text)):
        found += _expand(Command(argv, [], list(inside or [])), depth)
    return found


def argv_commands(argv: list[str]) -> list[Command]:
    """The simple commands of an argv that runs without a shell."""
    return _expand(Command(list(argv)), 0) if argv else []
