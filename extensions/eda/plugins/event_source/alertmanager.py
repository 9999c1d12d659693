# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event source sre.runbooks.alertmanager: Alertmanager's webhook, one event per alert.

ansible.eda (whose alertmanager source this mirrors) is not installable where this
collection is built and tested: Galaxy is unreachable and the PyPI ``ansible`` bundle
does not carry it. The event shape is the same as ansible.eda.alertmanager's
(``event.alert`` with status, labels, annotations), so rulebooks written against either
work with both.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from typing import Any

from aiohttp import web

DOCUMENTATION = r"""
---
short_description: Receive Prometheus Alertmanager notifications, one event per alert
version_added: 0.2.0
description:
  - Listens for Alertmanager's webhook (webhook_config, payload version 4) and puts one
    event on the queue per alert of each notification, firing or resolved.
  - Each event is C({"alert": {status, labels, annotations, startsAt, endsAt, generatorURL,
    fingerprint}, "meta": {endpoint, receiver, group_key, external_url}}), the shape of
    ansible.eda.alertmanager's events. No C(meta.hosts) is set, so ansible-rulebook puts no
    host limit on the actions; rulebooks pass the alert's target on as an extra variable.
  - A body that is not an Alertmanager notification is answered 400 and makes no event.
options:
  host:
    description: Address to listen on. Loopback by default; Alertmanager on another host needs the host's address.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    required: true
  token:
    description:
      - Bearer token Alertmanager must send (its webhook_config http_config authorization,
        type Bearer). Required unless host is a loopback address: without it any client
        that reaches the port could post alerts.
      - Give it from a vault or the activation's extra variables; it is never logged.
    type: str
"""

EXAMPLES = r"""
- name: Alerts from Alertmanager
  hosts: all
  sources:
    - sre.runbooks.alertmanager:
        host: 127.0.0.1
        port: 5050
        token: "{{ alertmanager_webhook_token }}"
  rules:
    - name: Show firing alerts
      condition: event.alert.status == "firing"
      action:
        debug:
          msg: "{{ event.alert.labels.alertname }} on {{ event.alert.labels.instance }}"
"""

logger = logging.getLogger(__name__)

QUEUE: web.AppKey[asyncio.Queue[Any]] = web.AppKey('queue', asyncio.Queue)
TOKEN: web.AppKey[str] = web.AppKey('token', str)
ALERT_FIELDS = ('status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint')


class NotAnAlertmanagerNotification(ValueError):
    """The posted body is not an Alertmanager webhook notification."""


def alert_events(payload: Any, endpoint: str = '') -> list[dict[str, Any]]:
    """One event per alert of an Alertmanager notification (webhook payload version 4)."""
    if not isinstance(payload, dict) or not isinstance(payload.get('alerts'), list):
        raise NotAnAlertmanagerNotification('expected a JSON object with a list "alerts" (Alertmanager webhook)')
    meta = {
        'endpoint': endpoint,
        'receiver': payload.get('receiver', ''),
        'group_key': payload.get('groupKey', ''),
        'external_url': payload.get('externalURL', ''),
    }
    events = []
    for alert in payload['alerts']:
        if not isinstance(alert, dict) or alert.get('status') not in ('firing', 'resolved'):
            raise NotAnAlertmanagerNotification(f'an alert without status firing or resolved: {alert!r}')
        event_alert = {name: alert.get(name) for name in ALERT_FIELDS}
        event_alert['labels'] = dict(event_alert['labels'] or {})
        event_alert['annotations'] = dict(event_alert['annotations'] or {})
        events.append({'alert': event_alert, 'meta': dict(meta)})
    return events


def authorized(request: web.Request) -> bool:
    """True without a token, else when the request carries it as a Bearer token."""
    token = request.app.get(TOKEN)
    if not token:
        return True
    scheme, _space, given = request.headers.get('Authorization', '').partition(' ')
    return scheme == 'Bearer' and hmac.compare_digest(given.strip().encode(), token.encode())


async def receive(request: web.Request) -> web.Response:
    """Answer one notification: 401 without the token, 400 for a wrong body, else 202."""
    if not authorized(request):
        raise web.HTTPUnauthorized(text='missing or wrong bearer token')
    try:
        payload = await request.json()
        events = alert_events(payload, request.match_info['endpoint'])
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        logger.warning('alertmanager source: refused a post to /%s: %s', request.match_info['endpoint'], error)
        raise web.HTTPBadRequest(text=f'not an Alertmanager notification: {error}') from None
    for event in events:
        await request.app[QUEUE].put(event)
    logger.info(
        'alertmanager source: %d alert(s) from receiver %s',
        len(events),
        events[0]['meta']['receiver'] if events else '-',
    )
    return web.Response(status=202, text=f'{len(events)} alert(s)')


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == 'localhost'


async def main(queue: asyncio.Queue[Any], args: dict[str, Any]) -> None:
    """Serve the webhook until the task is cancelled."""
    if 'port' not in args:
        raise ValueError('sre.runbooks.alertmanager: the argument port is required')
    host = str(args.get('host') or '127.0.0.1')
    if not args.get('token') and not _loopback(host):
        # An alert can trigger a pre-approved production rollback: off loopback, only with a token.
        raise ValueError(
            f'sre.runbooks.alertmanager: listening on {host} needs a token (Alertmanager sends it as '
            'a Bearer token); without one, anyone who reaches the port could post alerts'
        )
    app = web.Application()
    app[QUEUE] = queue
    app[TOKEN] = str(args.get('token') or '')
    app.router.add_post(r'/{endpoint:.*}', receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, int(args['port']))
    await site.start()
    logger.info('alertmanager source: listening on %s:%s', host, args['port'])
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == '__main__':

    class _PrintQueue(asyncio.Queue):
        async def put(self, item: Any) -> None:
            print(item)

    asyncio.run(main(_PrintQueue(), {'port': 5050}))
