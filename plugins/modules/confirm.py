#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: confirm
short_description: Require the operator to name the target before destructive work in production
version_added: 0.1.0
description:
  - On an inventory whose C(sre_environment) is V(production), passes only when the
    confirmation (C(sre_confirm), e.g. from an AWX survey) equals O(target) exactly;
    the confirmation is written to the audit log.
  - An environment known to hold nothing of value (V(lab), V(molecule), V(ci), V(test),
    V(testing), V(dev), V(development), V(staging), V(local)) passes without confirmation.
  - Any other value, a typo, or no C(sre_environment) at all counts as production; the
    guard fails closed.
  - In check mode an unconfirmed production run is not failed; it reports what the
    real run would need.
  - This module is implemented as an action plugin; the file documents it.
requirements:
  - Nothing on the target; it runs on the controller only
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  target:
    description:
      - Name the operator must type, e.g. the database or host; or a list of names, all
        of which must be confirmed (a run that isolates a host and restores a database).
    type: raw
    required: true
  action:
    description: What is about to happen, in words, for the messages.
    type: str
    required: true
  confirmation:
    description:
      - The operator's confirmation; defaults to the variable C(sre_confirm).
      - A list of names, or one string of names joined by commas, for a run that needs
        several (C(-e sre_confirm=api,o4o_platform) for a ransomware rebuild).
    type: raw

  environment:
    description: The inventory's environment; defaults to the variable C(sre_environment).
    type: str
attributes:
  check_mode:
    support: full
    description: Reports what would need confirming instead of failing.
  diff_mode:
    support: none
    description: Nothing changes.
  idempotent:
    support: full
    description: Never changes anything.
  action:
    support: full
    description: Runs on the controller only.
seealso:
  - module: sre.runbooks.backup_gate
  - module: sre.runbooks.safe_command
"""

EXAMPLES = r"""
- name: Confirm the database swap in production
  sre.runbooks.confirm:
    target: o4o_platform
    action: swap the restored database into place of
"""

RETURN = r"""
confirmed:
  description: Whether the work may go ahead.
  returned: always
  type: bool
would_need_confirmation:
  description: In check mode on production without confirmation, true.
  returned: when it applies
  type: bool
audit_log:
  description: Audit log that recorded the confirmation.
  returned: when a production confirmation was given
  type: str
"""
