# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the pm2 modules reach one user's pm2 daemon (see module_utils/_pm2.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - pm2 (and the Node.js it runs on) on the target for the user the module runs as (C(become_user)),
    found on that user's C(PATH) or in C(/usr/local/bin), or named by O(executable)
options:
  pm2_home:
    description: The C(PM2_HOME) of the daemon; default C(~/.pm2) of the user running the module.
    type: path
  executable:
    description: The pm2 program; found on C(PATH) and in C(/usr/local/bin) when not given.
    type: path
"""
