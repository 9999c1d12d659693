# SPDX-License-Identifier: GPL-3.0-or-later
"""The run lock through the real `ansible` CLI on localhost: one run at a time,
the same run twice is a no-op, a dead holder on this controller is taken over, a live
one is refused by name, check mode never takes or refuses."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import _run_lock
from tests.support.adhoc import run_adhoc


def lock(lock_dir, *extra, state='present', **variables):
    variables.setdefault('sre_audit_log', str(lock_dir / 'audit.log'))
    args = {'state': state, 'lock_dir': str(lock_dir)}
    return run_adhoc('sre.runbooks.run_lock', args, *extra, '-e', json.dumps(variables))


def start_time(pid: int) -> str:
    with open(f'/proc/{pid}/stat', encoding='utf-8') as handle:
        return handle.read().rsplit(')', 1)[1].split()[19]


def plant(lock_dir, pid: int, controller: str | None = None, started_at: float | None = None) -> dict:
    """A lock file as another run would have left it."""
    controller = controller or socket.gethostname()
    holder = {
        'run_id': f'{controller}:{pid}:{start_time(pid) if controller == socket.gethostname() else "1"}',
        'controller': controller,
        'pid': pid,
        'operator': 'someone',
        'play': 'Restore the database',
        'started_at': started_at or time.time(),
    }
    lock_dir.mkdir(exist_ok=True)
    (lock_dir / 'localhost.lock').write_text(json.dumps(holder))
    return holder


@pytest.fixture
def sleeper():
    """A live process standing for another ansible-playbook run."""
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    yield proc
    proc.kill()
    proc.wait()


def test_take_and_give_back(tmp_path):
    rc, result = lock(tmp_path)
    assert rc == 0 and result['changed']
    holder = json.loads((tmp_path / 'localhost.lock').read_text())
    assert holder['run_id'].startswith(socket.gethostname() + ':') and holder['started_at']
    # The run that took it is over: a later run takes the stale lock over.
    rc, result = lock(tmp_path, state='absent')
    assert rc == 0 and not result['changed'], 'another run must not remove a lock it does not hold'
    assert (tmp_path / 'localhost.lock').exists()


def test_a_live_holder_refuses_at_once_by_name(tmp_path, sleeper):
    plant(tmp_path, sleeper.pid)
    before = (tmp_path / 'localhost.lock').read_text()
    rc, result = lock(tmp_path)
    assert rc != 0
    assert 'localhost is locked by another run: someone on' in result['msg']
    assert "play 'Restore the database'" in result['msg'] and 'sre_lock_break=true' in result['msg']
    assert (tmp_path / 'localhost.lock').read_text() == before


def test_a_holder_on_another_controller_is_refused_until_stale(tmp_path):
    plant(tmp_path, 1, controller='awx-job-41', started_at=time.time() - 600)
    rc, result = lock(tmp_path)
    assert rc != 0 and 'awx-job-41' in result['msg']
    rc, result = lock(tmp_path, sre_lock_stale_after_minutes=5)
    assert rc == 0 and result['changed'] and result['replaced']['controller'] == 'awx-job-41'
    log = [json.loads(line) for line in (tmp_path / 'audit.log').read_text().splitlines()]
    assert log[-1]['event'] == 'lock_taken_over' and 'minutes old' in log[-1]['reason']


def test_a_dead_holder_on_this_controller_is_taken_over(tmp_path):
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    holder = plant(tmp_path, proc.pid)
    proc.wait()
    rc, result = lock(tmp_path)
    assert rc == 0 and result['changed'] and result['replaced']['run_id'] == holder['run_id']


def test_break_lock_takes_over_a_live_holder(tmp_path, sleeper):
    plant(tmp_path, sleeper.pid)
    rc, result = lock(tmp_path, sre_lock_break=True)
    assert rc == 0 and result['changed'] and result['replaced']['pid'] == sleeper.pid


def test_check_mode_neither_takes_nor_refuses(tmp_path, sleeper):
    rc, result = lock(tmp_path, '--check')
    assert rc == 0 and result['changed'] and not (tmp_path / 'localhost.lock').exists()
    plant(tmp_path, sleeper.pid)
    rc, result = lock(tmp_path, '--check')
    assert rc == 0 and result['held_by_other']


def test_the_same_run_takes_it_twice_without_change(tmp_path):
    holder = {'run_id': 'c:1:2'}
    path = _run_lock.lock_path(str(tmp_path), 'api')
    assert _run_lock.acquire(path, holder) == (True, None)
    assert _run_lock.acquire(path, holder) == (False, None)
    with pytest.raises(_run_lock.LockHeld) as held:
        _run_lock.acquire(path, {'run_id': 'c:9:9'})
    assert held.value.holder['run_id'] == 'c:1:2'
    assert _run_lock.release(path, 'c:9:9')[0] is False and os.path.exists(path)
    assert _run_lock.release(path, 'c:1:2')[0] is True and not os.path.exists(path)


def test_break_lock_given_as_the_string_false_breaks_nothing(tmp_path, sleeper):
    plant(tmp_path, sleeper.pid)
    rc, result = lock(tmp_path, sre_lock_break='false')
    assert rc != 0 and 'locked by another run' in result['msg']


def test_a_live_holder_is_not_stale_when_its_start_time_cannot_be_read(tmp_path, sleeper):
    """A controller without /proc records no start time: the pid alone decides."""
    holder = plant(tmp_path, sleeper.pid)
    holder['run_id'] = f"{holder['controller']}:{sleeper.pid}:None"
    (tmp_path / 'localhost.lock').write_text(json.dumps(holder))
    rc, result = lock(tmp_path)
    assert rc != 0 and 'locked by another run' in result['msg']


RACER = """
import json
import sys
import time
from ansible_collections.sre.runbooks.plugins.module_utils import _run_lock


dump = json.dump


def slow_dump(*args, **kwargs):
    time.sleep(0.05)  # a slow disk: widen the window between creating the lock and filling it
    dump(*args, **kwargs)


json.dump = slow_dump
path, run_id = sys.argv[1:]
try:
    print('took' if _run_lock.acquire(path, {'run_id': run_id, 'play': 'race'})[0] else 'again')
except _run_lock.LockHeld as held:
    print('held', held.holder['run_id'], held.holder.get('play'))
"""


def test_of_racing_runs_the_refused_one_always_reads_the_full_holder(tmp_path):
    """CI once saw the loser of a race read an empty lock file ('play ?'): the lock
    must appear with its holder already in it."""
    path = _run_lock.lock_path(str(tmp_path), 'api')
    for attempt in range(10):
        racers = [
            subprocess.Popen(
                [sys.executable, '-c', RACER, path, f'c:{attempt}:{name}'],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, 'PYTHONPATH': os.pathsep.join(sys.path)},
            )
            for name in ('a', 'b', 'c')
        ]
        outputs = sorted(racer.communicate(timeout=60)[0].split() for racer in racers)
        winners = [out for out in outputs if out == ['took']]
        assert len(winners) == 1, outputs
        winner_id = _run_lock.read_holder(path)['run_id']
        assert all(out == ['held', winner_id, 'race'] for out in outputs if out != ['took']), outputs
        os.unlink(path)
    assert os.listdir(tmp_path) == [], 'no private holder file is left behind'
