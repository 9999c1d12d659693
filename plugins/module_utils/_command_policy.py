# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's command policy: which commands the runbooks forbid, and why.

``evaluate(cmd_or_argv, policy)`` reads the command line with ``_shell_words`` and
applies every enabled rule to every simple command in it. Rules are code (they must
understand each tool's options); what they protect is data (``DEFAULT_POLICY``,
extended per inventory through the ``sre_safety_policy`` variable).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ansible_collections.sre.runbooks.plugins.module_utils._shell_words import (
    Command,
    ParseError,
    argv_commands,
    docker_subcommand,
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
        'pg_restore_clean',
        'restore_into_live_database',
        'mongorestore_drop',
        'password_on_command_line',
        'k8s_delete_namespace',
        'k8s_delete_pvc',
        'redis_flush',
    ],
    # PostgreSQL data directories (and everything below them).
    'postgres_data_dirs': ['/var/lib/postgresql', '/var/lib/pgsql', '/var/lib/postgresql/data', '$PGDATA', '${PGDATA}'],
    # Databases that may be dropped or restored into: rehearsals and broken copies.
    'scratch_databases': ['*_restore', '*_restore_*', '*_rehearsal*', '*_broken', '*_broken_*'],
    # Confirmations that unlock a rule for one call (given with the confirm option).
    'confirmable': ['mongorestore_drop'],
    # Extra rules: {id, argv: [glob, ...] (prefix of the command), reason}.
    'extra_rules': [],
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
DROP_DATABASE = re.compile(
    r'\bDROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)', re.IGNORECASE
)
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


def is_scratch(database: str, policy: dict[str, Any]) -> bool:
    name = database.strip('"').replace('""', '"')
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in policy['scratch_databases'])


def _under(path: str, roots: list[str]) -> bool:
    clean = path.rstrip('/') or '/'
    return any(
        clean == root.rstrip('/')
        or clean.startswith(root.rstrip('/') + '/')
        or (any(ch in clean for ch in '*?[') and fnmatch.fnmatchcase(root, clean))
        for root in roots
    )


# --- docker -----------------------------------------------------------------------


def rule_docker(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if command.name not in ('docker', 'docker-compose', 'podman', 'podman-compose'):
        return
    compose, sub = docker_subcommand(command.argv)
    if not sub:
        return
    flags = {name for name, _value in short_flags(['x', *sub[1:]], {'-t', '--timeout', '--rmi'})}
    if compose and sub[0] == 'down' and flags & {'-v', '--volumes'}:
        yield 'compose_down_volumes', 'deletes the named volumes of the stack (runbook Q11: data loss)'
    if compose and sub[0] == 'rm' and flags & {'-v', '--volumes'}:
        yield 'docker_rm_volumes', 'removes containers together with their volumes'
    if compose:
        return
    if sub[0] == 'container' and len(sub) > 1:
        sub = sub[1:]
    if sub[0] == 'volume' and len(sub) > 1 and sub[1] in ('rm', 'remove'):
        yield 'docker_volume_rm', 'deletes Docker volumes and their data (runbook Q11)'
    if sub[0] == 'volume' and len(sub) > 1 and sub[1] == 'prune':
        yield 'docker_volume_prune', 'deletes every unused volume, data included (runbook Q11)'
    if sub[0] == 'system' and len(sub) > 1 and sub[1] == 'prune' and '--volumes' in sub:
        yield 'docker_system_prune_volumes', 'prunes volumes with their data (runbook Q11)'
    if sub[0] in ('rm', 'remove') and flags & {'-v', '--volumes'}:
        yield 'docker_rm_volumes', 'removes containers together with their anonymous volumes'


# --- PostgreSQL ---------------------------------------------------------------------


def rule_pgdata(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    roots = policy['postgres_data_dirs']
    name, args = command.name, command.argv[1:]
    paths = [word for word in args if not word.startswith('-')]
    if name in ('rm', 'rmdir', 'shred', 'unlink', 'mv') and any(_under(path, roots) for path in paths):
        yield 'pgdata_destroy', 'deletes or moves a PostgreSQL data directory (runbook Q11)'
    if name == 'find' and paths and _under(paths[0], roots) and ('-delete' in args or '-exec' in args):
        yield 'pgdata_destroy', 'deletes files in a PostgreSQL data directory (runbook Q11)'
    if name in ('initdb', 'pg_dropcluster') or (name == 'pg_ctl' and {'init', 'initdb'} & set(args)):
        yield 'pgdata_init', 're-initialises or drops a PostgreSQL cluster (runbook Q11)'


def _sql_of(command: Command) -> list[str]:
    if command.name != 'psql':
        return []
    return [
        value or ''
        for flag, value in short_flags(command.argv, PSQL_VALUE | {'--command'})
        if flag in ('-c', '--command')
    ]


def _restore_target(command: Command) -> str | None:
    for flag, value in short_flags(command.argv, PG_RESTORE_VALUE | {'--dbname'}):
        if flag in ('-d', '--dbname') and value:
            match = re.search(r'dbname=([^\s&]+)', value) or re.search(r'://[^/]*/([^?\s]+)', value)
            return match.group(1) if match else value
    return None


def rule_databases(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    targets: list[str] = []
    if command.name == 'dropdb':
        targets += _positionals(command.argv, {'-h', '-p', '-U', '--host', '--port', '--username', '--maintenance-db'})[
            :1
        ]
    for sql in _sql_of(command):
        targets += [match.group(1) for match in DROP_DATABASE.finditer(sql)]
    for database in targets:
        if not is_scratch(database, policy):
            yield (
                'drop_live_database',
                (
                    f'drops database {database}, which is not a rehearsal or broken copy; '
                    'the collection renames, it never drops'
                ),
            )
    if command.name != 'pg_restore':
        return
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


def rule_redis(command: Command, policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if command.name != 'redis-cli':
        return
    words = _positionals(
        command.argv,
        {
            '-h',
            '-p',
            '-a',
            '-u',
            '-n',
            '-s',
            '-r',
            '-i',
            '-d',
            '-D',
            '--user',
            '--pass',
            '--askpass',
            '--tls',
            '--sni',
            '--cacert',
        },
    )
    if words and words[0].upper() in ('FLUSHALL', 'FLUSHDB'):
        yield 'redis_flush', f'{words[0].upper()} deletes every key (runbook P7)'


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
    rule_redis,
    rule_kubernetes,
    rule_secrets,
    rule_extra,
]


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
    command: str | list[str], policy: dict[str, Any] | None = None, confirmations: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Verdict on a shell string or an argv: allowed, reason, violations, commands."""
    policy = policy or merge_policy()
    try:
        commands = simple_commands(command) if isinstance(command, str) else argv_commands(command)
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
