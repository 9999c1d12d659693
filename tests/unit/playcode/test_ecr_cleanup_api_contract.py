# SPDX-License-Identifier: GPL-3.0-or-later
"""API-contract tests of playbooks/ecr_cleanup.yml (runbook P13, section 6.4): ansible-playbook
with inventories/playcode_lab against two stand-ins - the Kubernetes API stand-in for the
images the cluster uses, and moto's ECR server on loopback (account 925216255375,
ap-northeast-2) for the repository, reached through boto3's AWS_ENDPOINT_URL_ECR with fake
credentials. They check the calls the role makes and what it decides from the answers; they
are not tests of AWS (moto 5.2 differs from ECR, e.g. it ignores tagStatus=UNTAGGED, which
the module does not use)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.sre.runbooks.plugins.filter.ecr_cleanup import ecr_cleanup_images_in_use
from ansible_collections.sre.runbooks.plugins.modules.ecr_images import _reference, plan
from tests.support.ecr import REGISTRY, REPOSITORY, moto_ecr
from tests.support.k8s import k8s_standin, kubectl_binary
from tests.unit.playcode.test_k8s_playbooks_api_contract import WRITES, play


@pytest.fixture(scope='module')
def servers():
    with k8s_standin() as k8s, moto_ecr() as ecr:
        yield k8s, ecr


@pytest.fixture
def repo(servers, monkeypatch):
    """Old untagged u1-u3, an old untagged image a Deployment runs by digest, the platform image of a
    tagged multi-architecture image, the tagged v1 the seed runs; a second later, untagged n1 and n2."""
    kubectl_binary()
    k8s, ecr = servers
    k8s.reset()
    ecr.reset()
    for name, value in ecr.env.items():
        monkeypatch.setenv(name, value)
    images = {name: ecr.push(name) for name in ('u1', 'u2', 'u3', 'used', 'arm64')}
    ecr.push_index([images['arm64']], 'multi-1')
    ecr.push('v1-image', 'v1')
    time.sleep(1.1)  # ECR's imagePushedAt has whole seconds here
    images.update({name: ecr.push(name) for name in ('n1', 'n2')})
    k8s.kubectl('create', 'deployment', 'worker', f'--image={REGISTRY}/{REPOSITORY}@{images["used"]}')
    return k8s, ecr, images


def flat(run) -> str:
    """The run's output with YAML's line wrapping undone."""
    return ' '.join(run.out.split())


def deletable(images: dict) -> set[str]:
    return {images[name] for name in ('u1', 'u2', 'u3')}


def test_dry_run_by_default_and_check_mode_never_delete(repo):
    """API contract (P13): the default run lists u1-u3 and deletes nothing (changed=0); --check with
    apply=true predicts the change (changed=1) and deletes nothing; the cluster is only read."""
    k8s, ecr, images = repo
    before = ecr.digests()
    k8s.requests(clear=True)
    run = play(k8s, 'ecr_cleanup.yml', '-e', 'keep=2')
    assert run.rc == 0 and run.changed == 0, run
    out = flat(run)
    assert 'would delete (dry run: -e apply=true deletes) 3, kept 4' in out, run
    assert all(f'would delete (dry run: -e apply=true deletes): {digest}' in out for digest in deletable(images)), run
    assert f'{images["used"]} kept: in use' in out, run
    assert f'{images["arm64"]} kept: platform image of a tagged multi-architecture image' in out, run
    check = play(k8s, 'ecr_cleanup.yml', '-e', 'keep=2', '-e', 'apply=true', '--check')
    assert check.rc == 0 and check.changed == 1 and 'would delete (check mode) 3' in flat(check), check
    assert ecr.digests() == before
    assert [each for each in k8s.requests() if each['method'] in WRITES] == []


def test_apply_deletes_only_the_old_unused_untagged_images_and_a_rerun_changes_nothing(repo):
    """API contract (P13): apply=true deletes u1-u3 (changed=1); the newest, the in-use, the multi-arch
    platform image and the tagged ones stay; a rerun finds nothing (changed=0)."""
    k8s, ecr, images = repo
    before = ecr.digests()
    run = play(k8s, 'ecr_cleanup.yml', '-e', 'keep=2', '-e', 'apply=true')
    assert run.rc == 0 and run.changed == 1 and 'untagged; deleted 3, kept 4' in flat(run), run
    assert ecr.digests() == before - deletable(images)
    again = play(k8s, 'ecr_cleanup.yml', '-e', 'keep=2', '-e', 'apply=true')
    assert again.rc == 0 and again.changed == 0 and 'untagged; deleted 0, kept 4' in flat(again), again


def test_production_apply_asks_for_the_confirmation_first_and_bad_input_deletes_nothing(repo):
    """Guard (P13): apply=true on production without sre_confirm stops before any request; keep=-1
    stops before ECR is called; the dry run on production asks for nothing."""
    k8s, ecr, _images = repo
    before = ecr.digests()
    k8s.requests(clear=True)
    run = play(k8s, 'ecr_cleanup.yml', '-e', 'apply=true', '-e', 'sre_environment=production')
    assert run.rc != 0 and 'sre_confirm' in run.out, run
    assert k8s.requests() == []
    bad = play(k8s, 'ecr_cleanup.yml', '-e', 'apply=true', '-e', 'keep=-1')
    assert bad.rc != 0 and 'keep=-1 must be 0 or more' in flat(bad), bad
    dry = play(k8s, 'ecr_cleanup.yml', '-e', 'sre_environment=production')
    assert dry.rc == 0 and dry.changed == 0, dry
    assert ecr.digests() == before


def test_images_in_use_come_from_templates_pods_and_their_image_ids():
    """The filter: Deployment and ReplicaSet templates (init containers too), Pods' image and imageID."""
    deployment = {'kind': 'Deployment', 'spec': {'template': {'spec': {'containers': [{'image': 'a:1'}]}}}}
    replicaset = {
        'kind': 'ReplicaSet',
        'spec': {'template': {'spec': {'containers': [{'image': 'a:0'}], 'initContainers': [{'image': 'i:1'}]}}},
    }
    pod = {
        'kind': 'Pod',
        'spec': {'containers': [{'image': 'a:1'}]},
        'status': {'containerStatuses': [{'image': 'a:1', 'imageID': 'docker-pullable://a@sha256:' + '1' * 64}]},
    }
    assert ecr_cleanup_images_in_use([deployment, replicaset, pod]) == [
        'a:0',
        'a:1',
        'docker-pullable://a@sha256:' + '1' * 64,
        'i:1',
    ]
    with pytest.raises(Exception, match='list of Kubernetes objects'):
        ecr_cleanup_images_in_use('nope')


@pytest.mark.parametrize(
    ('ref', 'expected'),
    [
        (f'{REGISTRY}/playcode-app:v1', ('tag', 'v1')),
        (f'{REGISTRY}/playcode-app', ('tag', 'latest')),
        (f'docker-pullable://{REGISTRY}/playcode-app@sha256:ab', ('digest', 'sha256:ab')),
        (f'{REGISTRY}/playcode-app:v1@sha256:ab', ('digest', 'sha256:ab')),
        ('localhost:5000/playcode-app:v1', ('tag', 'v1')),
        (f'{REGISTRY}/other:v1', None),
        ('redis:7', None),
    ],
)
def test_references_to_the_repository(ref, expected):
    assert _reference(ref, 'playcode-app') == expected


def test_plan_keeps_the_newest_and_the_used_and_deletes_the_rest_oldest_first():
    images = [{'imageDigest': f'd{n}', 'imagePushedAt': f'2026-01-0{n}'} for n in range(1, 6)]
    images.append({'imageDigest': 't', 'imagePushedAt': '2026-01-01', 'imageTags': ['v1']})
    kept, delete = plan(images, 2, {'d1'}, {'d2'})
    assert [row['digest'] for row in delete] == ['d3']
    assert {row['digest']: row['reason'] for row in kept} == {
        'd1': 'in use',
        'd2': 'platform image of a tagged multi-architecture image',
        'd4': 'one of the 2 newest untagged',
        'd5': 'one of the 2 newest untagged',
    }
    assert plan(images, 0, set(), set())[1][-1]['digest'] == 'd5'
