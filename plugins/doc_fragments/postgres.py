# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the PostgreSQL modules reach the server (see module_utils/_postgres.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - PostgreSQL's client program C(psql) on the target, or with O(container) inside that container
  - With O(container), the C(docker) CLI on the target and a user allowed to use the Docker daemon
options:
  container:
    description:
      - Run the client programs inside this Docker container (C(docker exec)), for a
        server that runs in Docker (QA-Arena's C(qa_arena_postgres_prod), Fragrance's C(postgres)).
    type: str
  container_user:
    description: User to run the client programs as inside O(container) (C(docker exec -u)).
    type: str
  host:
    description: Server host or socket directory; the default is the local socket.
    type: str
  port:
    description: Server port.
    type: int
    default: 5432
  user:
    description: Database user; the default is the OS user (peer authentication).
    type: str
"""
