#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_lock
short_description: Let one state-changing run at a time work on a target
version_added: 0.2.0
description:
  - Takes (O(state=present)) or gives back (O(state=absent)) a lock file on the target,
    one per inventory host, that records who holds it (the run, that is the controller, the
    process and its start time; the operator; the play; and when it started).
  - A second run that wants the lock while another holds it fails at once, naming the holder.
  - The same run taking it again (one playbook importing another) changes nothing.
  - "A lock is stale, and taken over with a warning and an audit record, when its holder ran
    on this controller and that process is gone, when it is older than O(stale_after_minutes),
    or when the operator says so with O(break_lock) (C(-e sre_lock_break=true)) after
    checking that the holder is dead."
  - In check mode nothing is taken or refused; a lock held by another run is reported as a warning.
  - This module is implemented as an action plugin; the module file does the work on the target.
requirements:
  - Write access to O(lock_dir) on the target (the role runs it with become)
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  name:
    description: What is locked; defaults to the inventory host's name.
    type: str
  state:
    description: V(present) takes the lock, V(absent) gives it back (only if this run holds it).
    type: str
    choices: [present, absent]
    default: present
  lock_dir:
    description: Directory of the lock files on the target; defaults to the variable C(sre_lock_dir).
    type: path
    default: /var/lib/sre-runbooks/locks
  stale_after_minutes:
    description: A lock older than this is stale; defaults to the variable C(sre_lock_stale_after_minutes).
    type: int
    default: 360
  break_lock:
    description: Take the lock over from whoever holds it; defaults to the variable C(sre_lock_break).
    type: bool
    default: false
  holder:
    description: Set by the action plugin; who takes the lock.
    type: dict
  takeover:
    description: Set by the action plugin; the run id of a stale holder to replace.
    type: str
  store:
    description:
      - Where the lock is kept. V(host) - a file in O(lock_dir) on the target. V(kubernetes) - for a target that is
        a cluster (the play runs on the controller, under AWX a throwaway container), a ConfigMap in the cluster
        (M(sre.runbooks.k8s_run_lock)); O(kubernetes) says where.
    type: str
    choices: [host, kubernetes]
    default: host
  kubernetes:
    description: The cluster of O(store=kubernetes).
    type: dict
    suboptions:
      namespace:
        description: Namespace of the lock's ConfigMap.
        type: str
        required: true
      kubeconfig:
        description: Path of the kubeconfig.
        type: path
      context:
        description: The kubeconfig's context.
        type: str
attributes:
  check_mode:
    support: full
    description: Takes and refuses nothing; reports whether the real run would take the lock, and who holds it.
  diff_mode:
    support: none
    description: The lock file is bookkeeping; there is nothing to show.
  idempotent:
    support: full
    description: The run that holds the lock taking it again, or giving back a lock it does not hold, changes nothing.
seealso:
  - module: sre.runbooks.confirm
"""

EXAMPLES = r"""
- name: Take the run lock of this host
  sre.runbooks.run_lock:
  become: true

- name: Give the run lock back
  sre.runbooks.run_lock:
    state: absent
  become: true
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
holder:
  description: Who holds the lock after the call (or held it, for a release).
  returned: when there is a holder
  type: dict
replaced:
  description: The stale holder that was taken over.
  returned: when a stale lock was taken over
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._run_lock import (
    LockHeld,
    acquire,
    check_mode_answer,
    lock_path,
    read_holder,
    release,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            lock_dir=dict(type='path', default='/var/lib/sre-runbooks/locks'),
            holder=dict(type='dict'),
            takeover=dict(type='str'),
            stale_after_minutes=dict(type='int', default=360),
            break_lock=dict(type='bool', default=False),
            store=dict(type='str', choices=['host', 'kubernetes'], default='host'),
            kubernetes=dict(
                type='dict',
                options=dict(
                    namespace=dict(type='str', required=True), kubeconfig=dict(type='path'), context=dict(type='str')
                ),
            ),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params['name'] or not (params['holder'] or {}).get('run_id'):
        module.fail_json(msg='run_lock: name and holder are set by its action plugin; call it as sre.runbooks.run_lock')
    path = lock_path(params['lock_dir'], params['name'])
    run_id = params['holder']['run_id']
    current = read_holder(path)
    if module.check_mode:
        module.exit_json(path=path, **check_mode_answer(params['state'], current, run_id))
    if params['state'] == 'absent':
        changed, seen = release(path, run_id)
        module.exit_json(changed=changed, path=path, holder=seen)
    try:
        changed, replaced = acquire(path, params['holder'], params['takeover'])
    except LockHeld as held:
        module.fail_json(msg='locked', locked=True, path=path, holder=held.holder)
    module.exit_json(changed=changed, path=path, holder=read_holder(path), replaced=replaced)


if __name__ == '__main__':
    main()
