# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/terraform_plan.yml and playbooks/sealed_secret.yml (runbook P13, sections 6.1, 6.2),
run by ansible-playbook with inventories/playcode_lab on the controller.

terraform is real here (the binary on PATH; the tests skip, saying so, without it): each test
plans and applies a throwaway configuration of the built-in ``terraform_data`` resource with
local state, so no provider and no network is involved. kubeseal is not installed here (not in
Debian, PyPI or npm): only its absence is tested - the clear error, before anything runs, in
check mode too - and the argument handling."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.k8s import k8s_standin

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
CONFIG = """
resource "terraform_data" "%s" {
  input = "%s"
}
"""


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.out = proc.returncode, proc.stdout + proc.stderr
        recap = re.search(r'playcode-standin\s*:.*?changed=(\d+)', proc.stdout)
        self.changed = int(recap.group(1)) if recap else -1
        self.flat = ' '.join(self.out.split())

    def __repr__(self) -> str:
        return f'rc={self.rc} changed={self.changed}\n{self.out[-4000:]}'


def play(playbook: str, *args: str) -> Run:
    env = {
        **os.environ,
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        'ANSIBLE_FORCE_COLOR': '0',
        'CHECKPOINT_DISABLE': '1',
        'TF_IN_AUTOMATION': '1',
    }
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'inventories/playcode_lab', f'playbooks/{playbook}', *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    return Run(proc)


@pytest.fixture
def tf_dir(tmp_path):
    terraform = shutil.which('terraform')
    if not terraform:
        pytest.skip('terraform is not installed on this machine: the terraform tests need it on PATH')
    (tmp_path / 'main.tf').write_text(CONFIG % ('release', 'v1'))
    subprocess.run(
        [terraform, 'init', '-input=false', '-no-color'],
        cwd=tmp_path, check=True, capture_output=True, env={**os.environ, 'CHECKPOINT_DISABLE': '1'},
    )  # fmt: skip
    return tmp_path


def state(tf_dir: Path) -> str:
    path = tf_dir / 'terraform.tfstate'
    return path.read_text() if path.exists() else ''


def test_check_mode_and_plan_only_predict_and_apply_nothing(tf_dir):
    """Check mode plans (changed=1, the prediction) and saves nothing; a plan-only run saves the plan
    file and applies nothing."""
    check = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true', '--check')
    assert check.rc == 0 and check.changed == 1, check
    assert 'Plan: 1 to add, 0 to change, 0 to destroy. (check mode: nothing saved or applied)' in check.flat, check
    assert not (tf_dir / 'sre-runbooks.tfplan').exists() and state(tf_dir) == ''
    plan = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}')
    assert plan.rc == 0 and plan.changed == 1 and '-e apply=true applies the saved plan' in plan.flat, plan
    assert (tf_dir / 'sre-runbooks.tfplan').exists() and state(tf_dir) == ''


def test_apply_applies_the_saved_plan_and_a_rerun_changes_nothing(tf_dir):
    """apply=true applies the plan file of the run (changed=1) and lists the state; a rerun plans no
    change (exit code 0) and changes nothing."""
    run = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true')
    assert run.rc == 0 and run.changed == 1, run
    assert 'Apply complete! Resources: 1 added' in run.flat and 'state: terraform_data.release' in run.flat, run
    assert '"terraform_data"' in state(tf_dir)
    again = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true')
    assert again.rc == 0 and again.changed == 0 and 'No changes.' in again.flat, again


def test_a_plan_that_destroys_needs_allow_destroy_and_production_needs_the_confirmation(tf_dir):
    """A plan replacing the resource (1 to destroy) is refused without allow_destroy; on production,
    apply=true stops before terraform runs unless confirmed."""
    assert play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true').rc == 0
    (tf_dir / 'main.tf').write_text(CONFIG % ('renamed', 'v2'))
    applied = state(tf_dir)
    refused = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true')
    assert refused.rc != 0 and 'the plan destroys 1 resource(s)' in refused.flat, refused
    assert state(tf_dir) == applied
    prod = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true', '-e', 'allow_destroy=true',
                '-e', 'sre_environment=production')  # fmt: skip
    assert prod.rc != 0 and 'sre_confirm' in prod.out and 'Terraform | Plan' not in prod.out, prod
    assert state(tf_dir) == applied
    run = play('terraform_plan.yml', '-e', f'terraform_dir={tf_dir}', '-e', 'apply=true', '-e', 'allow_destroy=true',
               '-e', 'sre_environment=production', '-e', 'sre_confirm=terraform')  # fmt: skip
    assert run.rc == 0 and run.changed == 1 and 'state: terraform_data.renamed' in run.flat, run


@pytest.mark.parametrize('check', [False, True])
def test_missing_tools_fail_first_naming_the_tool_and_how_to_install_it(tmp_path, check):
    """terraform and kubeseal missing: a clear error naming the tool and where to get it, before anything
    runs, in check mode too; the sealed YAML is not written."""
    flags = ['--check'] if check else []
    terraform = play(
        'terraform_plan.yml', '-e', f'terraform_dir={tmp_path}', '-e', 'terraform_binary=/nonexistent/terraform', *flags
    )
    assert terraform.rc != 0, terraform
    assert '/nonexistent/terraform is not installed on playcode-standin' in terraform.flat, terraform
    assert 'developer.hashicorp.com/terraform/install' in terraform.flat and 'Nothing was changed.' in terraform.flat
    sealed = tmp_path / 'sealed-secret.yaml'
    kubeseal = play(
        'sealed_secret.yml', '-e', f'sealed_secret_file={sealed}', '-e', '{"sealed_secret_data": {"KEY": "VALUE"}}',
        *flags,
    )  # fmt: skip
    assert kubeseal.rc != 0 and 'kubeseal is not installed on playcode-standin' in kubeseal.flat, kubeseal
    assert 'bitnami-labs/sealed-secrets/releases' in kubeseal.flat and 'VALUE' not in kubeseal.out, kubeseal
    assert not sealed.exists()


def test_arguments_are_checked_before_anything_runs(tmp_path):
    """No terraform_dir, or no sealed_secret_data: the run stops naming what is missing."""
    run = play('terraform_plan.yml')
    assert run.rc != 0 and 'terraform_dir' in run.out, run
    sealed = play('sealed_secret.yml', '-e', f'sealed_secret_file={tmp_path}/s.yaml')
    assert sealed.rc != 0 and 'sealed_secret_data' in sealed.out, sealed


def test_sealed_secret_check_mode_compares_with_the_live_secret_and_writes_nothing(tmp_path, monkeypatch):
    """API contract (P13, the Kubernetes API stand-in): with a kubeseal on PATH (a stand-in script that
    only answers `version`: check mode never seals), the wanted data is compared with the live Secret;
    only differing keys are named, never values; nothing is written or sent."""
    fake = tmp_path / 'kubeseal'
    fake.write_text('#!/bin/sh\n[ "$1" = version ] && echo "kubeseal version: 0.27.0" && exit 0\nexit 3\n')
    fake.chmod(0o755)
    sealed = tmp_path / 'sealed-secret.yaml'
    with k8s_standin() as k8s:
        k8s.seed({
            'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
            'metadata': {'name': 'playcode-secrets', 'namespace': 'playcode'},
            'data': {'JWT_SECRET': 'b2xk', 'API_KEY': 'c2FtZQ=='},  # old, same
        })  # fmt: skip
        for name, value in {**k8s.env, 'SRE_K8S_KUBECONFIG': str(k8s.kubeconfig)}.items():
            monkeypatch.setenv(name, value)
        k8s.requests(clear=True)
        base = ['-e', f'sealed_secret_file={sealed}', '-e', f'kubeseal_binary={fake}', '--check']
        differ = play(
            'sealed_secret.yml', *base, '-e', '{"sealed_secret_data": {"JWT_SECRET": "new", "API_KEY": "same"}}'
        )
        assert differ.rc == 0 and differ.changed == 1, differ
        assert 'would re-seal (keys JWT_SECRET) into' in differ.flat and 'new' not in differ.out.lower(), differ
        same = play(
            'sealed_secret.yml', *base, '-e', '{"sealed_secret_data": {"JWT_SECRET": "old", "API_KEY": "same"}}'
        )
        assert same.rc == 0 and same.changed == 0 and 'already holds these values' in same.flat, same
        assert [each for each in k8s.requests() if each['method'] != 'GET'] == []
    assert not sealed.exists()
