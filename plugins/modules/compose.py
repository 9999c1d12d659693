#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose
short_description: community.docker.docker_compose_v2 behind the collection's safety policy
version_added: 0.1.0
description:
  - Spells the request as the C(docker compose) command an operator would type
    (C(up -d --scale worker-llm=3 worker-llm), C(down --volumes), ...) and judges that
    command with the policy of M(sre.runbooks.safe_command) on the controller. A refused
    request fails before anything runs, in normal and in check mode; runbook Q11's
    C(docker compose down -v) is refused this way.
  - An allowed request runs M(community.docker.docker_compose_v2) with the same
    arguments, which keeps its idempotence (changed only when containers were created,
    recreated, started, stopped or removed) and its check mode (C(--dry-run)).
  - Every option of M(community.docker.docker_compose_v2) is accepted and passed on;
    the ones below are those the policy reads.
  - This module is implemented as an action plugin; the file documents it.
requirements:
  - The community.docker collection on the controller (the action plugin runs
    M(community.docker.docker_compose_v2))
  - On the target, what M(community.docker.docker_compose_v2) requires - the Docker CLI with the
    Docker compose plugin 2.18.0 or later, and a user allowed to use the Docker daemon
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  project_src:
    description: The compose project directory.
    type: path
  project_name:
    description: The compose project name.
    type: str
  files:
    description: Compose files, relative to O(project_src).
    type: list
    elements: path
  env_files:
    description: Environment files, relative to O(project_src).
    type: list
    elements: path
  state:
    description: C(present) is C(up -d), C(stopped) C(stop), C(restarted) C(restart), C(absent) C(down).
    type: str
    choices: [present, stopped, restarted, absent]
    default: present
  services:
    description: Only these services.
    type: list
    elements: str
  scale:
    description: Replicas per service (C(--scale service=count)).
    type: dict
  remove_volumes:
    description: With O(state=absent), delete the named volumes too; the default policy refuses it.
    type: bool
    default: false
  policy:
    description: Extra policy for this call, merged over the defaults and C(sre_safety_policy).
    type: dict
    default: {}
  confirm:
    description: Confirmations that unlock confirmable rules for this call.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: The policy is checked; docker_compose_v2 predicts with C(docker compose --dry-run).
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: full
    description: As docker_compose_v2; O(state=restarted) always restarts.
  action:
    support: full
    description: Runs on the controller first (the policy check), then on the target.
seealso:
  - module: community.docker.docker_compose_v2
  - module: sre.runbooks.safe_command
"""

EXAMPLES = r"""
- name: Restart only the backend; the other containers keep their IDs (runbook Q3)
  sre.runbooks.compose:
    project_src: ~/qa_labs
    files: [docker-compose.prod.yml]
    state: restarted
    services: [backend]

- name: Scale the LLM workers to 3 (runbook F4)
  sre.runbooks.compose:
    project_src: ~/fragrance-ai
    files: [docker-compose.production.yml]
    services: [worker-llm]
    scale: {worker-llm: 3}
    dependencies: false

- name: Refused before anything runs (runbook Q11)
  sre.runbooks.compose:
    project_src: ~/qa_labs
    state: absent
    remove_volumes: true
"""

RETURN = r"""
cmd:
  description: The docker compose command the request stands for, as judged by the policy.
  returned: always
  type: str
  sample: docker compose -f docker-compose.prod.yml restart backend
violations:
  description: Each policy rule that matched (the task failed if any).
  returned: always
  type: list
  elements: dict
containers:
  description: As returned by community.docker.docker_compose_v2.
  returned: when the request ran
  type: list
  elements: dict
actions:
  description: As returned by community.docker.docker_compose_v2.
  returned: when the request ran
  type: list
  elements: dict
"""
