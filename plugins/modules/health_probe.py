#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_probe
short_description: Probe a host's services in one pass and report each check
version_added: 0.1.0
description:
  - Runs HTTP, TCP, PostgreSQL (C(pg_isready)), Redis (PING), systemd service, pm2,
    disk and memory checks on the target and returns one structured result.
  - Read-only. An unhealthy service is reported in RV(checks), not raised as a module
    failure, so that a playbook can report every problem at once; set
    O(fail_on_unhealthy) to fail instead.
  - O(components) groups checks by component, so that one run probes every component of a
    host (the assessment's api, db, web, ...) and still reports each one in RV(components).
  - Covers the runbooks' checks O1, O7, F1-F3 and R3 (see the collection catalog).
requirements:
  - For O(postgres) checks, C(pg_isready) from PostgreSQL's client programs on the target's C(PATH)
  - For O(services) checks, C(systemctl) (systemd) on the target
  - For O(pm2) checks, C(pm2) on the target's C(PATH) (the probe runs C(pm2 jlist) only when the
    daemon of C(pm2_home) already runs)
  - For O(memory_max_percent), Linux (C(/proc/meminfo))
  - Python's standard library only for HTTP, TCP, Redis and disk checks; a missing program fails its
    own check (reported unhealthy), not the module
author:
  - sre.runbooks maintainers (@sre-runbooks)
options:
  http:
    description: HTTP checks.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label of the check; defaults to the URL.
        type: str
      url:
        description: URL to call.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
      headers:
        description:
          - Request headers. Their values (an C(Authorization) bearer token) are
            C(no_log), so they are never shown in the result or the task output.
        type: dict
      body:
        description:
          - Request body, sent as JSON. C(no_log) like O(http[].headers), since a login
            check's body carries a password.
        type: raw
      status:
        description: Status codes that count as healthy.
        type: list
        elements: int
        default: [200]
      json:
        description:
          - Expected JSON fields of the response, by dotted path. A value of V(null)
            only requires the field to be present.
        type: dict
      samples:
        description: Number of requests; timing is reported over all of them.
        type: int
        default: 1
      max_ms:
        description: Highest acceptable 95th percentile latency in milliseconds.
        type: float
      timeout:
        description: Timeout of one request in seconds.
        type: float
        default: 5
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
  tcp:
    description: TCP ports that must accept a connection.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label of the check.
        type: str
      host:
        description: Address to connect to.
        type: str
        required: true
      port:
        description: Port to connect to.
        type: int
        required: true
      timeout:
        description: Connect timeout in seconds.
        type: float
        default: 3
  postgres:
    description: PostgreSQL servers checked with C(pg_isready).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label of the check.
        type: str
      host:
        description: Server address or socket directory.
        type: str
        default: 127.0.0.1
      port:
        description: Server port.
        type: int
        default: 5432
      database:
        description: Database name passed to C(pg_isready -d).
        type: str
      user:
        description: User name passed to C(pg_isready -U).
        type: str
      timeout:
        description: Seconds C(pg_isready) waits.
        type: int
        default: 5
  redis:
    description: Redis servers that must answer PING with PONG.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label of the check.
        type: str
      host:
        description: Server address.
        type: str
        default: 127.0.0.1
      port:
        description: Server port.
        type: int
        default: 6379
      password:
        description: Password sent with AUTH before PING.
        type: str
      timeout:
        description: Socket timeout in seconds.
        type: float
        default: 3
  services:
    description: systemd units that must be active.
    type: list
    elements: str
    default: []
  pm2:
    description:
      - pm2 apps that must be online, read from C(pm2 jlist). The probe never starts
        a pm2 daemon; a missing daemon is reported as unhealthy.
    type: list
    elements: dict
    default: []
    suboptions:
      app:
        description: Name of the pm2 app.
        type: str
        required: true
      pm2_home:
        description: PM2_HOME of the user that runs the app; defaults to C(~/.pm2).
        type: path
  disk:
    description: Filesystems and their highest acceptable use.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: A path on the filesystem.
        type: path
        required: true
      max_percent:
        description: Highest acceptable percentage used.
        type: float
        default: 85
  components:
    description:
      - Checks grouped by component (an api, its database, a web site), each with the same check lists as the
        top-level options. Every check of every component runs in this one module run, concurrently with
        the others, and RV(components) reports each component on its own.
      - Check names may repeat across components.
    type: list
    elements: dict
    default: []
    version_added: 0.3.0
    suboptions:
      name:
        description: Name of the component; must be unique.
        type: str
        required: true
      http:
        description: HTTP checks.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Label of the check; defaults to the URL.
            type: str
          url:
            description: URL to call.
            type: str
            required: true
          method:
            description: HTTP method.
            type: str
            default: GET
          headers:
            description:
              - Request headers. Their values (an C(Authorization) bearer token) are
                C(no_log), so they are never shown in the result or the task output.
            type: dict
          body:
            description:
              - Request body, sent as JSON. C(no_log) like O(http[].headers), since a login
                check's body carries a password.
            type: raw
          status:
            description: Status codes that count as healthy.
            type: list
            elements: int
            default: [200]
          json:
            description:
              - Expected JSON fields of the response, by dotted path. A value of V(null)
                only requires the field to be present.
            type: dict
          samples:
            description: Number of requests; timing is reported over all of them.
            type: int
            default: 1
          max_ms:
            description: Highest acceptable 95th percentile latency in milliseconds.
            type: float
          timeout:
            description: Timeout of one request in seconds.
            type: float
            default: 5
          validate_certs:
            description: Verify TLS certificates.
            type: bool
            default: true
      tcp:
        description: TCP ports that must accept a connection.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Label of the check.
            type: str
          host:
            description: Address to connect to.
            type: str
            required: true
          port:
            description: Port to connect to.
            type: int
            required: true
          timeout:
            description: Connect timeout in seconds.
            type: float
            default: 3
      postgres:
        description: PostgreSQL servers checked with C(pg_isready).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Label of the check.
            type: str
          host:
            description: Server address or socket directory.
            type: str
            default: 127.0.0.1
          port:
            description: Server port.
            type: int
            default: 5432
          database:
            description: Database name passed to C(pg_isready -d).
            type: str
          user:
            description: User name passed to C(pg_isready -U).
            type: str
          timeout:
            description: Seconds C(pg_isready) waits.
            type: int
            default: 5
      redis:
        description: Redis servers that must answer PING with PONG.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Label of the check.
            type: str
          host:
            description: Server address.
            type: str
            default: 127.0.0.1
          port:
            description: Server port.
            type: int
            default: 6379
          password:
            description: Password sent with AUTH before PING.
            type: str
          timeout:
            description: Socket timeout in seconds.
            type: float
            default: 3
      services:
        description: systemd units that must be active.
        type: list
        elements: str
        default: []
      pm2:
        description:
          - pm2 apps that must be online, read from C(pm2 jlist). The probe never starts
            a pm2 daemon; a missing daemon is reported as unhealthy.
        type: list
        elements: dict
        default: []
        suboptions:
          app:
            description: Name of the pm2 app.
            type: str
            required: true
          pm2_home:
            description: PM2_HOME of the user that runs the app; defaults to C(~/.pm2).
            type: path
      disk:
        description: Filesystems and their highest acceptable use.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: A path on the filesystem.
            type: path
            required: true
          max_percent:
            description: Highest acceptable percentage used.
            type: float
            default: 85
  memory_max_percent:
    description: Highest acceptable memory use in percent (from C(MemAvailable)).
    type: float
  fail_on_unhealthy:
    description: Fail the task when any check is unhealthy.
    type: bool
    default: false
extends_documentation_fragment:
  - sre.runbooks.attributes.read_only
seealso:
  - module: ansible.builtin.uri
  - module: community.postgresql.postgresql_ping
notes:
  - One module run per host does every check, which keeps wide fan-out cheap.
"""

EXAMPLES = r"""
- name: Check the O4O api host
  sre.runbooks.health_probe:
    http:
      - name: api health
        url: http://localhost:4000/api/health
        json: {status: ok, database: up}
        samples: 10
    postgres:
      - port: 5432
    pm2:
      - app: api-server
    disk:
      - path: /
        max_percent: 85
    memory_max_percent: 90
  register: __health

- name: Check every component of the host in one run, and report each
  sre.runbooks.health_probe:
    components:
      - name: api
        http: [{name: api health, url: "http://localhost:4000/api/health", json: {status: ok}}]
        pm2: [{app: api-server}]
      - name: db
        postgres: [{name: postgresql, port: 5432}]
  register: __probe
# __probe.components.api.healthy, __probe.components.db.checks, ...
"""

RETURN = r"""
healthy:
  description: Whether every check passed, those of O(components) included.
  returned: always
  type: bool
  sample: true
failed_checks:
  description: Names of the checks that did not pass, those of O(components) included.
  returned: always
  type: list
  elements: str
  sample: ["pm2 api-server"]
checks:
  description:
    - One entry per check, in the order http, tcp, postgres, redis, services, pm2, disk, memory; then
      the checks of each of O(components), in the order of O(components) and each in the same order.
    - The checks of a component carry its name in C(component).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: api health, kind: http, ok: true, detail: 200 in 3.1 ms avg, elapsed_ms: 33.0}
components:
  description:
    - Per name of O(components), the result of its checks alone - C(healthy), C(failed_checks) and
      C(checks) as above (each check with C(component)); V({}) without O(components).
  returned: always
  type: dict
  version_added: 0.3.0
  sample:
    api:
      healthy: false
      failed_checks: ["pm2 api-server"]
      checks:
        - {name: pm2 api-server, kind: pm2, ok: false, detail: stopped, elapsed_ms: 410.2, component: api}
    db:
      healthy: true
      failed_checks: []
      checks:
        - {name: postgresql, kind: postgres, ok: true, detail: "127.0.0.1:5432 - accepting connections",
           elapsed_ms: 21.7, rc: 0, component: db}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sre.runbooks.plugins.module_utils._health import run_components

# The check lists, top-level and in each of `components`.
CHECK_OPTIONS = dict(
    http=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(
            name=dict(type='str'),
            url=dict(type='str', required=True),
            method=dict(type='str', default='GET'),
            headers=dict(type='dict', no_log=True),
            body=dict(type='raw', no_log=True),
            status=dict(type='list', elements='int', default=[200]),
            json=dict(type='dict'),
            samples=dict(type='int', default=1),
            max_ms=dict(type='float'),
            timeout=dict(type='float', default=5),
            validate_certs=dict(type='bool', default=True),
        ),
    ),
    tcp=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(
            name=dict(type='str'),
            host=dict(type='str', required=True),
            port=dict(type='int', required=True),
            timeout=dict(type='float', default=3),
        ),
    ),
    postgres=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(
            name=dict(type='str'),
            host=dict(type='str', default='127.0.0.1'),
            port=dict(type='int', default=5432),
            database=dict(type='str'),
            user=dict(type='str'),
            timeout=dict(type='int', default=5),
        ),
    ),
    redis=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(
            name=dict(type='str'),
            host=dict(type='str', default='127.0.0.1'),
            port=dict(type='int', default=6379),
            password=dict(type='str', no_log=True),
            timeout=dict(type='float', default=3),
        ),
    ),
    services=dict(type='list', elements='str', default=[]),
    pm2=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(app=dict(type='str', required=True), pm2_home=dict(type='path')),
    ),
    disk=dict(
        type='list',
        elements='dict',
        default=[],
        options=dict(path=dict(type='path', required=True), max_percent=dict(type='float', default=85)),
    ),
)


def summary(checks: list[dict]) -> dict:
    failed = [check['name'] for check in checks if not check['ok']]
    return dict(healthy=not failed, failed_checks=failed, checks=checks)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            **CHECK_OPTIONS,
            components=dict(
                type='list',
                elements='dict',
                default=[],
                options=dict(name=dict(type='str', required=True), **CHECK_OPTIONS),
            ),
            memory_max_percent=dict(type='float'),
            fail_on_unhealthy=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    names = [component['name'] for component in module.params['components']]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        module.fail_json(msg=f"components: each name once, repeated: {', '.join(repeated)}")

    def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        # A missing program (pg_isready on a host without PostgreSQL) raises OSError, which
        # fails its own check (probe_command), not the module.
        return module.run_command(argv, environ_update=env, handle_exceptions=False)

    top, by_component = run_components(module.params, module.get_bin_path, run)
    checks = top + [check for results in by_component.values() for check in results]
    result = dict(
        changed=False,
        **summary(checks),
        components={name: summary(results) for name, results in by_component.items()},
    )
    if not result['healthy'] and module.params['fail_on_unhealthy']:
        module.fail_json(
            msg='Unhealthy: '
            + '; '.join(
                f"{check['component'] + ': ' if 'component' in check else ''}{check['name']}: {check['detail']}"
                for check in checks
                if not check['ok']
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
