#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: log_tail
short_description: The last lines of several logs in one module run, and why one could not be read
version_added: 0.1.0
description:
  - Reads the last O(logs[].lines) lines of each log in O(logs), like C(tail -n), reading
    from the end of the file (a big log is not read whole). Lines end at a newline only,
    as C(tail) counts them; a carriage return before it is dropped.
  - One module run for every log of a host. The assessment of runbooks O1 and O3 reads
    PostgreSQL's, pm2's and the API's logs (one C(tail) task per log before, issue #20).
  - A log that cannot be read (missing, not readable) carries the reason in RV(logs)
    instead of showing as an empty log; it is never a failure.
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  logs:
    description: The logs to read.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The log's name in RV(logs); default its path.
        type: str
      path:
        description: The log file.
        type: path
        required: true
      lines:
        description: How many of its last lines (null means the default).
        type: int
        default: 20
extends_documentation_fragment:
  - sre.runbooks.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the last lines of the logs
  sre.runbooks.log_tail:
    logs:
      - {name: postgresql, path: /var/log/postgresql/postgresql-15-main.log}
      - {name: api-server pm2, path: /home/ubuntu/.pm2/logs/api-server-error-0.log, lines: 50}
  become: true
  register: logs
"""

RETURN = r"""
logs:
  description: Per log name its C(path), C(lines) (the last lines, oldest first) and C(error) (empty when read).
  returned: always
  type: dict
  sample:
    postgresql: {path: /var/log/postgresql/postgresql-15-main.log, lines: ["FATAL: ..."], error: ""}
    api-server pm2:
      path: /home/ubuntu/.pm2/logs/api-server-error-0.log
      lines: []
      error: "No such file or directory: /home/ubuntu/.pm2/logs/api-server-error-0.log"
"""

import os

from ansible.module_utils.basic import AnsibleModule

BLOCK = 65536
DEFAULT_LINES = 20


def last_lines(path: str, count: int) -> list[str]:
    """The last `count` lines of the file, read backwards in blocks from its end; lines
    end at b'\\n' only (as tail counts them), a '\\r' before it is dropped."""
    if count <= 0:
        return []
    with open(path, 'rb') as handle:
        end = handle.seek(0, os.SEEK_END)
        data = b''
        position = end
        # One newline more than lines wanted, unless the start of the file is reached.
        while position > 0 and data.count(b'\n') <= count:
            step = min(BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    pieces = data.split(b'\n')
    if pieces[-1] == b'':  # the file ends with a newline
        pieces.pop()
    lines = [piece.decode('utf-8', errors='replace') for piece in pieces[-count:]]
    return [line[:-1] if line.endswith('\r') else line for line in lines]


def read_log(log: dict) -> dict:
    try:
        count = DEFAULT_LINES if log['lines'] is None else log['lines']
        return {'path': log['path'], 'lines': last_lines(log['path'], count), 'error': ''}
    except OSError as error:
        return {'path': log['path'], 'lines': [], 'error': f'{error.strerror or error}: {log["path"]}'}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            'logs': {
                'type': 'list',
                'elements': 'dict',
                'required': True,
                'options': {
                    'name': {'type': 'str'},
                    'path': {'type': 'path', 'required': True},
                    'lines': {'type': 'int', 'default': DEFAULT_LINES},
                },
            },
        },
        supports_check_mode=True,
    )
    logs = {log['name'] or log['path']: read_log(log) for log in module.params['logs']}
    module.exit_json(changed=False, logs=logs)


if __name__ == '__main__':
    main()
