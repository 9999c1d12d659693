# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pieces of the PlayCode MongoDB restore (runbook P11, role sre.runbooks.mongo_restore)
that are code, not wiring: the commands run in the pod, the command policy applied to the
ones that change something, and the reading of the database's state against the archive.

Credentials never appear in a command: every script reads them in the pod from the
environment the StatefulSet gives the container from its Secret (``$MONGO_USER``,
``$MONGO_PASSWORD`` by default); mongorestore gets the password through ``--config`` on
its standard input (a here-document), mongosh through ``process.env``."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import evaluate, merge_policy

MONGOSH_URI = 'mongodb://127.0.0.1:27017/admin'


def mongo_restore_command(argv: Any, policy: Any = None, confirmations: Any = ()) -> str:
    """The command as the string kubernetes.core.k8s_exec takes, when the command policy
    (``_command_policy.evaluate``, extended by ``policy``: the inventory's
    ``sre_safety_policy``) allows it; raises with the policy's reason otherwise."""
    if isinstance(argv, str) or not isinstance(argv, (list, tuple)) or not argv:
        raise AnsibleFilterError(f'expected the command as a non-empty list of words, got {argv!r}')
    words = [str(word) for word in argv]
    try:
        merged = merge_policy(policy or {})
    except ValueError as err:
        raise AnsibleFilterError(f'sre_safety_policy: {err}') from err
    verdict = evaluate(words, merged, list(confirmations or ()))
    if not verdict['allowed']:
        raise AnsibleFilterError(
            f"the command policy refuses to run in the pod: {verdict['reason']}. Nothing was run by this step."
        )
    return shlex.join(words)


def _js(value: Any) -> str:
    return json.dumps(value)


def _login(params: dict[str, Any]) -> str:
    return (
        f"db.getSiblingDB({_js(params.get('auth_database', 'admin'))})"
        f".auth(process.env[{_js(params.get('user_env', 'MONGO_USER'))}], "
        f"process.env[{_js(params.get('password_env', 'MONGO_PASSWORD'))}]);"
    )


def _print_state(params: dict[str, Any]) -> str:
    """JavaScript that prints the state as one JSON line: live and scratch counts per
    collection (scratch null when that database does not exist), the mark, the databases."""
    return ' '.join(
        [
            'const counts = (name) => { const d = db.getSiblingDB(name); const out = {};',
            "d.getCollectionNames().filter((c) => !c.startsWith('system.'))",
            '.forEach((c) => { out[c] = d.getCollection(c).countDocuments({}); }); return out; };',
            'const names = db.adminCommand({listDatabases: 1, nameOnly: true}).databases.map((each) => each.name);',
            f"const mark = db.getSiblingDB({_js(params['marker_database'])}).getCollection('restores')",
            f".findOne({{_id: {_js(params['database'])}}});",
            f"print(JSON.stringify({{live: counts({_js(params['database'])}),",
            f"scratch: names.includes({_js(params['scratch'])}) ? counts({_js(params['scratch'])}) : null,",
            'mark: mark, databases: names}));',
        ]
    )


def _state_script(params: dict[str, Any]) -> str:
    return f'{_login(params)} {_print_state(params)}'


def _drop_scratch_script(params: dict[str, Any]) -> str:
    return f"{_login(params)} db.getSiblingDB({_js(params['scratch'])}).dropDatabase();"


def _swap_script(params: dict[str, Any]) -> str:
    database, scratch, broken = _js(params['database']), _js(params['scratch']), _js(params['broken'])
    mark = {'_id': params['database'], **params['mark']}
    return ' '.join(
        [
            _login(params),
            'const move = (from, to) => { const d = db.getSiblingDB(from);',
            "d.getCollectionNames().filter((c) => !c.startsWith('system.')).forEach((c) => {",
            "const done = db.adminCommand({renameCollection: from + '.' + c, to: to + '.' + c});",
            "if (!done.ok) { throw new Error('renameCollection ' + from + '.' + c + ': ' + JSON.stringify(done)); }",
            '}); };',
            f'move({database}, {broken}); move({scratch}, {database});',
            f"db.getSiblingDB({_js(params['marker_database'])}).getCollection('restores')",
            f".replaceOne({{_id: {database}}}, {_js(mark)}, {{upsert: true}});",
            _print_state(params),
        ]
    )


def _restore_script(params: dict[str, Any]) -> str:
    database, scratch = params['database'], params['scratch']
    password_env = params.get('password_env', 'MONGO_PASSWORD')
    words = [
        'mongorestore',
        '--config=/dev/stdin',
        '--host=127.0.0.1',
        '--port=27017',
        f'--username="${params.get("user_env", "MONGO_USER")}"',
        f'--authenticationDatabase={shlex.quote(params.get("auth_database", "admin"))}',
        f'--archive={shlex.quote(params["archive"])}',
        '--gzip',
        f'--nsInclude={shlex.quote(database + ".*")}',
        f'--nsFrom={shlex.quote(database + ".*")}',
        f'--nsTo={shlex.quote(scratch + ".*")}',
        '--stopOnError',
    ]
    # The password reaches mongorestore as YAML on its standard input, never as an argument;
    # the archive is removed from the pod whatever mongorestore's outcome.
    return (
        f'password=$(printf %s "${password_env}" | sed "s/\'/\'\'/g") || exit 1\n'
        + ' '.join(words)
        + " <<SRE_CONFIG\npassword: '$password'\nSRE_CONFIG\n"
        + f'rc=$?\nrm -f -- {shlex.quote(params["archive"])}\nexit $rc'
    )


SCRIPTS = {
    'state': _state_script,
    'drop_scratch': _drop_scratch_script,
    'swap': _swap_script,
    'restore': _restore_script,
}


def mongo_restore_command_words(kind: str, **params: Any) -> list[str]:
    """The command (a list of words) of one step of the restore, run in the MongoDB pod:
    state (read), drop_scratch, restore (mongorestore into the scratch database), swap."""
    if kind not in SCRIPTS:
        raise AnsibleFilterError(f'unknown restore step {kind!r}; known: {", ".join(SCRIPTS)}')
    try:
        script = SCRIPTS[kind](params)
    except KeyError as err:
        raise AnsibleFilterError(f'restore step {kind} needs the parameter {err}') from err
    if kind == 'restore':
        return ['sh', '-c', script]
    return ['mongosh', '--quiet', MONGOSH_URI, '--eval', script]


def _expected(tables: Any, database: str) -> dict[str, int]:
    prefix = database + '.'
    if not isinstance(tables, dict):
        return {}
    return {name[len(prefix) :]: int(count) for name, count in tables.items() if name.startswith(prefix)}


def _differences(actual: dict[str, int] | None, expected: dict[str, int], at_least: bool = False) -> list[str]:
    actual = actual or {}
    found = []
    for name, count in sorted(expected.items()):
        if name not in actual:
            found.append(f'{name}: missing (the archive has {count})')
        elif actual[name] < count or (actual[name] != count and not at_least):
            found.append(f'{name}: {actual[name]} documents, the archive {count}')
    if not at_least:
        found += [
            f'{name}: not in the archive ({actual[name]} documents)' for name in sorted(set(actual) - set(expected))
        ]
    return found


def _parse_state(state: Any) -> dict[str, Any]:
    if isinstance(state, dict):
        return state
    lines = [line for line in str(state or '').splitlines() if line.strip().startswith('{')]
    try:
        parsed = json.loads(lines[-1]) if lines else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise AnsibleFilterError(f'the state of the database could not be read from mongosh: {str(state)[:300]!r}')
    return parsed


def mongo_restore_plan(state: Any, tables: Any, database: str, sha256: str) -> dict[str, Any]:
    """The database's state (the ``state`` step's output) against the archive (its
    manifest's ``tables``, ``<db>.<collection>: count``, and its sha256): whether the live
    database already is the restore of this archive, decided from the data and the mark."""
    expected = _expected(tables, database)
    if not expected:
        raise AnsibleFilterError(
            f'the archive manifest counts no collection of database {database} ("tables": '
            f'{{"{database}.<collection>": <documents>}}): its restore could not be verified, so it is refused'
        )
    parsed = _parse_state(state)
    mark = parsed.get('mark') or {}
    live_short = _differences(parsed.get('live'), expected, at_least=True)
    marked = mark.get('sha256') == sha256
    if marked and not live_short:
        reason = f'{database} already is the restore of this archive (marked, every collection counted)'
    elif marked:
        reason = f'{database} carries the mark of this archive but {"; ".join(live_short)}: restoring again'
    else:
        reason = f'{database} is not the restore of this archive (mark: {mark.get("archive") or "none"})'
    return {
        'expected': expected,
        'live': parsed.get('live') or {},
        'scratch': parsed.get('scratch'),
        'databases': parsed.get('databases') or [],
        'mark': mark,
        'restored': marked and not live_short,
        'reason': reason,
        'scratch_mismatches': _differences(parsed.get('scratch'), expected),
        'live_mismatches': _differences(parsed.get('live'), expected),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'mongo_restore_command': mongo_restore_command,
            'mongo_restore_command_words': mongo_restore_command_words,
            'mongo_restore_plan': mongo_restore_plan,
        }
