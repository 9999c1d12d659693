# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's command policy: which commands the runbooks forbid, and why.

``evaluate(cmd_or_argv, policy)`` reads the command line with ``_shell_words`` and
applies every enabled rule to every simple command in it. Rules are code (they must
understand each tool's options); what they protect is data (``DEFAULT_POLICY``,
extended per inventory through the ``sre_safety_policy`` variable).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ansible_collections.sre.runbooks.plugins.module_utils._shell_words import (
    REDIRECT_COMMAND,
    Command,
    ParseError,
    Stdin,
    argv_commands,
    docker_subcommand,
    parse_options,
    simple_commands,
)

DEFAULT_POLICY: dict[str, Any] = {
    # Rule IDs that are enforced; see RULES below and docs/safety.md.
    'rules': [
        'compose_down_volumes',
        'docker_volume_rm',
        'docker_volume_prune',
        'docker_system_prune_volumes',
        'docker_rm_volumes',
        'pgdata_destroy',
        'pgdata_init',
        'drop_live_database',
        'drop_schema',
        'truncate_live_tables',
        'mongo_drop_collection',
        'database_shell_script',
        'pg_restore_clean',
        'restore_into_live_database',
        'mongorestore_drop',
        'password_on_command_line',
        'k8s_delete_namespace',
        'k8s_delete_pvc',
        'k8s_delete_all',
        'k8s_delete_certificate',
        'mongo_data_destroy',
        'redis_flush',
        'dynamic_command_name',
        'protected_file_write',
    ],
    # PostgreSQL data directories (and everything below them).
    'postgres_data_dirs': ['/var/lib/postgresql', '/var/lib/pgsql', '/var/lib/postgresql/data', '$PGDATA', '${PGDATA}'],
    # MongoDB data directories (a pod's /data/db, a host install's /var/lib/mongodb).
    'mongo_data_dirs': ['/data/db', '/data/configdb', '/var/lib/mongodb'],
    # Databases that may be dropped or restored into: rehearsals and broken copies.
    'scratch_databases': ['*_restore', '*_restore_*', '*_rehearsal*', '*_broken', '*_broken_*'],
    # Confirmations that unlock a rule for one call (given with the confirm option).
    'confirmable': ['mongorestore_drop'],
    # Extra rules: {id, argv: [glob, ...] (prefix of the command), reason}.
    'extra_rules': [],
    # Files only git may change on the server (runbook Q11: docker-compose.prod.yml,
    # nginx/qa_arena.conf): a path relative to the project, or absolute, globs allowed.
    'protected_files': [],
}

PG_TOOLS = {
    'psql',
    'pg_dump',
    'pg_dumpall',
    'pg_restore',
    'createdb',
    'dropdb',
    'pg_isready',
    'vacuumdb',
    'reindexdb',
    'clusterdb',
    'createuser',
    'dropuser',
    'pgbench',
}
MONGO_TOOLS = {'mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport'}
SECRET_VARIABLES = {'PGPASSWORD', 'MYSQL_PWD', 'REDISCLI_AUTH', 'MONGO_PASSWORD', 'SSHPASS'}
CREDENTIAL_URI = re.compile(r'[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@', re.IGNORECASE)
# A name in SQL: quoted, or any word up to a space, ';' or '(' (``$DB``, ``:db`` are names
# only known at run time, hence never scratch).
SQL_NAME = r'("(?:[^"]|"")+"|`[^`]+`|[^\s;(]+)'
DROP_DATABASE = re.compile(r'\bDROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?' + SQL_NAME, re.IGNORECASE)
DROP_SCHEMA = re.compile(r'\bDROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?([^;]*)', re.IGNORECASE)
DROP_OWNED = re.compile(r'\bDROP\s+OWNED\b', re.IGNORECASE)
TRUNCATE = re.compile(r'\bTRUNCATE\b', re.IGNORECASE)
SQL_COMMENT = re.compile(r'/\*.*?\*/|--[^\n]*', re.DOTALL)
PSQL_INCLUDE = re.compile(r'\\(?:i|ir|include|include_relative)\s+(\S+)')
PSQL_CONNECT = re.compile(r'\\(?:c|connect)\b')
MYSQL_SOURCE = re.compile(r'(?:^|;)\s*(?:source|\\\.)\s+(\S+)', re.IGNORECASE | re.MULTILINE)
MONGO_SIBLING_DROP = re.compile(r'getSiblingDB\(\s*[\'"]([^\'"]+)[\'"]\s*\)\s*\.\s*dropDatabase\s*\(')
MONGO_USE = re.compile(r'\buse\s+([A-Za-z0-9_.$-]+)')
MONGO_COLLECTION_DROP = re.compile(
    r'\.\s*drop\s*\(|\bdropCollection\b|\.\s*(?:deleteMany|remove)\s*\(\s*\{\s*\}\s*\)', re.IGNORECASE
)
MONGO_LOAD = re.compile(r'\bload\s*\(\s*[\'"]([^\'"]+)')
DATABASE_SHELLS = {'psql', 'mysql', 'mariadb', 'mongo', 'mongosh', 'redis-cli'}
PSQL_OPTIONS = {
    '-c',
    '--command',
    '-d',
    '--dbname',
    '-f',
    '--file',
    '-h',
    '--host',
    '-p',
    '--port',
    '-U',
    '--username',
    '-v',
    '--set',
    '--variable',
    '-o',
    '--output',
    '-L',
    '--log-file',
    '-P',
    '--pset',
    '-R',
    '--record-separator',
    '-F',
    '--field-separator',
    '-T',
    '--table-attr',
}
MYSQL_OPTIONS = {
    '-u',
    '--user',
    '-h',
    '--host',
    '-P',
    '--port',
    '-D',
    '--database',
    '-e',
    '--execute',
    '-S',
    '--socket',
}
MYSQL_OPTIONS |= {'--defaults-file', '--defaults-extra-file', '--login-path'}
MONGO_OPTIONS = {'--host', '--port', '-u', '--username', '--authenticationDatabase', '--authenticationMechanism'}
MONGO_OPTIONS |= {'--eval', '-f', '--file', '--tlsCAFile', '--tlsCertificateKeyFile', '--apiVersion'}
REDIS_OPTIONS = {'-h', '-p', '-a', '-u', '-n', '-s', '-r', '-i', '-d', '-D', '--user', '--pass', '--askpass'}
REDIS_OPTIONS |= {'--sni', '--cacert', '--cacertdir', '--cert', '--key'}
# Names of PostgreSQL data directories and of what is inside one: a relative path with
# one of these, in a directory the policy cannot know, may be a data directory.
DATA_DIR_NAMES = {'postgresql', 'pgsql', 'pgdata', 'data', 'main', 'base', 'global', 'pg_wal', 'pg_xlog', 'pg_tblspc'}
DATA_DIR_NAMES |= {'PG_VERSION'}
PG_RESTORE_VALUE = set('dfFIjLnNPSTtUhp')
PSQL_VALUE = set('cdfhpUvoLPRTF')


@dataclass
class Violation:
    rule: str
    command: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {'rule': self.rule, 'command': self.command, 'reason': self.reason}


def short_flags(argv: list[str], with_value: set[str]) -> Iterator[tuple[str, str | None]]:
    """(option, value) for every option word: -abc, -dNAME, -d NAME, --long=value, --long value.

    ``with_value`` names the options that take a value, as ``-d``/``d`` or ``--dbname``.
    """
    index = 1
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == '--':
            return
        if word.startswith('--'):
            name, has_value, value = word.partition('=')
            if not has_value and name in with_value and index < len(argv):
                value, has_value = argv[index], '='
                index += 1
            yield name, value if has_value else None
        elif word.startswith('-') and len(word) > 1:
            for position, letter in enumerate(word[1:], start=1):
                if letter in with_value or '-' + letter in with_value:
                    value = word[position + 1 :] or (argv[index] if index < len(argv) else None)
                    if not word[position + 1 :]:
                        index += 1
                    yield '-' + letter, value
                    break
                yield '-' + letter, None


def _positionals(argv: list[str], with_value: set[str]) -> list[str]:
    words, index = [], 1
    while index < len(argv):
        word = argv[index]
        if word == '--':
            return words + argv[index + 1 :]
        if word.startswith('--'):
            index += 1 if '=' in word or word not in with_value else 2
            continue
        if word.startswith('-') and len(word) > 1:
            letters = word[1:]
            takes = next((i for i, letter in enumerate(letters) if '-' + letter in with_value), None)
            index += 2 if takes is not None and takes == len(letters) - 1 else 1
            continue
        words.append(word)
        index += 1
    return words


def is_scratch(database: str | None, policy: dict[str, Any]) -> bool:
    if not database:
        return False
    name = database.strip('"`').replace('""', '"')
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in policy['scratch_databases'])


def _under(path: str, roots: list[str]) -> bool:
    clean = path.rstrip('/') or '/'
    return any(
        clean == root.rstrip('/')
        or clean.startswith(root.rstrip('/') + '/')
        or (any(ch in clean for ch in '*?[') and fnmatch.fnmatchcase(root, clean))
        for root in roots
    )


def _contains_root(path: str, roots: list[str]) -> bool:
    """path is a directory above a data directory (``rm -rf /var/lib``, ``mv /var /x``)."""
    clean = path.rstrip('/') or '/'
    return any(root.startswith('/') and (clean == '/' or root.startswith(clean + '/')) for root in roots)


def _resolve(path: str, cwd: str | None) -> tuple[str, bool]:
    """(path joined to the directory the command line changed to, whether it is known)."""
    joined = path if path.startswith(('/', '$', '~')) or not cwd else f'{cwd}/{path}'
    clean = posixpath.normpath(joined)
    return clean, clean.startswith('/')


def _data_dir_danger(path: str, cwd: str | None, roots: list[str]) -> str | None:
    resolved, known = _resolve(path, cwd)
    if _under(resolved, roots):
        return f'{resolved} is (in) a PostgreSQL data directory'
    if known and _contains_root(resolved, roots):
        return f'{resolved} contains a PostgreSQL data directory'
    if known:
        return None
    names = DATA_DIR_NAMES | {posixpath.basename(root.rstrip('/')) for root in roots}
    parts = [part for part in resolved.split('/') if part and not part.startswith(('$', '~'))]
    if not parts or parts == ['.'] or any(part == '..' for part in parts):
        return f'{path} is a directory that is only known at run time'
    matched = [part for part in parts if any(fnmatch.fnmatchcase(name, part) for name in names)]
    if matched:
        return f'{path} in a directory only known at run time may be a PostgreSQL data directory ({matched[0]})'
    return None


def _find_roots(args: list[str]) -> list[str]:
    roots = []
    for word in args:
        if word in ('-H', '-L', '-P') and not roots:
            continue
        if word.startswith(('-', '(', '!', ')')):
            break
        roots.append(word)
    return roots or ['.']


# --- docker -----------------------------------------------------------------------


def rule_docker(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if command.name not in ('docker', 'docker-compose', 'podman', 'podman-compose'):
        return
    compose, sub = docker_subcommand(command.argv)
    if not sub:
        return
    flags = {name for name, _value in short_flags(['x', *sub[1:]], {'-t', '--timeout', '--rmi'})}
    yield from (_compose_volume_rules if compose else _docker_volume_rules)(sub, flags)


def _compose_volume_rules(sub: list[str], flags: set[str]) -> Iterator[tuple[str, str]]:
    """docker compose SUB...: down -v, rm -v."""
    if sub[0] == 'down' and flags & {'-v', '--volumes'}:
        yield 'compose_down_volumes', 'deletes the named volumes of the stack (runbook Q11: data loss)'
    if sub[0] == 'rm' and flags & {'-v', '--volumes'}:
        yield 'docker_rm_volumes', 'removes containers together with their volumes'


def _docker_volume_rules(sub: list[str], flags: set[str]) -> Iterator[tuple[str, str]]:
    """docker SUB...: volume rm/prune, system prune --volumes, [container] rm -v."""
    if sub[0] == 'container' and len(sub) > 1:
        sub = sub[1:]
    action = sub[1] if len(sub) > 1 else None
    if sub[0] == 'volume' and action in ('rm', 'remove'):
        yield 'docker_volume_rm', 'deletes Docker volumes and their data (runbook Q11)'
    if sub[0] == 'volume' and action == 'prune':
        yield 'docker_volume_prune', 'deletes every unused volume, data included (runbook Q11)'
    if sub[0] == 'system' and action == 'prune' and '--volumes' in sub:
        yield 'docker_system_prune_volumes', 'prunes volumes with their data (runbook Q11)'
    if sub[0] in ('rm', 'remove') and flags & {'-v', '--volumes'}:
        yield 'docker_rm_volumes', 'removes containers together with their anonymous volumes'


# --- PostgreSQL ---------------------------------------------------------------------


def _removed_paths(command: Command) -> tuple[list[str], str]:
    """The paths a command deletes or moves away (rm, rmdir, shred, unlink, mv, find -delete or
    -exec), and how it does (``deletes or moves``, ``deletes files in``)."""
    name, args = command.name, command.argv[1:]
    if name in ('rm', 'rmdir', 'shred', 'unlink', 'mv'):
        options, paths = parse_options(command.argv, 1, {'-t', '--target-directory', '-S', '--suffix'})
        paths += [value for option, value in options if option in ('-t', '--target-directory') and value]
        return paths, 'deletes or moves'
    if name == 'find' and {'-delete', '-exec', '-execdir', '-ok', '-okdir'} & set(args):
        return _find_roots(args), 'deletes files in'
    return [], ''


def rule_pgdata(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    roots = policy['postgres_data_dirs']
    name, args = command.name, command.argv[1:]
    paths, how = _removed_paths(command)
    for path in paths:
        danger = _data_dir_danger(path, command.cwd, roots)
        if danger:
            yield 'pgdata_destroy', f'{how} a PostgreSQL data directory: {danger} (runbook Q11)'
            break
    if name in ('initdb', 'pg_dropcluster') or (name == 'pg_ctl' and {'init', 'initdb'} & set(args)):
        yield 'pgdata_init', 're-initialises or drops a PostgreSQL cluster (runbook Q11)'


@dataclass
class Session:
    """What a database shell is asked to run: the database, the text the policy can read,
    and the scripts it cannot (files, stdin from elsewhere)."""

    tool: str
    target: str | None
    texts: list[str]
    unseen: list[str]


def _database_name(value: str | None) -> str | None:
    """The database of ``name``, ``dbname=name host=...``, a URI or ``host:port/name``."""
    if not value:
        return None
    match = (
        re.search(r'dbname=([^\s&]+)', value)
        or re.search(r'://[^/]*/([^?\s]+)', value)
        or re.match(r'^[^/:\s]+(?::\d+)?/([^?\s]+)$', value)
    )
    return match.group(1) if match else (None if '://' in value else value)


def _reads(stdin: Stdin | None, texts: list[str], unseen: list[str]) -> None:
    if stdin is None:
        return
    if stdin.text is not None:
        texts.append(stdin.text)
    else:
        unseen.append(f'stdin ({stdin.source})')


def database_session(command: Command) -> Session | None:
    """The session of psql, mysql, mongo/mongosh or redis-cli; None for other commands."""
    reader = SESSION_READERS.get(command.name)
    return reader(command) if reader else None


def _psql_session(command: Command) -> Session:
    options, positionals = parse_options(command.argv, 1, PSQL_OPTIONS)
    texts = [value or '' for option, value in options if option in ('-c', '--command')]
    unseen = [f'-f {value}' for option, value in options if option in ('-f', '--file')]
    given = dict(options)
    if not texts and not unseen and not {'-l', '--list'} & set(given):
        _reads(command.stdin, texts, unseen)
    target = _database_name(given.get('-d') or given.get('--dbname') or (positionals[0] if positionals else None))
    for text in texts:
        unseen += [f'\\i {match.group(1)}' for match in PSQL_INCLUDE.finditer(text)]
        if PSQL_CONNECT.search(text):
            target = None
    return Session(command.name, target, texts, unseen)


def _mysql_session(command: Command) -> Session:
    options, positionals = parse_options(command.argv, 1, MYSQL_OPTIONS, attached={'-p'})
    texts = [value or '' for option, value in options if option in ('-e', '--execute')]
    unseen: list[str] = []
    if not texts:
        _reads(command.stdin, texts, unseen)
    given = dict(options)
    for text in texts:
        unseen += [f'source {match.group(1)}' for match in MYSQL_SOURCE.finditer(text)]
    target = given.get('-D') or given.get('--database') or (positionals or [None])[0]
    return Session(command.name, target, texts, unseen)


def _mongo_session(command: Command) -> Session:
    options, positionals = parse_options(command.argv, 1, MONGO_OPTIONS)
    texts = [value or '' for option, value in options if option == '--eval']
    unseen = [f'--file {value}' for option, value in options if option in ('-f', '--file')]
    unseen += [word for word in positionals if word.endswith('.js')]
    if not texts and not unseen:
        _reads(command.stdin, texts, unseen)
    for text in texts:
        unseen += [f'load({match.group(1)})' for match in MONGO_LOAD.finditer(text)]
    address = next((word for word in positionals if not word.endswith('.js')), None)
    target = _database_name(address) or ('test' if '--nodb' not in dict(options) else None)
    return Session(command.name, target, texts, unseen)


def _redis_session(command: Command) -> Session:
    options, words = parse_options(command.argv, 1, REDIS_OPTIONS, stop_at_positional=True)
    texts, unseen = ([shlex.join(words)], []) if words else ([], [])
    if not words or '--pipe' in dict(options):
        _reads(command.stdin, texts, unseen)
    return Session(command.name, None, texts, unseen)


SESSION_READERS: dict[str, Callable[[Command], Session]] = {
    'psql': _psql_session,
    **dict.fromkeys(('mysql', 'mariadb'), _mysql_session),
    **dict.fromkeys(('mongo', 'mongosh'), _mongo_session),
    'redis-cli': _redis_session,
}


def _restore_target(command: Command) -> str | None:
    for flag, value in short_flags(command.argv, PG_RESTORE_VALUE | {'--dbname'}):
        if flag in ('-d', '--dbname') and value:
            return _database_name(value)
    return None


def _sql(text: str) -> str:
    return SQL_COMMENT.sub(' ', text)


SQL_SHELLS = ('psql', 'mysql', 'mariadb')
MONGO_SHELLS = ('mongo', 'mongosh')


def rule_databases(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    session = database_session(command)
    scratch = session is not None and is_scratch(session.target, policy)
    if session and not scratch:
        yield from _live_data_findings(session)
    for database in _dropped_databases(command, session):
        if not is_scratch(database, policy):
            yield (
                'drop_live_database',
                (
                    f'drops database {database}, which is not a rehearsal or broken copy; '
                    'the collection renames, it never drops'
                ),
            )
    if session and session.unseen and not scratch:
        yield (
            'database_shell_script',
            (
                f'{session.tool} runs a script the policy cannot read ({", ".join(session.unseen)}) '
                f'against {session.target or "the default database"}; pass the statements with -c/--eval/-e '
                'or as visible text (echo ... |, a heredoc), or run it against a rehearsal database'
            ),
        )
    if command.name == 'pg_restore':
        yield from _pg_restore_findings(command, policy)


def _live_data_findings(session: Session) -> Iterator[tuple[str, str]]:
    """What a session run against a database that is not a scratch copy must not do:
    drop a schema with its contents (psql), TRUNCATE, drop or empty a collection."""
    database = session.target or '(default)'
    if session.tool in MONGO_SHELLS:
        for text in session.texts:
            if MONGO_COLLECTION_DROP.search(text):
                yield (
                    'mongo_drop_collection',
                    (
                        f'drops or empties a collection of database {database}, '
                        'which is not a rehearsal copy (runbook P11)'
                    ),
                )
    if session.tool not in SQL_SHELLS:
        return
    for text in map(_sql, session.texts):
        if session.tool == 'psql' and _drops_schema_contents(text):
            yield (
                'drop_schema',
                (
                    f'drops a schema with everything in it in database {database}, '
                    'which is not a rehearsal or broken copy'
                ),
            )
        if TRUNCATE.search(text):
            yield (
                'truncate_live_tables',
                (
                    f'TRUNCATE empties tables of database {database} at once and for good; '
                    'work on a rehearsal copy or delete what is needed with a WHERE clause'
                ),
            )


def _drops_schema_contents(sql: str) -> bool:
    """DROP SCHEMA ... CASCADE, DROP SCHEMA public, or DROP OWNED."""
    schemas = [match.group(1) for match in DROP_SCHEMA.finditer(sql)]
    cascades = any(re.search(r'\bCASCADE\b|(^|[\s,"])public\b', clause, re.IGNORECASE) for clause in schemas)
    return cascades or bool(DROP_OWNED.search(sql))


def _dropped_databases(command: Command, session: Session | None) -> list[str]:
    """The databases a command drops: dropdb's, DROP DATABASE (and DROP SCHEMA, a database
    in MySQL), MongoDB's dropDatabase()."""
    targets: list[str] = []
    if command.name == 'dropdb':
        dropdb_value = {'-h', '-p', '-U', '--host', '--port', '--username', '--maintenance-db'}
        targets += _positionals(command.argv, dropdb_value)[:1]
    if session and session.tool in SQL_SHELLS:
        for text in map(_sql, session.texts):
            targets += [match.group(1) for match in DROP_DATABASE.finditer(text)]
            if session.tool != 'psql':
                schemas = [match.group(1) for match in DROP_SCHEMA.finditer(text)]
                targets += [clause.split()[0] for clause in schemas if clause.split()]
    if session and session.tool in MONGO_SHELLS:
        for text in session.texts:
            named = [match.group(1) for match in MONGO_SIBLING_DROP.finditer(text)]
            targets += named
            if text.count('dropDatabase') > len(named):
                used = MONGO_USE.findall(text)
                targets.append(used[-1] if used else (session.target or 'test'))
    return targets


def _pg_restore_findings(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """pg_restore --clean, --create, or into a database that is not a scratch copy."""
    flags = dict(short_flags(command.argv, PG_RESTORE_VALUE | {'--dbname'}))
    if '-l' in flags or '--list' in flags:
        return
    if {'-c', '--clean'} & set(flags):
        yield 'pg_restore_clean', 'pg_restore --clean drops objects of the target database first (runbook Q8)'
    target = _restore_target(command)
    if {'-C', '--create'} & set(flags) and target:
        yield (
            'restore_into_live_database',
            (
                'pg_restore --create recreates the database named in the dump; '
                'restore into a rehearsal database instead (runbook Q8)'
            ),
        )
    elif target and not is_scratch(target, policy):
        yield (
            'restore_into_live_database',
            (
                f'restores straight into database {target}; restore into a '
                'rehearsal database (e.g. <db>_restore) first (runbook Q8)'
            ),
        )


# --- MongoDB, Redis, Kubernetes, secrets ---------------------------------------------


def rule_mongo(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if command.name == 'mongorestore' and any(
        word == '--drop' or word.startswith('--drop=') for word in command.argv[1:]
    ):
        yield (
            'mongorestore_drop',
            ('mongorestore --drop overwrites the live collections (runbook P11); needs confirm: [mongorestore_drop]'),
        )


def rule_mongo_data(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """rm/mv/find -delete of a MongoDB data directory (in a pod: kubectl exec mongodb-0 -- rm -rf /data/db)."""
    roots = policy['mongo_data_dirs']
    paths, how = _removed_paths(command)
    for path in paths:
        resolved, known = _resolve(path, command.cwd)
        if _under(resolved, roots) or (known and _contains_root(resolved, roots)):
            yield (
                'mongo_data_destroy',
                f'{how} MongoDB data: {resolved} (runbook P6; only a verified restore replaces it, P11)',
            )
            break


def rule_redis(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    session = database_session(command)
    if session is None or session.tool != 'redis-cli':
        return
    for text in session.texts:
        for line in text.splitlines():
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            first = words[0].upper() if words else ''
            if first in ('FLUSHALL', 'FLUSHDB'):
                yield 'redis_flush', f'{first} deletes every key (runbook P7)'
            elif first in ('EVAL', 'EVALSHA', 'FCALL') and re.search(r'flush(all|db)', line, re.IGNORECASE):
                yield 'redis_flush', f'a script run by {first} flushes the keys (runbook P7)'


def rule_kubernetes(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if command.name not in ('kubectl', 'oc'):
        return
    words = _positionals(
        command.argv,
        {
            '-n',
            '--namespace',
            '--context',
            '--cluster',
            '-s',
            '--server',
            '--kubeconfig',
            '--user',
            '-l',
            '--selector',
            '-o',
            '--output',
            '-f',
            '--filename',
            '--grace-period',
            '--timeout',
        },
    )
    if len(words) < 2 or words[0] != 'delete':
        return
    kinds = {word.split('/')[0].lower() for word in words[1:]}
    if kinds & {'namespace', 'namespaces', 'ns'}:
        yield 'k8s_delete_namespace', 'deleting a namespace deletes everything in it'
    if kinds & {
        'pvc',
        'persistentvolumeclaim',
        'persistentvolumeclaims',
        'pv',
        'persistentvolume',
        'persistentvolumes',
    }:
        yield 'k8s_delete_pvc', 'deleting a volume claim can delete its data (MongoDB, runbook P6)'
    if 'all' in kinds or {'--all-namespaces', '-A'} & set(command.argv):
        yield 'k8s_delete_all', 'deletes every workload of a namespace, or of every namespace'
    if kinds & {'certificate', 'certificates', 'cert', 'certs'} or any(
        kind.startswith('certificate.') or kind.startswith('certificates.') for kind in kinds
    ):
        yield (
            'k8s_delete_certificate',
            'cert-manager re-issues a Certificate in place (cmctl renew NAME); deleting it leaves the site '
            'without its Certificate until a new one is issued (runbook P13)',
        )


def rule_secrets(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    leaked = [
        word.split('=', 1)[0]
        for word in command.assignments
        if word.split('=', 1)[0] in SECRET_VARIABLES and word.split('=', 1)[1]
    ]
    name, args = command.name, command.argv[1:]
    if any(CREDENTIAL_URI.search(word) for word in args):
        leaked.append('a URI with a password')
    value_options = {'-u', '--user'} if name == 'curl' else {'-p', '-a', '-u', '--user', '--pass'}
    for flag, value in short_flags(command.argv, value_options):
        if flag == '--password' and (name in MONGO_TOOLS or (value and name not in PG_TOOLS)):
            leaked.append('--password')
        elif name in ('mysql', 'mysqldump') and flag == '-p' and value and not value.startswith('-'):
            leaked.append('-p<password>')
        elif (name, flag) in (('redis-cli', '-a'), ('redis-cli', '--pass'), ('sshpass', '-p')):
            leaked.append(flag)
        elif name == 'curl' and flag in ('-u', '--user') and value and ':' in value:
            leaked.append('-u user:password')
    if name in MONGO_TOOLS and '-p' in args:
        leaked.append('-p')
    if leaked:
        yield (
            'password_on_command_line',
            (
                f"a password on the command line ({', '.join(sorted(set(leaked)))}) "
                'ends up in logs and process lists; use a file or the environment'
            ),
        )


def rule_dynamic(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if any(mark in command.name for mark in ('$', '`')) or command.name in ('', '('):
        yield (
            'dynamic_command_name',
            (
                f'the command name {command.argv[0]!r} is only known at run time, so the policy '
                'cannot judge it; name the command'
            ),
        )


WRITERS_VALUE = {'-t', '--target-directory', '-S', '--suffix', '-m', '--mode', '-o', '--owner', '-g', '--group'}
SED_VALUE = {'-e', '--expression', '-f', '--file', '-l', '--line-length'}
TRUNCATE_VALUE = {'-s', '--size', '-r', '--reference'}


def written_paths(command: Command) -> list[str]:
    """The files a command writes, moves or removes: a redirection's target, sed -i's
    files, tee's, the destination (and for mv, rm, the sources) of a copy or move,
    truncate's and dd's of=."""
    if command.argv[0] == REDIRECT_COMMAND:
        return command.argv[1:]
    writer = WRITERS.get(command.name)
    return writer(command.name, command.argv) if writer else []


def _sed_writes(name: str, argv: list[str]) -> list[str]:
    options, positionals = parse_options(argv, 1, SED_VALUE, attached={'-i'})
    flags = {option for option, _value in options}
    if not flags & {'-i', '--in-place'} and not any(word.startswith(('-i', '--in-place=')) for word in argv[1:]):
        return []
    scripted = flags & {'-e', '--expression', '-f', '--file'}
    return positionals if scripted else positionals[1:]


def _operand_writes(name: str, argv: list[str]) -> list[str]:
    """tee, rm, unlink, shred, truncate: every operand."""
    return parse_options(argv, 1, TRUNCATE_VALUE if name == 'truncate' else set())[1]


def _copy_writes(name: str, argv: list[str]) -> list[str]:
    """cp, mv, install, ln, rsync: the destination (the files in it), mv's sources."""
    options, paths = parse_options(argv, 1, WRITERS_VALUE)
    target = [value for option, value in options if option in ('-t', '--target-directory') and value]
    sources, destination = (paths, target[0]) if target else (paths[:-1], (paths[-1:] or [''])[0])
    # A directory destination (-t, a trailing /, several sources, a name without a
    # suffix) receives the files under their own names.
    into_directory = bool(target) or destination.endswith('/') or len(sources) > 1
    into_directory = into_directory or '.' not in posixpath.basename(destination.rstrip('/'))
    joined = [f"{destination.rstrip('/')}/{posixpath.basename(source)}" for source in sources]
    written = [destination] + (joined if into_directory else [])
    return (sources if name == 'mv' else []) + [path for path in written if path]


def _dd_writes(name: str, argv: list[str]) -> list[str]:
    return [word[3:] for word in argv[1:] if word.startswith('of=')]


WRITERS: dict[str, Callable[[str, list[str]], list[str]]] = {
    'sed': _sed_writes,
    **dict.fromkeys(('tee', 'rm', 'unlink', 'shred', 'truncate'), _operand_writes),
    **dict.fromkeys(('cp', 'mv', 'install', 'ln', 'rsync'), _copy_writes),
    'dd': _dd_writes,
}


def _is_protected(path: str, cwd: str | None, protected: list[str]) -> str | None:
    resolved, _known = _resolve(path, cwd)
    for entry in protected:
        pattern = entry if entry.startswith('/') else '*/' + entry.lstrip('./')
        if fnmatch.fnmatchcase(resolved, pattern) or fnmatch.fnmatchcase(resolved, entry.lstrip('./')):
            return entry
    return None


def rule_protected_files(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    protected = policy.get('protected_files') or []
    if not protected:
        return
    for path in written_paths(command):
        entry = _is_protected(path, command.cwd, protected)
        if entry:
            yield (
                'protected_file_write',
                (
                    f'writes {path}, which only git may change on the server ({entry}, runbook Q11); '
                    'commit the change to the repository and deploy it'
                ),
            )
            return


def rule_extra(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for rule in policy.get('extra_rules') or []:
        pattern = rule['argv']
        if len(command.argv) >= len(pattern) and all(
            fnmatch.fnmatchcase(word if index else command.name, glob)
            for index, (word, glob) in enumerate(zip(command.argv, pattern))
        ):
            yield rule['id'], rule.get('reason') or 'refused by an inventory rule'


RULES: list[Callable[[Command, dict[str, Any]], Iterator[tuple[str, str]]]] = [
    rule_docker,
    rule_pgdata,
    rule_databases,
    rule_mongo,
    rule_mongo_data,
    rule_redis,
    rule_kubernetes,
    rule_secrets,
    rule_dynamic,
    rule_protected_files,
    rule_extra,
]


# The variables an inventory sets the policy with (read by the action plugins).
POLICY_VARIABLES = ('sre_safety_policy', 'sre_protected_files')


def inventory_policy(task_vars: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy layers an inventory sets: ``sre_safety_policy``, and the files only git
    may change (``sre_protected_files``), a variable of its own so that a stack's group
    variables add them without replacing the inventory's ``sre_safety_policy``."""
    return [task_vars.get('sre_safety_policy') or {}, {'protected_files': task_vars.get('sre_protected_files') or []}]


def merge_policy(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_POLICY extended by each layer: lists are added to, `rules_disabled` removes."""
    policy = {key: list(value) for key, value in DEFAULT_POLICY.items()}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key == 'rules_disabled':
                policy['rules'] = [rule for rule in policy['rules'] if rule not in value]
            elif key in policy and isinstance(policy[key], list):
                policy[key] = policy[key] + [item for item in value if item not in policy[key]]
            else:
                raise ValueError(f'unknown policy key {key!r}; known: {sorted(DEFAULT_POLICY)} and rules_disabled')
    return policy


def evaluate(
    command: str | list[str],
    policy: dict[str, Any] | None = None,
    confirmations: list[str] | tuple[str, ...] = (),
    *,
    stdin: str | None = None,
    cwd: str | None = None,
) -> dict[str, Any]:
    """Verdict on a shell string or an argv: allowed, reason, violations, commands.

    ``stdin`` is text given to the command (safe_command's ``stdin``: read like a heredoc),
    ``cwd`` the directory it starts in (``chdir``): relative paths are resolved against it.
    """
    policy = policy or merge_policy()
    given = Stdin('stdin option', stdin) if stdin is not None else None
    try:
        if isinstance(command, str):
            commands = simple_commands(command, cwd=cwd, stdin=given)
        else:
            commands = argv_commands(command, cwd=cwd, stdin=given)
    except ParseError as err:
        return {
            'allowed': False,
            'reason': f'refused: {err}',
            'violations': [{'rule': 'unparsable', 'command': str(command), 'reason': str(err)}],
            'commands': [],
        }
    enabled = {rule['id'] for rule in policy.get('extra_rules') or []} | set(policy['rules'])
    violations: list[Violation] = []
    for simple in commands:
        for rule in RULES:
            for rule_id, reason in rule(simple, policy):
                if rule_id in enabled and not (rule_id in confirmations and rule_id in policy['confirmable']):
                    violations.append(Violation(rule_id, str(simple), reason))
    reason = (
        'allowed: no rule of the policy matches'
        if not violations
        else 'refused: ' + '; '.join(f'{v.command}: {v.reason} [{v.rule}]' for v in violations)
    )
    return {
        'allowed': not violations,
        'reason': reason,
        'violations': [v.as_dict() for v in violations],
        'commands': [c.argv for c in commands],
    }
