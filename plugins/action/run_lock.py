# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of sre.runbooks.run_lock: says who this run is, decides on the
controller whether a lock held by another run is stale, and never blocks check mode."""

from __future__ import annotations

import getpass
import os
import socket
import time
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.sre.runbooks.plugins.module_utils._audit import append_audit, audit_record, audit_stats

display = Display()

ARGUMENT_SPEC = dict(
    name=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
    lock_dir=dict(type='path'),
    stale_after_minutes=dict(type='int'),
    break_lock=dict(type='bool'),
    # Where the lock is kept: a file on the target host, or (a cluster as the target, the
    # play on a throwaway controller) a ConfigMap in the cluster (module k8s_run_lock).
    store=dict(type='str', choices=['host', 'kubernetes'], default='host'),
    kubernetes=dict(
        type='dict',
        options=dict(namespace=dict(type='str', required=True), kubeconfig=dict(type='path'), context=dict(type='str')),
    ),
)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as handle:
            return handle.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_run() -> dict[str, Any]:
    """Who this run is: the ansible-playbook process, parent of the task's worker."""
    pid = os.getppid()
    controller = socket.gethostname()
    return {
        'run_id': f'{controller}:{pid}:{_start_time(pid)}',
        'controller': controller,
        'pid': pid,
        'operator': getpass.getuser(),
    }


def stale_because(holder: dict[str, Any], limit_minutes: int) -> str | None:
    """Why holder's lock is stale, or None while its run may still be working."""
    age = (time.time() - float(holder.get('started_at') or 0)) / 60
    if age > limit_minutes:
        return f'it is {age:.0f} minutes old, over the limit of {limit_minutes}'
    if holder.get('controller') == socket.gethostname() and holder.get('pid'):
        _controller, pid, started = str(holder.get('run_id')).rsplit(':', 2)
        if not _alive(int(pid), started):
            return f'its run (process {pid} on this controller) has ended'
    return None


def _alive(pid: int, started: str) -> bool:
    """Whether process pid, started at `started`, still runs; True when it cannot be told."""
    now = _start_time(pid)
    if now is not None and started != 'None':
        return now == started  # same pid, other start time: the pid was reused
    try:
        os.kill(pid, 0)  # no /proc (macOS): the pid alone, and a live one is never stale
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def describe(holder: dict[str, Any]) -> str:
    started = float(holder.get('started_at') or 0)
    when = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(started))
    minutes = (time.time() - started) / 60
    return (
        f"{holder.get('operator', '?')} on {holder.get('controller', '?')} (process {holder.get('pid', '?')}), "
        f"play '{holder.get('play', '?')}', since {when} ({minutes:.0f} min ago)"
    )


class ActionModule(ActionBase):
    """Runs the run_lock module on the target with this run as holder."""

    TRANSFERS_FILES = False

    @staticmethod
    def _store(
        args: dict[str, Any], name: str, holder: dict[str, Any], task_vars: dict[str, Any]
    ) -> tuple[str, dict[str, Any], str]:
        """The module that keeps the lock, its arguments, and where the lock is, in words."""
        common = {'name': name, 'state': args['state'], 'holder': holder}
        if args['store'] == 'kubernetes':
            if not args['kubernetes']:
                raise AnsibleActionFail('run_lock: store=kubernetes needs kubernetes: {namespace, kubeconfig, context}')
            cluster = {key: value for key, value in args['kubernetes'].items() if value is not None}
            return 'sre.runbooks.k8s_run_lock', {**common, **cluster}, 'the lock is {path} in the cluster'
        lock_dir = args['lock_dir'] or task_vars.get('sre_lock_dir') or '/var/lib/sre-runbooks/locks'
        return 'sre.runbooks.run_lock', {**common, 'lock_dir': lock_dir}, 'the lock file is {path} on the host'

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        name = args['name'] or task_vars.get('inventory_hostname', 'localhost')
        limit = args['stale_after_minutes'] or int(task_vars.get('sre_lock_stale_after_minutes', 360))
        # -e sre_lock_break=false or an AWX text field gives the string 'false'.
        break_lock = boolean(
            args['break_lock'] if args['break_lock'] is not None else task_vars.get('sre_lock_break', False),
            strict=False,
        )
        holder = {**this_run(), 'play': task_vars.get('ansible_play_name', '')}
        module, module_args, where = self._store(args, name, holder, task_vars)
        answer = self._execute_module(module, module_args=module_args, task_vars=task_vars)
        if self._task.check_mode:
            if answer.get('held_by_other'):
                holder = describe(answer['holder'])
                display.warning(f'{name}: a run of {holder} holds the lock; the real run would be refused')
            return {**result, **answer}
        if answer.get('locked'):
            current = answer['holder']
            why = 'the operator broke it (sre_lock_break)' if break_lock else stale_because(current, limit)
            if not why:
                raise AnsibleActionFail(
                    f"{name} is locked by another run: {describe(current)}. Nothing was changed. "
                    f"Wait for that run to end; if it is dead, run again with -e sre_lock_break=true "
                    f"({where.format(path=answer['path'])}).",
                    result={key: value for key, value in answer.items() if key != 'msg'},
                )
            display.warning(f'{name}: taking over the lock of {describe(current)}: {why}')
            record = audit_record('lock_taken_over', host=name, holder=current, reason=why, by=holder)
            append_audit(task_vars.get('sre_audit_log'), record)
            result['ansible_stats'] = audit_stats(record)
            answer = self._execute_module(
                module,
                module_args={**module_args, 'takeover': current['run_id']},
                task_vars=task_vars,
            )
        if answer.get('failed'):
            raise AnsibleActionFail(f"run_lock on {name}: {answer.get('msg')}", result=answer)
        return {**result, **answer}
