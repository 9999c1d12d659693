# SPDX-License-Identifier: GPL-3.0-or-later
"""No secret leaves where it belongs (issue #18): a backup and a compose deploy run on
the lab with -vvv and --diff (`watch.run_watched`), and no secret value appears in the
job output, its artifacts or any command line. Afterwards no staged or unpacked copy
of the app's secrets is left under /backup on the api host. The drill's recovery is
watched the same way where it already runs in full: the in-place full restore of
test_disaster_recovery_lab (one recovery instead of two)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from .watch import ADMIN_TOKEN, DB_PASSWORD, run_watched

FRAGRANCE = 'fragrance-ai'


@contextmanager
def fragrance_env_secret(lab) -> Iterator[str]:
    """A secret line in the Fragrance stack's .env for the duration of the test."""
    secret = f'sre-probe-{secrets.token_hex(12)}'
    script = f'cd ~/fragrance-ai && cp -p .env .env.sre-secrets-test && echo "API_SECRET={secret}" >> .env'
    lab.exec('compose', 'sh', '-c', script, user='ubuntu')
    try:
        yield secret
    finally:
        lab.exec('compose', 'sh', '-c', 'cd ~/fragrance-ai && mv .env.sre-secrets-test .env', user='ubuntu')


def test_a_backup_leaves_no_staged_copy_of_the_app_secrets(lab):
    run_watched(lab, 'backup.yml', [DB_PASSWORD, ADMIN_TOKEN], extravars={'pg_backup_force': True})
    left = lab.exec('api', 'sh', '-c', "find /backup -name .app-files -o -name '.unpacked-*'").strip()
    assert not left, f'staged copies of the app secrets left on the api host: {left}'


def test_a_compose_deploy_with_diff_does_not_print_the_env_file(lab):
    with fragrance_env_secret(lab) as secret:
        for version in ('v0.1.0', 'v0.2.0'):
            run_watched(lab, 'redeploy.yml', [secret], extravars={'version': version}, limit=f'-l {FRAGRANCE}')
        env = lab.exec('compose', 'sh', '-c', 'stat -c %a ~/fragrance-ai/.env; cat ~/fragrance-ai/.env', user='ubuntu')
    assert env.splitlines()[0] == '600' and 'VERSION=v0.2.0' in env and secret in env
