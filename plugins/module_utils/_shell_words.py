# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn a shell command line into the simple commands it would run.

``simple_commands('sudo -u postgres sh -c "dropdb x && echo ok" | tee log')`` gives
``[Command(argv=['dropdb', 'x']), Command(argv=['echo', 'ok']), Command(argv=['tee', 'log'])]``:
chains (``&& || ; | &``), prefixes (``sudo``, ``env``, ``timeout``, ``nice``, ``VAR=value``,
with bundled short options such as ``sudo -iu postgres``), nested shells (``sh -c``,
``su -lc``, ``eval``, ``ssh host '...'``, a shell fed a visible script on stdin),
``$(...)`` substitutions and the wrappers ``docker exec``, ``docker compose exec/run`` and
``kubectl exec`` are unwrapped, so that policy rules only ever look at the command that
really runs. Each command also carries what it reads on stdin (a redirected file, a
heredoc, the text of ``echo '...' |``) and the working directory that ``cd``, ``pushd``,
``sudo -D`` or ``env -C`` gave it earlier in the same command line.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

SEPARATORS = {';', '&&', '||', '|', '&', '|&', '(', ')', ';;'}
PIPES = {'|', '|&'}
RESERVED = {'{', '}', '!', 'if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', 'in', 'esac'}
REDIRECTS = {'>', '>>', '<', '<<', '<<<', '>&', '<&', '&>', '&>>', '>|'}
OUTPUT_REDIRECTS = {'>', '>>', '>&', '&>', '&>>', '>|'}
# argv[0] of the pseudo-command that stands for an output redirection (``> file``), so
# that the policy can judge what a command line writes.
REDIRECT_COMMAND = '>'

SHELLS = {'sh', 'bash', 'dash', 'zsh', 'ksh', 'ash'}
MAX_DEPTH = 8
ASSIGNMENT = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')
SUBSTITUTION = re.compile(r'\$\(([^()]*)\)|`([^`]*)`')
VARIABLE = re.compile(r'\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))')
HEREDOC = re.compile(r'<<(-?)[ \t]*(?:\'([^\'\n]*)\'|"([^"\n]*)"|\\?([^\s;&|()<>]+))')

# Prefix commands: options that take a value, and whether a positional comes
# before the wrapped command (timeout's DURATION, chroot's NEWROOT).
PREFIXES: dict[str, tuple[set[str], int]] = {
    'sudo': (
        {
            '-a',
            '-c',
            '-R',
            '--chroot',
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
    'runuser': ({'-u', '-g', '-G', '--user', '--group', '--supp-group'}, 0),
    'setsid': (set(), 0),
    'nsenter': ({'-t', '--target', '-S', '--setuid', '-G', '--setgid', '-w', '--wd'}, 0),
}
# Options that change the working directory of the wrapped command.
CHDIR_OPTIONS = {'sudo': {'-D', '--chdir'}, 'env': {'-C', '--chdir'}, 'nsenter': {'-w', '--wd'}}
SU_VALUE = {'-c', '--command', '--session-command', '-g', '--group', '-G', '--supp-group', '-s', '--shell', '-w'}
SU_VALUE |= {'--whitelist-environment', '-u', '--user'}
SSH_VALUE = {f'-{letter}' for letter in 'BbcDEeFIiJLlmOoPpQRSWw'}
KUBECTL_VALUE = {
    '-n',
    '--namespace',
    '-c',
    '--container',
    '-f',
    '--filename',
    '--context',
    '--cluster',
    '--kubeconfig',
    '--user',
    '--token',
    '--as',
    '--as-group',
    '-s',
    '--server',
    '--request-timeout',
    '--pod-running-timeout',
    '-l',
    '--selector',
}
WATCH_VALUE = {'-n', '--interval', '-q', '--equexit'}
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
class Stdin:
    """What a command reads on stdin: ``text`` when the command line shows it, else None."""

    source: str
    text: str | None = None


@dataclass
class Command:
    """One simple command: its argv, the VAR=value words before it, where it runs, what it
    reads on stdin and the directory that the command line changed to before it (None:
    wherever the task starts; a string with ``$`` or ``~``: known only at run time)."""

    argv: list[str]
    assignments: list[str] = field(default_factory=list)
    inside: list[str] = field(default_factory=list)
    stdin: Stdin | None = None
    cwd: str | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ''

    def __str__(self) -> str:
        where = f" (in {' > '.join(self.inside)})" if self.inside else ''
        return shlex.join([*self.assignments, *self.argv]) + where


class ParseError(ValueError):
    """The command line cannot be read as shell (unbalanced quotes, nesting too deep)."""


def _prepare(text: str) -> tuple[str, dict[str, str]]:
    """Unquoted newlines become ``;``; heredoc bodies are cut out and kept by a placeholder."""
    out: list[str] = []
    bodies: dict[str, str] = {}
    pending: list[tuple[str, str, bool]] = []
    quote = ''
    index = 0
    while index < len(text):
        char = text[index]
        if quote or char in '\\\'"':
            quote, index = _copy_quoted(text, index, quote, out)
        elif char == '\n':
            out.append(' ; ')
            index = _cut_heredoc_bodies(text, index + 1, pending, bodies)
            pending = []
        elif text.startswith('<<', index):
            index = _copy_here_redirect(text, index, out, pending, len(bodies))
        else:
            out.append(char)
            index += 1
    for placeholder, _delimiter, _strip in pending:
        bodies[placeholder] = ''
    return ''.join(out), bodies


def _copy_quoted(text: str, index: int, quote: str, out: list[str]) -> tuple[str, int]:
    """Copy a quote character, a character inside quotes or a backslash escape (both
    characters) to out; (the quote open after it, the index after it)."""
    char = text[index]
    if quote != "'" and char == '\\' and index + 1 < len(text):
        out.append(text[index : index + 2])
        return quote, index + 2
    if quote and char == quote:
        quote = ''
    elif not quote and char in '\'"':
        quote = char
    out.append(char)
    return quote, index + 1


def _cut_heredoc_bodies(text: str, index: int, pending: list[tuple[str, str, bool]], bodies: dict[str, str]) -> int:
    """Read the bodies of the heredocs opened on the line that ended before index into
    bodies; the index after the last delimiter line."""
    for placeholder, delimiter, strip_tabs in pending:
        lines = []
        while index < len(text):
            end = text.find('\n', index)
            end = len(text) if end < 0 else end
            line = text[index:end]
            index = end + 1
            if strip_tabs:
                line = line.lstrip('\t')
            if line == delimiter:
                break
            lines.append(line)
        bodies[placeholder] = '\n'.join(lines) + '\n'
    return index


def _copy_here_redirect(text: str, index: int, out: list[str], pending: list[tuple[str, str, bool]], cut: int) -> int:
    """Copy ``<<<``, or replace the start of a heredoc (``<<-'EOF'``) by a placeholder that
    pending will give a body at the end of the line (cut: bodies read so far); the index
    after it."""
    if text.startswith('<<<', index):
        out.append('<<<')
        return index + 3
    match = HEREDOC.match(text, index)
    if not match:
        out.append(text[index])
        return index + 1
    placeholder = f'__sre_heredoc_{cut + len(pending)}__'
    delimiter = next(group for group in match.groups()[1:] if group is not None)
    pending.append((placeholder, delimiter, bool(match.group(1))))
    out.append(f' << {placeholder} ')
    return match.end()


def tokens(text: str) -> list[str]:
    prepared, _bodies = _prepare(text)
    return _tokens(prepared, text)


def _tokens(prepared: str, original: str) -> list[str]:
    lexer = shlex.shlex(prepared, posix=True, punctuation_chars=';&|()<>')
    lexer.whitespace_split = True
    lexer.commenters = ''
    try:
        words = list(lexer)
    except ValueError as err:
        raise ParseError(f'cannot parse {original!r}: {err}') from err
    return [piece for word in words for piece in _operators(word)]


def _operators(word: str) -> list[str]:
    """shlex glues runs of punctuation (``);``, ``&&(``): split them into the shell's operators."""
    if word in SEPARATORS or word in REDIRECTS or word.strip(';&|()<>'):
        return [word]
    pieces, index = [], 0
    known = sorted(SEPARATORS | REDIRECTS, key=len, reverse=True)
    while index < len(word):
        piece = next(op for op in [*known, word[index]] if word.startswith(op, index))
        pieces.append(piece)
        index += len(piece)
    return pieces


@dataclass
class _Segment:
    argv: list[str]
    before: str = ''
    after: str = ''
    stdin: Stdin | None = None
    writes: list[str] = field(default_factory=list)


def _segments(words: list[str], bodies: dict[str, str]) -> list[_Segment]:
    """Split tokens at separators; redirections become the segment's stdin or are dropped."""
    segments = [_Segment([])]
    index = 0
    while index < len(words):
        word = words[index]
        target = words[index + 1] if index + 1 < len(words) else ''
        if word in SEPARATORS:
            segments[-1].after = word
            segments.append(_Segment([], before=word))
        elif word in REDIRECTS:
            if word == '<':
                segments[-1].stdin = Stdin(f'< {target}')
            elif word == '<<':
                segments[-1].stdin = Stdin('heredoc', bodies.get(target, ''))
            elif word == '<<<':
                segments[-1].stdin = Stdin('here-string', target + '\n')
            elif word == '<&':
                segments[-1].stdin = Stdin(f'<& {target}')
            elif word in OUTPUT_REDIRECTS and not (word == '>&' and target.isdigit()):
                segments[-1].writes.append(target)
            index += 2
            continue
        elif not (word.isdigit() and index + 1 < len(words) and words[index + 1] in REDIRECTS):
            segments[-1].argv.append(word)
        index += 1
    return [segment for segment in segments if segment.argv]


def split_chain(words: list[str]) -> list[list[str]]:
    """Split tokens at separators and drop redirections with their targets."""
    return [segment.argv for segment in _segments(words, {})]


def parse_options(
    argv: list[str],
    start: int,
    with_value: set[str],
    *,
    stop_at_positional: bool = False,
    attached: set[str] = frozenset(),
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(options with their values, positionals) of argv[start:].

    ``with_value`` names the options that take a value (``-u``, ``--user``). Short options
    may be bundled: in ``-iu postgres`` the last letter takes the next word, in ``-upostgres``
    the value is attached; ``attached`` names options whose value can only be attached
    (``mysql -psecret``). ``stop_at_positional`` ends option parsing at the first positional,
    as sudo, env and redis-cli do.
    """
    options: list[tuple[str, str | None]] = []
    positionals: list[str] = []
    index = start
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == '--':
            return options, positionals + argv[index:]
        if word.startswith('--'):
            name, has_value, value = word.partition('=')
            if not has_value and name in with_value and index < len(argv):
                value, has_value = argv[index], '='
                index += 1
            options.append((name, value if has_value else None))
        elif word.startswith('-') and len(word) > 1:
            index = _short_options(word, argv, index, (with_value, attached), options)
        else:
            positionals.append(word)
            if stop_at_positional:
                return options, positionals + argv[index:]
    return options, positionals


def _short_options(
    word: str, argv: list[str], index: int, valued: tuple[set[str], set[str]], options: list[tuple[str, str | None]]
) -> int:
    """Add the bundled short options of word (``-iu``, ``-upostgres``) to options; the
    index of argv after the value the last of them took. valued: (options that take a
    value, options whose value can only be attached)."""
    with_value, attached = valued
    for position, letter in enumerate(word[1:], start=2):
        option = '-' + letter
        rest = word[position:]
        if option in with_value:
            if not rest and index < len(argv):
                rest = argv[index]
                index += 1
            options.append((option, rest))
            break
        if option in attached:
            options.append((option, rest or None))
            break
        options.append((option, None))
    return index


def skip_options(argv: list[str], start: int, with_value: set[str]) -> int:
    """Index of the first positional word at or after start, skipping options."""
    _options, rest = parse_options(argv, start, with_value, stop_at_positional=True)
    return len(argv) - len(rest)


def _shell_invocation(argv: list[str]) -> tuple[str, str | None]:
    """How a shell gets its script: ('c', text), ('file', path) or ('stdin', None)."""
    has_c, index = False, 1
    while index < len(argv):
        word = argv[index]
        index += 1
        if word in ('--', '-'):
            break
        if word in ('-o', '+o', '-O', '+O', '--rcfile', '--init-file'):
            index += 1
        elif word.startswith('--'):
            continue
        elif word[:1] in '-+' and len(word) > 1:
            has_c = has_c or 'c' in word[1:]
            if 's' in word[1:] and word[0] == '-':
                return 'stdin', None
        else:
            index -= 1
            break
    rest = argv[index:]
    if has_c:
        return 'c', rest[0] if rest else ''
    return ('file', rest[0]) if rest else ('stdin', None)


def _su_target(argv: list[str]) -> tuple[str, str | list[str] | None]:
    """su/runuser: ('c', script), ('argv', command) for runuser -u, or ('stdin', None)."""
    options, positionals = parse_options(argv, 1, SU_VALUE)
    values = dict(options)
    for name in ('-c', '--command', '--session-command'):
        if name in values:
            return 'c', values[name] or ''
    if os.path.basename(argv[0]) == 'runuser' and ('-u' in values or '--user' in values):
        return 'argv', positionals
    return 'stdin', None


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
    """(pod, command) of `kubectl exec POD [--] CMD...` and `oc rsh POD CMD...`.

    Options may come before and after the pod; without ``--`` (kubectl's older form) the
    command starts at the first word after the pod that is not a kubectl option.
    """
    _options, words = parse_options(argv, 1, KUBECTL_VALUE, stop_at_positional=True)
    if not words or words[0] not in ('exec', 'rsh'):
        return None
    rest = words[1:]
    if '--' in rest:
        cut = rest.index('--')
        _options, pods = parse_options(['x', *rest[:cut]], 1, KUBECTL_VALUE)
        command = rest[cut + 1 :]
    else:
        _options, positionals = parse_options(['x', *rest], 1, KUBECTL_VALUE, stop_at_positional=True)
        pods = positionals[:1]
        _options, command = parse_options(['x', *positionals[1:]], 1, KUBECTL_VALUE, stop_at_positional=True)
    if not command:
        return None
    return (pods[0] if pods else 'pod'), command


def _ssh_inner(argv: list[str]) -> tuple[str, str] | None:
    """(host, remote script) of `ssh [options] host command...`."""
    _options, words = parse_options(argv, 1, SSH_VALUE, stop_at_positional=True)
    if len(words) < 2:
        return None
    return words[0], ' '.join(words[1:])


def _psql_shell_escapes(argv: list[str], stdin: Stdin | None) -> list[str]:
    """Shell commands that psql runs for ``\\!`` and ``COPY ... PROGRAM`` in its visible SQL."""
    texts = [value or '' for name, value in parse_options(argv, 1, {'-c', '--command'})[0] if value]
    if stdin and stdin.text:
        texts.append(stdin.text)
    scripts = []
    for text in texts:
        scripts += [match.group(1) for match in re.finditer(r'\\!\s*([^\n\\]*)', text)]
        scripts += [match.group(2) for match in re.finditer(r"\bPROGRAM\s+(E?'((?:[^']|'')*)')", text, re.IGNORECASE)]
    return scripts


def _visible_output(command: Command) -> str | None:
    """The text that echo, printf or cat of a visible stdin write, if the line shows it."""
    argv = command.argv
    if command.name == 'echo':
        words = argv[1:]
        while words and re.fullmatch(r'-[neE]+', words[0]):
            words = words[1:]
        return ' '.join(words).replace('\\n', '\n') + '\n'
    if command.name == 'printf' and len(argv) > 1:
        return ' '.join(argv[1:]).replace('\\n', '\n')
    if command.name == 'cat' and len(argv) == 1 and command.stdin:
        return command.stdin.text
    return None


def _substitute(word: str, variables: dict[str, str]) -> str:
    return VARIABLE.sub(lambda match: variables.get(match.group(1) or match.group(2), match.group(0)), word)


def _unwrap(command: Command, depth: int) -> list[Command]:
    """Strip prefixes and wrappers until the real command is at argv[0]."""
    # The command being unwrapped: each step replaces its argv (and what it reads, where
    # it runs) by those of the command it wraps.
    state = Command(list(command.argv), list(command.assignments), command.inside, command.stdin, command.cwd)
    while True:
        _drop_leading_words(state)
        if not state.argv:
            return []
        found = _unwrap_step(state, depth)
        if found is not None:
            return found


def _drop_leading_words(state: Command) -> None:
    """Move leading ``VAR=value`` words to the assignments; drop reserved words
    (``if``, ``{``, ``!``) and ``function NAME``."""
    while state.argv:
        word = state.argv[0]
        if word == 'function':
            state.argv = state.argv[2:]
        elif ASSIGNMENT.match(word) or word in RESERVED:
            if word not in RESERVED:
                state.assignments.append(word)
            state.argv.pop(0)
        else:
            return


def _unwrap_step(state: Command, depth: int) -> list[Command] | None:
    """Unwrap one prefix or wrapper: the commands found, or None when state now holds
    the wrapped command and needs another step."""
    here = Command(state.argv, state.assignments, state.inside, state.stdin, state.cwd)
    name = os.path.basename(state.argv[0])
    if name in PREFIXES:
        return _unwrap_prefix(name, state, here, depth)
    wrapper = WRAPPERS.get(name)
    return wrapper(name, state, here, depth) if wrapper else [here]


def _unwrap_prefix(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    """sudo, env, timeout, xargs, ...: the commands of ``env -S`` and of ``sudo`` fed a
    script on stdin; else None with state at the wrapped command."""
    argv, stdin = state.argv, state.stdin
    with_value, positionals = PREFIXES[name]
    options, rest = parse_options(argv, 1, with_value, stop_at_positional=True)
    index = len(argv) - len(rest)
    state.cwd = _prefix_cwd(name, options, state.cwd)
    if name == 'env':
        while index < len(argv) and ASSIGNMENT.match(argv[index]):
            state.assignments.append(argv[index])
            index += 1
        split = [value or '' for option, value in options if option in ('-S', '--split-string')]
        if split:
            return _nested(' '.join([*split, *map(shlex.quote, argv[index:])]), here, depth)
    if name == 'xargs' and stdin is not None:
        extra = shlex.split(stdin.text, posix=True) if stdin.text else ['<stdin of xargs>']
        state.argv, state.stdin = [*argv[index + positionals :], *extra], None
        return None
    if name == 'sudo' and index >= len(argv) and stdin and stdin.text:
        return _nested(stdin.text, here, depth)
    state.argv = argv[index + positionals :]
    return None


def _prefix_cwd(name: str, options: list[tuple[str, str | None]], cwd: str | None) -> str | None:
    """The directory a prefix's options (``sudo -D``, ``sudo -i``, ``env -C``) change to."""
    for option, value in options:
        if option in CHDIR_OPTIONS.get(name, ()) and value:
            cwd = value if value.startswith(('/', '$', '~')) or cwd is None else f'{cwd}/{value}'
    if name == 'sudo' and {'-i', '--login'} & {option for option, _value in options}:
        cwd = '~'
    return cwd


# Each wrapper gives the commands found ([here] when it wraps nothing it can read), or
# None after it put the wrapped command into state (``runuser -u``).


def _unwrap_eval(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    script = ' '.join(state.argv[1:])
    if name == 'alias':
        script = '; '.join(word.split('=', 1)[1] for word in state.argv[1:] if '=' in word)
    return _nested(script, here, depth)


def _unwrap_watch(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    _options, rest = parse_options(state.argv, 1, WATCH_VALUE, stop_at_positional=True)
    return _nested(' '.join(rest), here, depth)


def _unwrap_shell(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    how, script = _shell_invocation(state.argv)
    if how == 'c':
        return _nested(script or '', here, depth)
    if how == 'stdin' and state.stdin and state.stdin.text:
        return _nested(state.stdin.text, here, depth)
    return [here]


def _unwrap_su(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    how, target = _su_target(state.argv)
    if how == 'c':
        return _nested(str(target), here, depth)
    if how == 'argv' and isinstance(target, list):
        state.argv = target
        return None
    if state.stdin and state.stdin.text:
        return _nested(state.stdin.text, here, depth)
    return [here]


def _unwrap_ssh(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    remote = _ssh_inner(state.argv)
    if not remote:
        return [here]
    return simple_commands(remote[1], depth + 1, [*state.inside, f'ssh {remote[0]}'])


def _unwrap_container(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    """docker/podman exec, docker compose exec/run, kubectl exec, oc rsh."""
    wrapped = _kubectl_inner(state.argv) if name in ('kubectl', 'oc') else _docker_inner(state.argv)
    if not wrapped:
        return [here]
    where = [*state.inside, f'{name} exec {wrapped[0]}']
    return _expand(Command(wrapped[1], [], where, state.stdin), depth + 1)


def _unwrap_psql(name: str, state: Command, here: Command, depth: int) -> list[Command] | None:
    """psql itself, and the shell commands of its ``\\!`` and ``COPY ... PROGRAM``."""
    found = [here]
    inside_psql = Command(state.argv, state.assignments, [*state.inside, 'psql'], None, state.cwd)
    for script in _psql_shell_escapes(state.argv, state.stdin):
        found += _nested(script, inside_psql, depth)
    return found


WRAPPERS: dict[str, Callable[[str, Command, Command, int], list[Command] | None]] = {
    **dict.fromkeys(('eval', 'alias'), _unwrap_eval),
    'watch': _unwrap_watch,
    **dict.fromkeys(SHELLS, _unwrap_shell),
    # runuser is a prefix (PREFIXES) first.
    **dict.fromkeys(('su', 'runuser'), _unwrap_su),
    'ssh': _unwrap_ssh,
    **dict.fromkeys(('docker', 'docker-compose', 'podman', 'kubectl', 'oc'), _unwrap_container),
    'psql': _unwrap_psql,
}


def _nested(script: str, outer: Command, depth: int) -> list[Command]:
    inner = simple_commands(script, depth + 1, [*outer.inside], cwd=outer.cwd)
    for command in inner:
        command.assignments = [*outer.assignments, *command.assignments]
    return inner


def _expand(command: Command, depth: int) -> list[Command]:
    if depth > MAX_DEPTH:
        raise ParseError(f'commands nested more than {MAX_DEPTH} levels deep')
    return _unwrap(command, depth)


def _chdir(cwd: str | None, argv: list[str]) -> str | None:
    """The directory after ``cd``/``pushd`` argv, starting from cwd."""
    _options, words = parse_options(argv, 1, set())
    if not words or words[0] in ('~', '-'):
        return '~' if not words or words[0] == '~' else '$OLDPWD'
    target = words[0]
    if target.startswith(('/', '$', '~')) or cwd is None:
        return target
    return f'{cwd}/{target}'


def simple_commands(
    text: str, depth: int = 0, inside: list[str] | None = None, cwd: str | None = None, stdin: Stdin | None = None
) -> list[Command]:
    """Every simple command that the shell string ``text`` would run.

    ``cwd`` is the directory the line starts in (None: unknown), ``stdin`` what the line
    as a whole reads (the first command of the line gets it).
    """
    if depth > MAX_DEPTH:
        raise ParseError(f'commands nested more than {MAX_DEPTH} levels deep')
    found: list[Command] = []
    for match in SUBSTITUTION.finditer(text):
        found += simple_commands(match.group(1) or match.group(2) or '', depth + 1, inside, cwd)
    prepared, bodies = _prepare(text)
    variables: dict[str, str] = {}
    saved: list[str | None] = []
    previous: Command | None = None
    for number, segment in enumerate(_segments(_tokens(prepared, text), bodies)):
        if segment.before == '(':
            saved.append(cwd)
        argv = _substituted(segment.argv, variables)
        reads = _segment_stdin(segment, previous, stdin if number == 0 else None)
        cwd = _follow_shell_state(argv, segment, variables, cwd)
        commands = _expand(Command(argv, [], list(inside or []), reads, cwd), depth)
        found += commands
        found += [Command([REDIRECT_COMMAND, target], [], list(inside or []), None, cwd) for target in segment.writes]
        previous = commands[-1] if commands else Command(argv, [], [], reads, cwd)
        if segment.after == ')' and saved:
            cwd = saved.pop()
    return found


def _substituted(words: list[str], variables: dict[str, str]) -> list[str]:
    """words with the variables set earlier in the line put in; a command name that
    became several words is split."""
    argv = [_substitute(word, variables) for word in words]
    if variables and argv and ' ' in argv[0] and argv[0] != words[0]:
        argv = shlex.split(argv[0]) + argv[1:]
    return argv


def _segment_stdin(segment: _Segment, previous: Command | None, line_stdin: Stdin | None) -> Stdin | None:
    """What a segment reads: its own redirection, else the visible output of the command
    piped into it, else (first segment) what the whole line reads."""
    reads = segment.stdin
    if reads is None and segment.before in PIPES and previous is not None:
        reads = Stdin('pipe', _visible_output(previous))
    return line_stdin if reads is None else reads


def _follow_shell_state(argv: list[str], segment: _Segment, variables: dict[str, str], cwd: str | None) -> str | None:
    """Record the variables a segment sets (``VAR=value``, ``export VAR=value``) in
    variables; the directory after it (``cd``, ``pushd``, ``popd`` outside a pipeline)."""
    words = [word for word in argv if word not in RESERVED]
    if not words:
        return cwd
    if all(ASSIGNMENT.match(word) for word in words):
        variables.update(word.split('=', 1) for word in words)
        return cwd
    if words[0] in ('export', 'declare', 'local', 'readonly', 'typeset'):
        variables.update(word.split('=', 1) for word in words[1:] if ASSIGNMENT.match(word))
        return cwd
    if segment.before in PIPES or segment.after in PIPES:
        return cwd
    if words[0] in ('cd', 'pushd'):
        return _chdir(cwd, words)
    return '$OLDPWD' if words[0] == 'popd' else cwd


def argv_commands(argv: list[str], cwd: str | None = None, stdin: Stdin | None = None) -> list[Command]:
    """The simple commands of an argv that runs without a shell."""
    return _expand(Command(list(argv), stdin=stdin, cwd=cwd), 0) if argv else []
