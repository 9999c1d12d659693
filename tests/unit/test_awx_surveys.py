# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX configs under awx/ agree with the playbooks and the roles' argument specs (issue #17).

Surveys and argument specs cannot drift apart: a variable asked in a survey that
awx/surveys.yml does not map to an argument-spec option fails, and so does one mapped
there but missing from the survey, or a survey whose type, default, choices or
required flag is not what its option says. The mutation tests prove each of those
checks fails on a copy changed that way. Also: every operator playbook has exactly one
job template and the other way round, every name a config refers to exists, secrets are
marked secret and never written here, and in each workflow an approval node comes
before every node that runs a destructive template (one whose survey asks sre_confirm).
No controller runs here (AWX needs Kubernetes): these are checks of the data that
awx/apply.yml hands to infra.aap_configuration.dispatch."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'awx' / 'configs'
_spec = importlib.util.spec_from_file_location('awx_surveys', ROOT / 'scripts' / 'awx_surveys.py')
awx_surveys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(awx_surveys)
# Credential types the controller ships.
BUILTIN_CREDENTIAL_TYPES = {'Machine', 'Amazon Web Services', 'Source Control', 'Vault'}
EXAMPLE_LINE = re.compile(r'^#\s+(ansible-playbook|\.\.\.)\s')


def _config(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((CONFIGS / f'{name}.yml').read_text())[name]


def _names(name: str) -> set[str]:
    return {item['name'] for item in _config(name)}


@pytest.fixture(name='loaded')
def fixture_loaded() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    return awx_surveys.load_all()


def _all_playbooks() -> set[str]:
    return {f'playbooks/{path.name}' for path in (ROOT / 'playbooks').glob('*.yml') if path.name != 'require_hosts.yml'}


def _not_in_awx_yet() -> dict[str, str]:
    return (yaml.safe_load((ROOT / 'awx/surveys.yml').read_text()) or {}).get('not_in_awx_yet') or {}


def _operator_playbooks() -> set[str]:
    """The playbooks that must have a job template: all but those listed, with their
    issue, under not_in_awx_yet in awx/surveys.yml."""
    return _all_playbooks() - set(_not_in_awx_yet())


def test_a_playbook_without_a_job_template_says_why_and_names_its_issue() -> None:
    for playbook, reason in _not_in_awx_yet().items():
        assert playbook in _all_playbooks(), f'{playbook} is listed under not_in_awx_yet but does not exist'
        assert re.search(r'#\d+', reason or ''), f'{playbook}: the reason names no issue'


def _template_by_playbook(configs: dict[str, dict[str, Any]], playbook: str) -> dict[str, Any]:
    return next(t for t in configs['job_templates']['controller_templates'] if t['playbook'] == playbook)


# --- the surveys are what the mapping and the argument specs make ---


def test_surveys_match_the_argument_specs(loaded) -> None:
    mapping, configs = loaded
    assert awx_surveys.problems(mapping, configs) == []


def test_check_mode_passes_on_the_committed_files() -> None:
    assert awx_surveys.main(['--check']) == 0


@pytest.mark.parametrize('kind', ['job_templates', 'workflows'])
def test_each_question_agrees_with_its_option(loaded, kind: str) -> None:
    """Independent of the generator: type, choices, required and default per option."""
    mapping, configs = loaded
    _path, top, key = awx_surveys.CONFIGS[kind]
    for item in configs[kind][top]:
        questions = {q['variable']: q for q in mapping[kind][item[key]] or []}
        for asked in (item['survey_spec'] or {}).get('spec', []):
            option = awx_surveys.load_option(questions[asked['variable']]['spec'])
            spec_type = option.get('type', 'str')
            assert not option.get('required') or asked['required'], (item[key], asked['variable'])
            if spec_type == 'bool':
                assert asked['type'] == 'multiplechoice'
                assert asked['choices'] == ['true', 'false']
            elif option.get('choices'):
                assert asked['type'] in ('multiplechoice', 'multiselect')
                assert set(asked['choices']) <= {str(c) for c in option['choices']}
            elif spec_type in ('int', 'float'):
                assert asked['type'] == {'int': 'integer', 'float': 'float'}[spec_type]
                assert asked['min'] <= asked['default'] <= asked['max']
            else:
                assert asked['type'] in ('text', 'multiplechoice'), (item[key], asked['variable'])
            if asked['type'] == 'multiplechoice':
                assert asked['default'] in [*asked['choices'], '']
            assert set(asked) == {
                'question_name',
                'question_description',
                'required',
                'type',
                'variable',
                'min',
                'max',
                'default',
                'choices',
                'new_question',
            }


def test_scenarios_are_choices_and_the_confirmation_is_sre_confirm(loaded) -> None:
    _mapping, configs = loaded
    recover = _template_by_playbook(configs, 'playbooks/disaster_recovery.yml')['survey_spec']['spec']
    scenario = next(q for q in recover if q['variable'] == 'dr_scenario')
    assert scenario['type'] == 'multiplechoice' and scenario['required']
    assert set(scenario['choices']) == {
        'auto',
        'db_corruption',
        'deploy_failure',
        'full_restore',
        'ransomware',
        'hardware_failure',
    }
    # The confirm module reads sre_confirm: the field is named exactly so.
    for playbook in ('restore_database', 'isolate_host', 'rebuild_host', 'recover_in_place', 'rollback', 'maintenance'):
        spec = _template_by_playbook(configs, f'playbooks/{playbook}.yml')['survey_spec']['spec']
        assert 'sre_confirm' in {q['variable'] for q in spec}, playbook


def unexplained_inputs(mapping: dict[str, Any], playbook: str) -> set[str]:
    """The `-e name=` of a playbook's examples that are neither asked nor in not_asked."""
    documented = {
        name
        for line in (ROOT / playbook).read_text().splitlines()
        if EXAMPLE_LINE.match(line)
        for name in re.findall(r"""-e\s+'?\{?"?(\w+)""", line)
    }
    asked = {q['variable'] for q in mapping['job_templates'][playbook] or []}
    return documented - asked - set((mapping.get('not_asked') or {}).get(playbook) or {})


def test_documented_inputs_are_asked_or_excused(loaded) -> None:
    mapping, _configs = loaded
    for playbook in sorted(_operator_playbooks()):
        assert unexplained_inputs(mapping, playbook) == set(), playbook


# --- the drift checks can fail ---


def _first_asked(configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return next(t for t in configs['job_templates']['controller_templates'] if t['survey_spec'])


def test_fails_when_a_survey_asks_what_no_spec_backs(loaded) -> None:
    mapping, configs = copy.deepcopy(loaded)
    template = _first_asked(configs)
    extra = dict(template['survey_spec']['spec'][0], variable='not_in_any_spec')
    template['survey_spec']['spec'].append(extra)
    assert any('not_in_any_spec' in p for p in awx_surveys.problems(mapping, configs))


def test_fails_when_a_mapped_option_is_not_asked(loaded) -> None:
    mapping, configs = copy.deepcopy(loaded)
    mapping['job_templates']['playbooks/backup.yml'].append(
        {'variable': 'pg_backup_keep', 'spec': 'pg_backup.main.pg_backup_keep', 'question': 'Keep'}
    )
    assert any('does not ask pg_backup_keep' in p for p in awx_surveys.problems(mapping, configs))


def test_fails_when_a_question_maps_to_no_option(loaded) -> None:
    mapping, configs = copy.deepcopy(loaded)
    mapping['job_templates']['playbooks/backup.yml'][0]['spec'] = 'pg_backup.main.pg_backup_gone'
    assert any('pg_backup_gone' in p for p in awx_surveys.problems(mapping, configs))


def test_fails_when_a_question_is_removed_from_a_survey(loaded) -> None:
    mapping, configs = copy.deepcopy(loaded)
    _template_by_playbook(configs, 'playbooks/rebuild_host.yml')['survey_spec']['spec'].pop(0)
    assert any('does not ask dr_scenario' in p for p in awx_surveys.problems(mapping, configs))


def _spec_tree(tmp_path: Path) -> Path:
    """A copy of the argument specs and module docs to change."""
    for spec in (ROOT / 'roles').glob('*/meta/argument_specs.yml'):
        target = tmp_path / spec.relative_to(ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(spec, target)
    shutil.copytree(ROOT / 'plugins' / 'modules', tmp_path / 'plugins' / 'modules')
    return tmp_path


@pytest.mark.parametrize(
    ('change', 'expected'),
    [
        pytest.param(lambda opt: opt.update(type='int', default=1), 'differs', id='type'),
        pytest.param(
            lambda opt: opt.update(choices=['restarted', 'stopped']), 'not in the argument spec', id='choices'
        ),
        pytest.param(lambda opt: opt.update(required=True), 'differs', id='required'),
        pytest.param(lambda opt: opt.update(default='rebuilt'), 'differs', id='default'),
    ],
)
def test_fails_when_an_argument_spec_changes(loaded, tmp_path: Path, change, expected: str) -> None:
    mapping, configs = loaded
    root = _spec_tree(tmp_path)
    path = root / 'roles' / 'compose_service' / 'meta' / 'argument_specs.yml'
    specs = yaml.safe_load(path.read_text())
    change(specs['argument_specs']['main']['options']['compose_service_action'])
    path.write_text(yaml.safe_dump(specs))
    assert any(expected in p for p in awx_surveys.problems(mapping, configs, root))


def test_fails_when_an_argument_spec_loses_an_option(loaded, tmp_path: Path) -> None:
    mapping, configs = loaded
    root = _spec_tree(tmp_path)
    path = root / 'roles' / 'pg_restore' / 'meta' / 'argument_specs.yml'
    specs = yaml.safe_load(path.read_text())
    del specs['argument_specs']['main']['options']['pg_restore_swap']
    path.write_text(yaml.safe_dump(specs))
    assert any('pg_restore_swap' in p for p in awx_surveys.problems(mapping, configs, root))


def test_fails_when_a_documented_input_is_neither_asked_nor_excused(loaded) -> None:
    mapping, _configs = copy.deepcopy(loaded)
    del mapping['not_asked']['playbooks/maintenance.yml']['drain_seconds']
    assert unexplained_inputs(mapping, 'playbooks/maintenance.yml') == {'drain_seconds'}


# --- templates, playbooks and the names configs refer to ---


def test_every_operator_playbook_has_one_template(loaded) -> None:
    mapping, configs = loaded
    playbooks = [t['playbook'] for t in configs['job_templates']['controller_templates']]
    assert sorted(playbooks) == sorted(_operator_playbooks())
    assert set(mapping['job_templates']) == _operator_playbooks()


def test_template_fields_the_ee_job_tests_read() -> None:
    for template in _config('controller_templates'):
        assert (ROOT / template['playbook']).is_file(), template['playbook']
        for field in ('name', 'inventory', 'project', 'execution_environment', 'job_type'):
            assert template[field], (template['name'], field)
        assert isinstance(template['credentials'], list), template['name']  # [] when it connects nowhere
        assert isinstance(template['extra_vars'], dict)
        assert template['survey_enabled'] == bool(template['survey_spec'])


def test_names_referred_to_exist() -> None:
    organizations = _names('controller_organizations')
    inventories = _names('controller_inventories')
    projects = _names('controller_projects')
    environments = _names('controller_execution_environments')
    credentials = _names('controller_credentials')
    notifications = _names('controller_notifications')
    templates = _names('controller_templates')
    workflows = _names('controller_workflows')
    credential_types = _names('controller_credential_types') | BUILTIN_CREDENTIAL_TYPES
    for kind in ('controller_templates', 'controller_workflows', 'controller_projects', 'controller_inventories'):
        for item in _config(kind):
            assert item['organization'] in organizations, item['name']
    for template in _config('controller_templates'):
        assert template['inventory'] in inventories
        assert template['project'] in projects
        assert template['execution_environment'] in environments
        assert set(template['credentials']) <= credentials, template['name']
        assert set(template['notification_templates_error']) <= notifications
    for credential in _config('controller_credentials'):
        assert credential['credential_type'] in credential_types, credential['name']
    for source in _config('controller_inventory_sources'):
        assert source['inventory'] in inventories and source['source_project'] in projects
        assert (ROOT / source['source_path']).is_file(), source['source_path']
    assert {s['inventory'] for s in _config('controller_inventory_sources')} == inventories
    for schedule in _config('controller_schedules'):
        assert schedule['unified_job_template'] in templates | workflows, schedule['name']
        assert schedule['inventory'] in inventories
        assert schedule['rrule'].startswith('DTSTART;TZID=') and ' RRULE:FREQ=' in schedule['rrule']
    for workflow in _config('controller_workflows'):
        for node in workflow['workflow_nodes']:
            job = node['unified_job_template']
            if job['type'] == 'job_template':
                assert job['name'] in templates, (workflow['name'], node['identifier'])


def test_schedules_cover_the_checks_the_backup_and_the_escalation() -> None:
    scheduled = {s['unified_job_template'] for s in _config('controller_schedules')}
    expected = {'sre.runbooks daily_check', 'sre.runbooks weekly_check', 'sre.runbooks backup'}
    assert expected <= scheduled
    escalating = {t['name'] for t in _config('controller_templates') if t['notification_templates_error']}
    assert scheduled <= escalating


def test_secrets_are_secret_and_not_written_here() -> None:
    for credential_type in _config('controller_credential_types'):
        for field in credential_type['inputs']['fields']:
            assert field.get('secret') is True, (credential_type['name'], field['id'])
        injectors = credential_type['injectors']
        files = {name.removeprefix('template.') for name in injectors.get('file', {})}
        injected = [*injectors.get('env', {}).values(), *injectors.get('extra_vars', {}).values()]
        # infra.aap_configuration strips the double space: the controller sees {{ field }};
        # an env var may name a file the credential writes ({{ tower.filename.<file> }}).
        for value in [*injected, *injectors.get('file', {}).values()]:
            field = re.fullmatch(r'\{  \{ (tower\.filename\.)?(\w+) \}\}', value)
            assert field, (credential_type['name'], value)
            assert field.group(2) in files if field.group(1) else True, (credential_type['name'], value)
    for credential in _config('controller_credentials'):
        assert credential['update_secrets'] is False, credential['name']
        for name, value in credential['inputs'].items():
            if name in ('username', 'become_method'):
                continue
            assert value.startswith("{{ lookup('ansible.builtin.env', "), (credential['name'], name)


def test_the_roles_read_the_injected_names() -> None:
    """The credential types inject the names the playbooks' group_vars read."""
    group_vars = (ROOT / 'playbooks' / 'group_vars' / 'o4o_api_hosts.yml').read_text()
    assert "o4o_admin_token | default(lookup('ansible.builtin.env', 'O4O_ADMIN_TOKEN')" in group_vars
    assert 'o4o_db_password' in group_vars
    injected = {}
    for credential_type in _config('controller_credential_types'):
        injected.update(credential_type['injectors'].get('extra_vars', {}))
        injected.update(credential_type['injectors'].get('env', {}))
    assert {'o4o_admin_token', 'O4O_ADMIN_TOKEN', 'o4o_db_password'} <= set(injected)
    playcode = (ROOT / 'inventories' / 'playcode' / 'group_vars' / 'all.yml').read_text()
    assert "lookup('ansible.builtin.env', 'K8S_AUTH_KUBECONFIG')" in playcode and 'K8S_AUTH_KUBECONFIG' in injected


# --- workflows: an approval before anything destructive ---


def _destructive_templates() -> set[str]:
    return {
        t['name']
        for t in _config('controller_templates')
        if 'sre_confirm' in {q['variable'] for q in (t['survey_spec'] or {}).get('spec', [])}
    }


def unapproved_destructive_nodes(workflow: dict[str, Any], destructive: set[str]) -> list[str]:
    """Destructive nodes reachable from a root without passing an approval node."""
    nodes = {node['identifier']: node for node in workflow['workflow_nodes']}
    children = {
        name: [child['identifier'] for links in (node.get('related') or {}).values() for child in links]
        for name, node in nodes.items()
    }
    roots = set(nodes) - {child for links in children.values() for child in links}
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or nodes[name]['unified_job_template']['type'] == 'workflow_approval':
            continue
        seen.add(name)
        stack.extend(children[name])
    return sorted(
        name
        for name in seen
        if nodes[name]['unified_job_template']['name'] in destructive and nodes[name].get('job_type') != 'check'
    )


def test_an_approval_precedes_every_destructive_node() -> None:
    destructive = _destructive_templates()
    assert {'sre.runbooks restore_database', 'sre.runbooks rebuild_host'} <= destructive
    for workflow in _config('controller_workflows'):
        assert unapproved_destructive_nodes(workflow, destructive) == [], workflow['name']
        kinds = [node['unified_job_template']['type'] for node in workflow['workflow_nodes']]
        assert 'workflow_approval' in kinds


@pytest.mark.parametrize('mutation', ['skip_approval', 'assess_for_real'])
def test_the_approval_check_can_fail(mutation: str) -> None:
    workflow = copy.deepcopy(_config('controller_workflows')[0])
    nodes = {node['identifier']: node for node in workflow['workflow_nodes']}
    if mutation == 'skip_approval':
        nodes['assess']['related']['success_nodes'].append({'identifier': 'restore'})
    else:
        nodes['assess']['job_type'] = 'run'
    assert unapproved_destructive_nodes(workflow, _destructive_templates()) != []


def test_the_readme_names_what_each_template_asks(loaded) -> None:
    _mapping, configs = loaded
    rows = {
        line.split('|')[1].strip(' `'): line
        for line in (ROOT / 'awx' / 'README.md').read_text().splitlines()
        if line.startswith('| `playbooks/')
    }
    for template in configs['job_templates']['controller_templates']:
        row = rows[template['playbook']]
        for question in (template['survey_spec'] or {}).get('spec', []):
            assert f'`{question["variable"]}`' in row, (template['playbook'], question['variable'])
        assert all(credential in row for credential in template['credentials']), template['playbook']


def test_workflow_nodes_set_only_what_their_template_prompts_for() -> None:
    """A node's job_type or job_tags is ignored unless the template asks for it on launch."""
    templates = {t['name']: t for t in _config('controller_templates')}
    prompts = {'job_type': 'ask_job_type_on_launch', 'job_tags': 'ask_tags_on_launch', 'limit': 'ask_limit_on_launch'}
    for workflow in _config('controller_workflows'):
        for node in workflow['workflow_nodes']:
            job = node['unified_job_template']
            if job['type'] != 'job_template':
                continue
            for field, ask in prompts.items():
                if field in node and node[field] != templates[job['name']].get(field):
                    assert templates[job['name']][ask], (workflow['name'], node['identifier'], field)


# --- awx/apply.yml hands the configs and the controller to the dispatch role ---

STUB_DISPATCH = """---
- name: Record what the dispatch role was given
  ansible.builtin.copy:
    dest: "{{ lookup('ansible.builtin.env', 'STUB_OUT') }}"
    content: "{{ given | to_json }}"
    mode: '0600'
  vars:
    given:
      auth: {host: "{{ aap_hostname }}", token: "{{ aap_token }}", verify: "{{ aap_validate_certs }}"}
      templates: "{{ controller_templates }}"
      credentials: "{{ controller_credentials }}"
      credential_types: "{{ controller_credential_types }}"
      workflows: "{{ controller_workflows }}"
      schedules: "{{ controller_schedules }}"
      projects: "{{ controller_projects }}"
"""


def _apply(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    """ansible-playbook awx/apply.yml with a stand-in for infra.aap_configuration.dispatch
    (not installable here) that records the variables it receives in given.json."""
    stub = tmp_path / 'ansible_collections' / 'infra' / 'aap_configuration'
    (stub / 'roles' / 'dispatch' / 'tasks').mkdir(parents=True)
    (stub / 'galaxy.yml').write_text('namespace: infra\nname: aap_configuration\nversion: 0.0.0\n')
    (stub / 'roles' / 'dispatch' / 'tasks' / 'main.yml').write_text(STUB_DISPATCH)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('CONTROLLER_', 'SRE_'))}
    env.update(
        ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
        ANSIBLE_COLLECTIONS_PATH=f'{tmp_path}:{ROOT / "collections"}',
        STUB_OUT=str(tmp_path / 'given.json'),
        **environment,
    )
    return subprocess.run(
        ['ansible-playbook', 'awx/apply.yml'], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_apply_hands_the_configs_and_the_controller_to_dispatch(tmp_path: Path) -> None:
    run = _apply(
        tmp_path,
        CONTROLLER_HOST='https://awx.invalid',
        CONTROLLER_OAUTH_TOKEN='token-from-env',
        CONTROLLER_VERIFY_SSL='false',
        SRE_RUNBOOKS_SCM_URL='https://git.invalid/sre/runbooks.git',
        SRE_ESCALATION_WEBHOOK_URL='https://hooks.invalid/on-call',
        SRE_O4O_ADMIN_TOKEN='admin-token-from-env',
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'admin-token-from-env' not in run.stdout + run.stderr
    given = json.loads((tmp_path / 'given.json').read_text())
    assert given['auth'] == {'host': 'https://awx.invalid', 'token': 'token-from-env', 'verify': False}
    assert given['templates'] == _config('controller_templates')
    assert given['workflows'] == _config('controller_workflows')
    assert given['schedules'] == _config('controller_schedules')
    assert given['projects'][0]['scm_url'] == 'https://git.invalid/sre/runbooks.git'
    token = next(c for c in given['credentials'] if c['name'] == 'O4O admin token')
    assert token['inputs'] == {'o4o_admin_token': 'admin-token-from-env'}
    # The injectors reach the role untemplated, for it to turn `{  {` into `{{`.
    injectors = next(t for t in given['credential_types'] if t['name'] == 'sre.runbooks O4O admin token')['injectors']
    assert injectors['env'] == {'O4O_ADMIN_TOKEN': '{  { o4o_admin_token }}'}


def test_apply_refuses_without_a_controller(tmp_path: Path) -> None:
    run = _apply(tmp_path, SRE_RUNBOOKS_SCM_URL='https://git.invalid/sre/runbooks.git')
    assert run.returncode != 0
    assert 'Set CONTROLLER_HOST and CONTROLLER_OAUTH_TOKEN' in run.stdout
    assert not (tmp_path / 'given.json').exists()
