#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: load_test
short_description: Send a bounded HTTP load with request headers that never reach a command line
version_added: 0.2.0
description:
  - Sends O(requests) GET requests to O(url), O(concurrency) at a time, and reports how many
    failed (an error or an answer outside 2xx), the rate, the mean time per request and the p99.
  - For a load test whose requests carry secrets (an C(Authorization) bearer). ApacheBench
    takes headers only on its command line, where every user of the machine reads them in
    C(ps); here they are module arguments, marked C(no_log).
  - Run it from the controller, with C(delegate_to) V(localhost), against the service's address.
requirements:
  - Python's standard library only
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  url:
    description: URL to load.
    type: str
    required: true
  requests:
    description: Number of requests, in all.
    type: int
    default: 1000
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 10
  headers:
    description: Request headers; never shown in the result or the task output.
    type: dict
    default: {}
  timeout:
    description: Seconds one request may take.
    type: float
    default: 10
extends_documentation_fragment:
  - sre.runbooks.attributes.read_only
seealso:
  - module: sre.runbooks.health_probe
"""

EXAMPLES = r"""
- name: Load the API through nginx with the admin token
  sre.runbooks.load_test:
    url: "http://{{ hostvars[groups['o4o_web'][0]].ansible_host }}/api/health"
    headers:
      Host: api.neture.co.kr
      Authorization: "Bearer {{ o4o_admin_token }}"
    requests: 200
    concurrency: 10
  delegate_to: localhost
"""

RETURN = r"""
figures:
  description: The load's figures, in the keys of the ab_figures filter.
  returned: always
  type: dict
  sample: {requests: 200, failed: 0, requests_per_second: 412.5, mean_ms: 24.2, p99_ms: 61}
"""

import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import Request, make_context


def one_request(session: Request, url: str, headers: dict[str, str]) -> tuple[bool, float]:
    """(answered with 2xx, milliseconds taken) for one GET."""
    started = time.monotonic()
    try:
        with session.open('GET', url, headers=headers) as answer:
            answer.read()
            ok = 200 <= answer.status < 300
    except (OSError, urllib.error.URLError):
        ok = False
    return ok, (time.monotonic() - started) * 1000


def run_load(url: str, requests: int, concurrency: int, headers: dict[str, str], timeout: float) -> dict[str, Any]:
    # One TLS context for the whole load: open_url makes one per request (it loads the CA
    # bundle every time), which cost ~35 ms of CPU per request and capped the load at ~40/s.
    session = Request(timeout=timeout, follow_redirects='safe', use_netrc=False, context=make_context())
    began = time.monotonic()
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        results = list(pool.map(lambda _i: one_request(session, url, headers), range(requests)))
    took = time.monotonic() - began
    times = sorted(ms for _ok, ms in results)
    return {
        'requests': len(results),
        'failed': sum(1 for ok, _ms in results if not ok),
        'requests_per_second': round(len(results) / took, 2) if took else None,
        'mean_ms': round(took * 1000 * concurrency / len(results), 3) if results else None,
        'p99_ms': round(times[max(0, -(-len(times) * 99 // 100) - 1)]) if times else None,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            requests=dict(type='int', default=1000),
            concurrency=dict(type='int', default=10),
            headers=dict(type='dict', default={}, no_log=True),
            timeout=dict(type='float', default=10),
        ),
        supports_check_mode=True,
    )
    p = module.params
    headers = {str(name): str(value) for name, value in p['headers'].items()}
    figures = run_load(p['url'], p['requests'], p['concurrency'], headers, p['timeout'])
    module.exit_json(changed=False, figures=figures)


if __name__ == '__main__':
    main()
