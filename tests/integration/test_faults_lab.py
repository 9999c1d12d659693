# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults on the lab, bounded in time: the SSH connection cut while the restore swaps
the database in. The swap is held at its first change (ALTER DATABASE ... ALLOW_CONNECTIONS
false waits on a row lock that this test holds), every SSH session of the api host is
killed, then the lock is let go. The run fails for the lost connection; the module, cut
off from its controller, finishes the swap on its own; the live database answers,
nothing is lost (what was live is kept as <db>_broken_<ts>), and a re-run reports the
restore done, then changes nothing."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time

import ansible_runner

from .conftest import ROOT

SWAP_RUNNING = (
    'SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE \'%ALLOW_CONNECTIONS false%\''
)
WAITING_SWAP = SWAP_RUNNING + " AND wait_event_type = 'Lock'"


def psql(lab, sql: str, database: str = 'postgres') -> str:
    return lab.exec('api', 'psql', '-XAtc', sql, database, user='postgres').strip()


def until(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def hold_the_live_row() -> subprocess.Popen:
    """A session that updates o4o_platform's pg_database row and keeps it uncommitted."""
    session = subprocess.Popen(
        ['docker', 'exec', '-i', '-u', 'postgres', 'sre-lab-api', 'psql', '-Xq', 'postgres'],
        stdin=subprocess.PIPE,
        text=True,
    )
    session.stdin.write('BEGIN; ALTER DATABASE o4o_platform CONNECTION LIMIT -1;\n')
    session.stdin.flush()
    return session


def restore_in_background(tmp: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        outcome['runner'] = ansible_runner.run(
            private_data_dir=tmp,
            project_dir=str(ROOT),
            playbook=str(ROOT / 'playbooks/restore_database.yml'),
            inventory=str(ROOT / 'inventories/lab'),
            quiet=True,
            envvars={'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'), 'PATH': os.environ['PATH']},
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_ssh_cut_mid_swap_loses_nothing_and_a_rerun_converges(lab, tmp_path):
    assert lab.playbook('backup.yml', extravars={'pg_backup_force': True}).rc == 0
    backed_up = psql(lab, 'SELECT count(*) FROM users', 'o4o_platform')
    psql(lab, "INSERT INTO users (email, name, password_hash) VALUES ('fault@x', 'f', 'x')", 'o4o_platform')
    blocker = hold_the_live_row()
    try:
        thread, outcome = restore_in_background(tempfile.mkdtemp(dir=tmp_path))
        assert until(lambda: psql(lab, WAITING_SWAP) == '1', 180), 'the swap never reached ALLOW_CONNECTIONS false'
        subprocess.run(['docker', 'exec', 'sre-lab-api', 'pkill', '-f', '^sshd: ubuntu'], check=True)
        blocker.communicate('ROLLBACK;\n', timeout=30)
        thread.join(120)
        assert not thread.is_alive(), 'the run did not end after its connection was cut'
        runner = outcome['runner']
        assert runner.rc != 0, 'the run did not notice that its connection was cut'
        assert runner.stats.get('dark', {}).get('api') or runner.stats.get('failures', {}).get('api')

        # Cut off from its controller (no terminal, so nothing signals it), the module
        # finishes the swap on its own and only fails to report: the live database
        # answers, and the row added after the backup is in the set-aside copy.
        assert until(lambda: psql(lab, SWAP_RUNNING) == '0', 60)
        assert psql(lab, "SELECT datallowconn FROM pg_database WHERE datname = 'o4o_platform'") == 't'
        broken = psql(lab, "SELECT datname FROM pg_database WHERE datname LIKE 'o4o_platform_broken_%' ORDER BY 1")
        homes = [name for name in ['o4o_platform', *broken.split()] if name]
        assert any(psql(lab, "SELECT count(*) FROM users WHERE email = 'fault@x'", db) == '1' for db in homes)

        again = lab.playbook('restore_database.yml')
        assert again.rc == 0, 'a re-run after the cut does not converge'
        assert psql(lab, "SELECT datallowconn FROM pg_database WHERE datname = 'o4o_platform'") == 't'
        assert psql(lab, 'SELECT count(*) FROM users', 'o4o_platform') == backed_up
        homes = psql(lab, "SELECT datname FROM pg_database WHERE datname LIKE 'o4o_platform_broken_%'").split()
        assert any(psql(lab, "SELECT count(*) FROM users WHERE email = 'fault@x'", db) == '1' for db in homes)
        third = lab.playbook('restore_database.yml')
        assert third.rc == 0 and third.stats.get('changed', {}).get('api', 0) == 0
    finally:
        if blocker.poll() is None:
            blocker.kill()
        psql(lab, "DELETE FROM users WHERE email = 'fault@x'", 'o4o_platform')
        psql(lab, 'DROP DATABASE IF EXISTS o4o_platform_restore')
