# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the notify role: the runbook's message for an event (R2 CD events, incidents,
alerts), the body each kind of chat webhook takes (Discord, Slack, Mattermost), the webhooks
described without their URLs, and the outcome of the posts. None of them returns a URL: their
results may be shown, the webhook URLs (tokens) may not."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

KINDS = ('discord', 'slack', 'mattermost')
SEVERITIES = ('P0', 'P1', 'P2', 'P3')
# What each service shows at most; the detail is shortened to fit (Discord: 2000 characters).
TEXT_LIMITS = {'discord': 2000, 'slack': 4000, 'mattermost': 16000}
DEFAULT_MAX_LENGTH = 1900
URL = re.compile(r'https?://\S+', re.IGNORECASE)
DISCORD_ROLE = re.compile(r'^<@&(\d+)>$')
DISCORD_USER = re.compile(r'^<@!?(\d+)>$')
# Channel-wide pings in a detail (Mattermost acts on these words); a zero-width space defuses them.
BROADCAST = re.compile(r'@(everyone|here|channel|all)\b', re.IGNORECASE)


def notify_message(  # noqa: PLR0917 - a filter's options are positional in Jinja
    event: str,
    severity: str = '',
    detail: str = '',
    mentions: list[str] | None = None,
    messages: dict[str, dict[str, Any]] | None = None,
    severities: list[dict[str, Any]] | None = None,
    source: str = '',
    severity_emoji: dict[str, str] | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> dict[str, Any]:
    """The message of an event: ``{event, severity, title, text, mentions}``.

    text = '<emoji> [<source>] <severity> <title>: <detail> <mentions>'. The event's entry in
    `messages` gives title, emoji and the severity used when `severity` is empty. Mentions are the
    severity's from the team policy (`severities`, sre_incident_severities) then `mentions`.
    """
    messages = messages or {}
    if event not in messages:
        raise AnsibleFilterError(f"notify_message: unknown event '{event}'; known: {', '.join(sorted(messages))}")
    entry = messages[event] or {}
    if not isinstance(entry, dict) or not entry.get('title'):
        raise AnsibleFilterError(f"notify_message: the message of '{event}' needs a title (notify_messages)")
    severity = (severity or entry.get('severity') or '').strip()
    if severity and severity not in SEVERITIES:
        raise AnsibleFilterError(f"notify_message: severity '{severity}' is not one of '', {', '.join(SEVERITIES)}")
    emoji = entry.get('emoji') or (severity_emoji or {}).get(severity) or ''
    wanted = [*_policy_mentions(severity, severities), *(mentions or [])]
    found = [str(name).strip() for name in wanted if str(name).strip()]
    mention_list = list(dict.fromkeys(found))
    head = ' '.join(part for part in (emoji, f'[{source}]' if source else '', severity, entry['title']) if part)
    tail = (' ' + ' '.join(mention_list)) if mention_list else ''
    detail = BROADCAST.sub('@\u200b\\1', str(detail or '').strip())
    room = max_length - len(head) - len(tail) - 2
    if detail and room < len(detail):
        detail = detail[: max(room - 1, 0)].rstrip() + '…' if room > 1 else ''
    text = head + (f': {detail}' if detail else '') + tail
    return {'event': event, 'severity': severity, 'title': entry['title'], 'text': text, 'mentions': mention_list}


def _policy_mentions(severity: str, severities: list[dict[str, Any]] | None) -> list[str]:
    if not severity:
        return []
    for level in severities or []:
        if isinstance(level, dict) and level.get('severity') == severity:
            return list(level.get('mentions') or [])
    return []


def notify_payload(message: dict[str, Any], kind: str, mention_ids: dict[str, dict[str, str]] | None = None) -> dict:
    """The JSON body of a webhook post of `kind` for a notify_message result.

    discord: ``{content, allowed_mentions}``: only the roles and users named in
    ``mention_ids.discord`` (``{'@devops-oncall': '<@&role id>'}``) are pinged; never @everyone or
    @here from a detail. slack, mattermost: ``{text}``, with ``mention_ids.<kind>`` tags
    (``<!subteam^ID>``, ``<@U123>``) put in place of the names (Mattermost pings ``@name`` itself).
    """
    if kind not in KINDS:
        raise AnsibleFilterError(f"notify_payload: kind '{kind}' is not one of {', '.join(KINDS)}")
    ids = (mention_ids or {}).get(kind) or {}
    text = str(message.get('text') or '')
    tags = []
    for name in message.get('mentions') or []:
        tag = ids.get(name)
        if tag:
            text = re.sub(rf'(?<![\w@<]){re.escape(name)}(?![\w-])', tag, text)
            tags.append(tag)
    limit = TEXT_LIMITS[kind]
    if len(text) > limit:
        text = text[: limit - 1] + '…'
    if kind != 'discord':
        return {'text': text}
    roles = [m.group(1) for m in map(DISCORD_ROLE.match, tags) if m]
    users = [m.group(1) for m in map(DISCORD_USER.match, tags) if m]
    allowed: dict[str, list[str]] = {'parse': []}
    if roles:
        allowed['roles'] = list(dict.fromkeys(roles))
    if users:
        allowed['users'] = list(dict.fromkeys(users))
    return {'content': text, 'allowed_mentions': allowed}


def notify_targets(webhooks: Any) -> list[dict[str, Any]]:
    """Each webhook described without its URL: ``{index, kind, label, host, problem}``.

    label: the entry's ``name``, else '<kind> #<n>'. problem: '' or what is wrong with the entry
    (not a dict, unknown kind, URL missing or not http(s)) in words that do not repeat the URL.
    """
    if webhooks in (None, ''):
        return []
    if not isinstance(webhooks, list):
        raise AnsibleFilterError('notify_targets: the webhooks must be a list of {kind, url} (notify_webhooks)')
    targets = []
    for index, hook in enumerate(webhooks):
        entry = hook if isinstance(hook, dict) else {}
        kind = str(entry.get('kind') or '')
        url = entry.get('url')
        parts = urlsplit(url) if isinstance(url, str) else None
        host = parts.hostname or '' if parts else ''
        if not isinstance(hook, dict):
            problem = 'not a {kind, url} mapping'
        elif kind not in KINDS:
            problem = f"kind '{kind}' is not one of {', '.join(KINDS)}"
        elif not parts or parts.scheme not in ('http', 'https') or not host:
            problem = 'url is missing or is not an http(s) URL'
        else:
            problem = ''
        label = str(entry.get('name') or f'{kind or "webhook"} #{index + 1}')
        targets.append({'index': index, 'kind': kind, 'label': label, 'host': host, 'problem': problem})
    return targets


def notify_outcome(results: list[dict[str, Any]] | None, targets: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of the posts from the uri loop's results (its items are the targets):
    ``{sent, failed, skipped, errors}``. A target with a problem counts as failed; a skipped post
    (check mode) as skipped. Error lines name the target's label, never its URL.
    """
    sent = failed = skipped = 0
    errors = []
    by_index = {}
    for position, result in enumerate(results or []):
        item = result.get('item')
        by_index[item.get('index', position) if isinstance(item, dict) else position] = result
    for target in targets:
        result = by_index.get(target['index'], {})
        if target['problem']:
            failed += 1
            errors.append(f"{target['label']}: {target['problem']}")
        elif not result or result.get('skipped'):
            skipped += 1
        elif 200 <= int(result.get('status') or -1) < 300:
            sent += 1
        else:
            failed += 1
            errors.append(f"{target['label']} ({target['host']}): {_post_error(result)}")
    return {'sent': sent, 'failed': failed, 'skipped': skipped, 'errors': errors}


def _post_error(result: dict[str, Any]) -> str:
    status = int(result.get('status') or -1)
    words = 'no answer' if status < 0 else f'answered {status}'
    msg = URL.sub('<webhook url>', str(result.get('msg') or '')).strip()
    return f'{words} ({msg})' if msg else words


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'notify_message': notify_message,
            'notify_payload': notify_payload,
            'notify_targets': notify_targets,
            'notify_outcome': notify_outcome,
        }
