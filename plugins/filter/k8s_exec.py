# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guard of commands run in a pod by the PlayCode roles (runbook P2, P4-P8, P11,
P12): kubernetes.core.k8s_exec runs its command even in check mode and always reports a
change, so a role may run it with ``check_mode: false`` and ``changed_when: false`` only
for a command this filter passes as read-only. Anything else raises, and the run stops
before the command reaches the pod.

Read-only means (an allowlist: anything not named here is refused): a health request
to the pod's own loopback that writes nothing but stdout (``wget -qO-``, ``curl -sS``
with a timeout, no other option), a listing (``df``, ``cat`` under /proc or /sys, ``ps``,
``ls``, ``du``; ``date`` and ``hostname`` without arguments), a
``redis-cli`` read (PING, INFO, DBSIZE, CONFIG GET, SLOWLOG GET, MEMORY STATS/USAGE,
CLIENT LIST, LATENCY LATEST), or ``mongosh``/``mongo`` ``--eval`` of JavaScript that
calls no method known to write (insert, update, delete, drop, create, rename,
setProfilingLevel, replica-set and sharding changes, a method called by its name in
brackets, ...), loads no script, opens no other connection, and runs no
``adminCommand``/``runCommand`` but the read-only ones. A password or a URI with
credentials is refused, and so is anything the command policy (``safe_command``'s)
refuses."""

from __future__ import annotations

import re
import shlex
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import evaluate

LISTINGS = {'df', 'ps', 'ls', 'du', 'uptime', 'free', 'id', 'nproc'}
# Commands that change something when given an argument (date -s, hostname NAME).
BARE = {'date', 'hostname'}
# HTTP clients: the options that only read, and those of them that take a value.
WGET_OPTIONS = {'-q', '--quiet', '-O-', '-qO-', '-S', '--server-response', '-T', '--timeout'}
CURL_OPTIONS = {'-s', '-S', '-f', '-sS', '-Ss', '-fsS', '-sSf', '-sf', '-fs', '--silent', '--show-error', '--fail'}
CURL_OPTIONS |= {'-i', '--include', '-m', '--max-time', '--connect-timeout'}
HTTP_VALUES = {'-T', '--timeout', '-m', '--max-time', '--connect-timeout'}
READ_DIRS = ('/proc/', '/sys/')
REDIS_READS = {
    ('PING',),
    ('INFO',),
    ('DBSIZE',),
    ('CONFIG', 'GET'),
    ('SLOWLOG', 'GET'),
    ('SLOWLOG', 'LEN'),
    ('MEMORY', 'STATS'),
    ('MEMORY', 'USAGE'),
    ('MEMORY', 'DOCTOR'),
    ('CLIENT', 'LIST'),
    ('CLIENT', 'INFO'),
    ('LATENCY', 'LATEST'),
    ('LATENCY', 'DOCTOR'),
    ('ROLE',),
    ('TIME',),
    ('LASTSAVE',),
}
REDIS_OPTIONS_WITH_VALUE = {'-h', '-p', '-n', '-s', '--user', '--sni', '--cacert', '--cert', '--key'}
MONGO_WRITES = re.compile(
    r'\.\s*(?:insert\w*|update\w*|delete\w*|remove|drop\w*|create\w*|rename\w*|replace\w*|findAndModify'
    r'|findOneAnd\w*|bulkWrite|save|setProfilingLevel|shutdownServer|fsyncLock|fsyncUnlock|grant\w*|revoke\w*'
    r'|compact|reIndex|hideIndex|unhideIndex|killOp|setLogLevel|adminCommand|runCommand|aggregate|mapReduce)\s*\(',
    re.IGNORECASE,
)
# Replica-set and sharding helpers that change something (rs.stepDown, rs.reconfig, sh.addShard);
# a method called by its name in brackets (db.users['deleteMany']({})); scripts and other connections.
MONGO_ADMIN_WRITES = re.compile(
    r'\brs\s*\.\s*(?!status\b|conf\b|config\b|printReplicationInfo\b|printSecondaryReplicationInfo\b|hello\b'
    r'|isMaster\b|help\b)\w+\s*\(|\bsh\s*\.\s*(?!status\b|help\b)\w+\s*\(|\]\s*\(|\bload\s*\(|\bconnect\s*\('
    r'|\bMongo\s*\(|\beval\s*\(',
)
MONGO_SECRET_OPTIONS = {'-p', '--password', '--apiKey', '--awsSecretAccessKey', '--awsSessionToken'}
# adminCommand/runCommand documents whose first key only reads.
MONGO_READ_COMMANDS = {
    'ping',
    'serverStatus',
    'replSetGetStatus',
    'listDatabases',
    'listCollections',
    'listIndexes',
    'dbStats',
    'collStats',
    'currentOp',
    'hostInfo',
    'buildInfo',
    'getCmdLineOpts',
    'getParameter',
    'isMaster',
    'hello',
    'profile',
}
MONGO_COMMAND_CALL = re.compile(r'\.\s*(?:adminCommand|runCommand)\s*\(\s*\{\s*[\'"]?(\w+)')
# $out and $merge write from an aggregation; other stages only read.
MONGO_AGGREGATE = re.compile(r'\.\s*aggregate\s*\(')
MONGO_AGGREGATE_WRITES = re.compile(r'[\'"]?\$(?:out|merge)\b')


def _refuse(argv: list[str], why: str) -> AnsibleFilterError:
    return AnsibleFilterError(
        f'refused to run in the pod as read-only: {shlex.join(argv)}: {why}. '
        'Only reads run in check mode; a change goes through its own guarded step.'
    )


def _redis_read(argv: list[str]) -> str:
    words, index = [], 1
    while index < len(argv):
        word = argv[index]
        if word in REDIS_OPTIONS_WITH_VALUE:
            index += 2
            continue
        if word in ('-a', '--pass', '--askpass', '-u'):
            return 'a password or URI on the command line'
        if word.startswith('-'):
            index += 1
            continue
        words = argv[index:]
        break
    key = tuple(word.upper() for word in words[:2])
    if key[:1] in REDIS_READS or key in REDIS_READS:
        return ''
    return f'redis-cli {" ".join(words[:2]) or "(interactive)"} is not a known read'


def _mongo_read(argv: list[str]) -> str:
    if any(word.split('=', 1)[0] in MONGO_SECRET_OPTIONS for word in argv[1:]):
        return 'a password on the command line (the pod has its credentials in its environment)'
    scripts = [argv[index + 1] for index, word in enumerate(argv[:-1]) if word == '--eval']
    scripts += [word.split('=', 1)[1] for word in argv if word.startswith('--eval=')]
    if not scripts:
        return f'{argv[0]} without --eval (a script file or an interactive shell) cannot be read'
    for script in scripts:
        for name in MONGO_COMMAND_CALL.findall(script):
            if name not in MONGO_READ_COMMANDS:
                return f'the database command {name!r} is not a known read'
        remaining = MONGO_COMMAND_CALL.sub('', script)
        if MONGO_AGGREGATE.search(remaining):
            if MONGO_AGGREGATE_WRITES.search(remaining):
                return 'an aggregation with $out or $merge writes'
            remaining = MONGO_AGGREGATE.sub('', remaining)
        found = MONGO_WRITES.search(remaining) or MONGO_ADMIN_WRITES.search(remaining)
        if found:
            return f'the script calls {found.group(0).strip(". (")}(), which writes or cannot be read'
    return ''


def _http_read(argv: list[str]) -> str:
    allowed = WGET_OPTIONS if argv[0].endswith('wget') else CURL_OPTIONS
    urls, index = [], 1
    while index < len(argv):
        word = argv[index]
        name = word.split('=', 1)[0]
        if not word.startswith('-'):
            urls.append(word)
        elif name not in allowed:
            return f'the option {word} (only a GET printed to stdout is read-only here)'
        elif name in HTTP_VALUES and '=' not in word:
            index += 1
        index += 1
    if len(urls) != 1 or not re.match(r'https?://(localhost|127\.0\.0\.1)(:\d+)?(/|$)', urls[0]):
        return 'only one GET to the pod itself (http://localhost...) is read-only here'
    return ''


def _listing(argv: list[str]) -> str:
    name = argv[0].rsplit('/', 1)[-1]
    if name in LISTINGS:
        return ''
    if name in BARE:
        bare = len(argv) == 1 or (name == 'date' and len(argv) == 2 and argv[1].startswith('+'))
        return '' if bare else f'{name} with arguments can change the pod'
    files = [word for word in argv[1:] if not word.startswith('-')]
    return '' if files and all(word.startswith(READ_DIRS) for word in files) else 'only /proc and /sys are read'


def _why_not_read_only(argv: list[str]) -> str:
    name = argv[0].rsplit('/', 1)[-1]
    readers = {'wget': _http_read, 'curl': _http_read, 'redis-cli': _redis_read, 'mongosh': _mongo_read}
    readers['mongo'] = _mongo_read
    if name in readers:
        return readers[name](argv)
    if name in LISTINGS | BARE | {'cat', 'head', 'tail'}:
        return _listing(argv)
    return f'{name} is not a known read'


def k8s_readonly_command(argv: Any) -> str:
    """The command as the string kubernetes.core.k8s_exec takes (each word quoted), when it
    only reads; raises otherwise."""
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)) or not argv:
        raise AnsibleFilterError(f'expected the command as a non-empty list of words, got {argv!r}')
    words = [str(word) for word in argv]
    if any(re.search(r'://[^/\s@]*@', word) for word in words):
        raise _refuse(words, 'a URI with credentials')
    why = _why_not_read_only(words)
    verdict = evaluate(words) if not why else {'allowed': True}
    if why or not verdict['allowed']:
        raise _refuse(words, why or verdict['reason'])
    return shlex.join(words)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {'k8s_readonly_command': k8s_readonly_command}
