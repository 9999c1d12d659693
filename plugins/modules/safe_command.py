#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: safe_command
short_description: Run a command only if the collection's safety policy allows it
version_added: 0.1.0
description:
  - Reads the command the way a shell would (chains, pipes, C(sudo)/C(env)/C(timeout)
    prefixes, C(VAR=value) prefixes, C(sh -c) nesting, C(docker exec),
    C(docker compose exec) and C(kubectl exec -- ...) wrappers) and checks every simple
    command in it against the policy before anything reaches the target.
  - A refused command fails the task with the reason, in normal and in check mode.
    In check mode an allowed command is not run and is reported as changed.
  - The default policy refuses what the runbooks forbid (Q8, Q11, P11), namely deleting
    Docker volumes, destroying or re-initialising PostgreSQL data directories,
    dropping databases other than rehearsal or broken copies, restoring into a live
    database, C(mongorestore --drop) without confirmation, passwords on the command
    line, deleting namespaces or volume claims, flushing Redis. See C(docs/safety.md).
  - The policy is extended per inventory with the variable C(sre_safety_policy)
    (keys C(rules_disabled), C(postgres_data_dirs), C(scratch_databases),
    C(confirmable), C(extra_rules)).
  - This module is implemented as an action plugin; the file documents it.
requirements:
  - The programs the command runs, on the target. With O(cmd) the command runs through the target's
    C(/bin/sh) (as M(ansible.builtin.shell)); with O(argv) without a shell
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  cmd:
    description: The command as a shell string, run with the shell.
    type: str
  argv:
    description: The command as a list of words, run without a shell.
    type: list
    elements: str
  chdir:
    description: Change into this directory first.
    type: path
  creates:
    description: Do not run when this path exists.
    type: path
  removes:
    description: Run only when this path exists.
    type: path
  stdin:
    description: Data passed to the command's standard input.
    type: str
  policy:
    description: Extra policy for this call, merged over the defaults and C(sre_safety_policy).
    type: dict
    default: {}
  confirm:
    description: Confirmations that unlock confirmable rules for this call (e.g. V(mongorestore_drop)).
    type: list
    elements: str
    default: []
  override_rules:
    description:
      - Rules to waive for this call. Needs O(override_reason); the override is shown
        as a warning and written to the audit log (variable C(sre_audit_log), default
        C(~/.ansible/sre_runbooks_audit.log)).
    type: list
    elements: str
    default: []
  override_reason:
    description: Why the override is needed; recorded with it.
    type: str
attributes:
  check_mode:
    support: full
    description: The policy is checked; an allowed command is not run and reported as changed.
  diff_mode:
    support: none
    description: Commands have no diff.
  idempotent:
    support: none
    description: As idempotent as the command; use C(creates), C(removes) or C(changed_when).
  action:
    support: full
    description: Runs on the controller first (the policy check), then on the target.
seealso:
  - module: ansible.builtin.command
  - module: ansible.builtin.shell
"""

EXAMPLES = r"""
- name: Show the QA-Arena stack
  sre.runbooks.safe_command:
    cmd: docker compose -f docker-compose.prod.yml ps
    chdir: ~/qa_labs
  changed_when: false

- name: Restore into the rehearsal database (allowed), never into the live one
  sre.runbooks.safe_command:
    argv: [pg_restore, -d, qa_arena_restore, /backup/postgres/qa_arena_20250101_010101.dump]

- name: A refused command fails here, before anything runs
  sre.runbooks.safe_command:
    cmd: docker compose down -v
"""

RETURN = r"""
allowed:
  description: Whether the policy allows the command (after confirmations and overrides).
  returned: always
  type: bool
reason:
  description: The verdict in words, naming each refused command and rule.
  returned: always
  type: str
  sample: "refused: docker compose down -v: deletes the named volumes of the stack [compose_down_volumes]"
violations:
  description: Each rule that matched, with the simple command it matched.
  returned: always
  type: list
  elements: dict
override:
  description: The waived rules, the reason and the audit log path.
  returned: when O(override_rules) waived a violation
  type: dict
rc:
  description: Exit status of the command.
  returned: when the command ran
  type: int
stdout:
  description: Standard output of the command.
  returned: when the command ran
  type: str
stderr:
  description: Standard error of the command.
  returned: when the command ran
  type: str
"""
