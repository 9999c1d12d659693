# SPDX-License-Identifier: GPL-3.0-or-later
"""Job templates run the way AWX runs them: ansible-runner with the execution environment
as its container (process isolation), the project at private_data_dir/project, the
inventory at private_data_dir/inventory, the template's extra vars and survey answers,
and what its credentials inject (the Machine credential's key through ssh-agent, custom
credential types' env and extra vars). Against the lab only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.integration.conftest import bring_the_lab_up

from .playcode import INVENTORY as PLAYCODE_INVENTORY
from .playcode import PlaycodeLab, playcode_lab

ROOT = Path(__file__).resolve().parents[2]
EE_IMAGE = os.environ.get('SRE_EE_IMAGE', 'sre-runbooks/ee:latest')
AWX = ROOT / 'awx/configs'
# A fixed address on the lab network for every job container, as an AWX node has one
# egress address: the ransomware isolation keeps SSH from the address a job comes from.
# The check jobs run two at a time (`make jobs`): each pytest-xdist worker is an AWX node
# of its own, with the next address.
JOB_ADDRESS = '172.30.53.100'
WORKER = os.environ.get('PYTEST_XDIST_WORKER', '')
NODE_ADDRESS = f'172.30.53.{100 + int(WORKER[2:] or 0)}' if WORKER.startswith('gw') else JOB_ADDRESS
LAB_KEY = ROOT / '.cache/lab/ssh/id_ed25519'

# The lab's values of the custom credential types' fields (baked into the lab images,
# not secrets); webhooks point nowhere.
LAB_CREDENTIAL_INPUTS = {
    'o4o_admin_token': 'o4o-lab-admin-token',
    'o4o_db_password': 'o4o-lab-password',
    'sre_webhook_url': 'http://127.0.0.1:9/team',
    'sre_escalation_webhook_url': 'http://127.0.0.1:9/escalation',
    'username': 'lab-access-key',
    'password': 'lab-secret-key',
}
# AWX's built-in credential types inject these (awx/main/models/credential/injectors.py).
BUILTIN_ENV = {'Amazon Web Services': {'AWS_ACCESS_KEY_ID': 'username', 'AWS_SECRET_ACCESS_KEY': 'password'}}
INJECTOR_FIELD = re.compile(r'\{\s*\{\s*(tower\.filename\.)?(\w+)\s*\}\}')
# Where AWX writes a credential's file injector in the job's private data dir (/runner in the
# container), as tower.filename.<name> names it.
CREDENTIAL_FILES = 'credentials'
# The lab inventory a production inventory's templates run against here.
LAB_INVENTORIES = {PLAYCODE_INVENTORY: 'inventories/playcode_lab'}


def load_config(name: str, key: str) -> list[dict]:
    path = AWX / f'{name}.yml'
    if not path.exists():
        return []
    return yaml.safe_load(path.read_text())[key] or []


@dataclass
class Job:
    """One job's launch: what AWX hands ansible-runner."""

    playbook: str
    extravars: dict = field(default_factory=dict)
    envvars: dict = field(default_factory=dict)
    ssh_key: str | None = None
    cmdline: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # credential files: name -> content
    inventory: str = 'inventories/lab'


def credential_injection(names: list[str], inputs: dict[str, str] | None = None) -> Job:
    """The env, extra vars, files, key and command-line options the named credentials inject
    (`inputs`: field values of this lab beside LAB_CREDENTIAL_INPUTS)."""
    values = {**LAB_CREDENTIAL_INPUTS, **(inputs or {})}
    credentials = {c['name']: c for c in load_config('controller_credentials', 'controller_credentials')}
    types = {t['name']: t for t in load_config('controller_credential_types', 'controller_credential_types')}
    job = Job(playbook='')
    for name in names:
        credential = credentials[name]
        kind, inputs = credential['credential_type'], credential.get('inputs', {})
        if kind == 'Machine':
            job.ssh_key = LAB_KEY.read_text()
            job.cmdline += ['-u', inputs.get('username', 'ubuntu')]
            job.cmdline += ['--become-method', inputs['become_method']] if 'become_method' in inputs else []
            continue
        if kind in BUILTIN_ENV:
            job.envvars |= {env: values[source] for env, source in BUILTIN_ENV[kind].items()}
            continue
        injectors = types[kind].get('injectors', {})
        files = injectors.get('file', {}).items()
        job.files |= {file.removeprefix('template.'): render(text, values) for file, text in files}
        job.envvars |= {env: render(value, values) for env, value in injectors.get('env', {}).items()}
        job.extravars |= {var: render(value, values) for var, value in injectors.get('extra_vars', {}).items()}
    return job


def render(template: str, values: dict[str, str]) -> str:
    """An injector's template with the credential's field values, and the path in the job's
    container of a file the credential writes ({{ tower.filename.<name> }})."""

    def field_value(match: re.Match) -> str:
        name = match.group(2)
        return f'/runner/{CREDENTIAL_FILES}/{name}' if match.group(1) else values[name]

    return INJECTOR_FIELD.sub(field_value, template)


def launch(template: dict, answers: dict | None = None, check: bool = False, inputs: dict | None = None) -> Job:
    """The job AWX launches for a template: its extra vars, the survey's answers (each
    question's default unless `answers` gives one) and its credentials' injection."""
    job = credential_injection(template.get('credentials', []), inputs)
    job.inventory = LAB_INVENTORIES.get(template['inventory'], job.inventory)
    survey = (template.get('survey_spec') or {}).get('spec', [])
    defaults = {q['variable']: q['default'] for q in survey if q.get('default') not in (None, '')}
    extra = template.get('extra_vars') or {}
    extra = yaml.safe_load(extra) if isinstance(extra, str) else extra
    job.extravars = {**extra, **defaults, **(answers or {}), **job.extravars}
    job.playbook = template['playbook']
    if check or template.get('job_type') == 'check':
        job.cmdline.append('--check')
    if template.get('limit'):
        job.cmdline += ['--limit', template['limit']]
    return job


@dataclass
class Result:
    runner: ansible_runner.Runner
    seconds: float
    artifacts: Path

    @property
    def events(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.artifacts / 'job_events').glob('*.json'))]

    @property
    def stdout(self) -> str:
        return (self.artifacts / 'stdout').read_text()

    def stats(self) -> dict:
        """The playbook_on_stats event's data: the recap and the set_stats artifacts."""
        return next(e['event_data'] for e in self.events if e['event'] == 'playbook_on_stats')


class JobRunner:
    """Runs jobs in the EE on the lab, each in a fresh private data dir and container."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.times = tmp, TIMES
        self.project = tmp / 'project'
        # The project AWX syncs: the checkout's files, without its venv and caches.
        listed = ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']
        files = subprocess.run(listed, cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
        for name in filter(None, files):
            source, dest = ROOT / name, self.project / name
            if source.is_symlink() or source.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest, follow_symlinks=False)

    def run(self, name: str, job: Job) -> Result:
        data = Path(tempfile.mkdtemp(prefix='job-', dir=self.tmp))
        shutil.copytree(self.project, data / 'project', symlinks=True)
        shutil.copytree(self.project / job.inventory, data / 'inventory')  # AWX: /runner/inventory
        for file_name, text in job.files.items():
            (data / CREDENTIAL_FILES).mkdir(mode=0o700, exist_ok=True)
            (data / CREDENTIAL_FILES / file_name).write_text(text)
        # The lab's jobs are AWX nodes on the lab network; the PlayCode jobs reach the servers
        # of tests/ee/playcode.py on this machine's loopback.
        if job.inventory == 'inventories/lab':
            network = ['--network=sre-lab', f'--ip={NODE_ADDRESS}']
        else:
            network = ['--network=host']
        start = time.monotonic()
        runner = ansible_runner.run(
            private_data_dir=str(data),
            playbook=job.playbook,
            extravars=job.extravars,
            envvars=job.envvars,
            ssh_key=job.ssh_key,
            cmdline=' '.join(job.cmdline),
            process_isolation=True,
            process_isolation_executable='docker',
            container_image=EE_IMAGE,
            container_options=network,
            quiet=True,
        )
        seconds = time.monotonic() - start
        self.times[name] = seconds
        return Result(runner, seconds, data / 'artifacts' / runner.config.ident)


TIMES: dict[str, float] = {}
LAB_HOSTS = ('api', 'web', 'spare', 'compose', 'backup')


def prepare_lab() -> None:
    """The lab as production is between runs: no run lock left by a killed run of another
    test session (a job's container cannot tell whether another controller's holder is
    alive), and the compose host's backup directory there, as after its first backup
    (pg_backup in check mode fails on a host that never had one)."""
    for host in LAB_HOSTS:
        subprocess.run(['docker', 'exec', f'sre-lab-{host}', 'rm', '-rf', '/var/lib/sre-runbooks/locks'], check=True)
    subprocess.run(['docker', 'exec', 'sre-lab-compose', 'install', '-d', '-m', '0700', '/backup/postgres'], check=True)


def pytest_terminal_summary(terminalreporter) -> None:
    if TIMES:
        terminalreporter.write_sep('-', 'jobs in the execution environment')
        for name, seconds in TIMES.items():
            terminalreporter.write_line(f'{seconds:7.1f} s  {name}')
        terminalreporter.write_line(f'{sum(TIMES.values()):7.1f} s  total ({len(TIMES)} jobs)')


@pytest.fixture(scope='session')
def jobs(tmp_path_factory) -> JobRunner:
    images = subprocess.run(['docker', 'images', '-q', EE_IMAGE], capture_output=True, text=True, check=True)
    assert images.stdout.strip(), f'{EE_IMAGE} is not built: make ee'
    bring_the_lab_up()
    if not WORKER:  # a worker's check jobs take no lock; another worker may be running one
        prepare_lab()
    return JobRunner(tmp_path_factory.mktemp('ee-jobs'))


@pytest.fixture(scope='session')
def playcode(tmp_path_factory) -> Iterator[PlaycodeLab]:
    with playcode_lab(tmp_path_factory.mktemp('playcode')) as lab:
        yield lab


def templates() -> list[dict]:
    return load_config('controller_templates', 'controller_templates')
