# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the incident log (runbooks R5, F10, O11): the JSON lines of
``incidents/incident_YYYYMMDD.log`` read back into incidents, and the escalation
levels that are due and not notified yet. The log is the record: whether a level
was notified is decided from its ``escalate`` lines, never from a local marker."""

from __future__ import annotations

import datetime
import json
from typing import Any

from ansible.errors import AnsibleFilterError

EVENTS = ('open', 'update', 'escalate', 'resolve')
UTC = datetime.timezone.utc


def _when(value: Any) -> datetime.datetime:
    """A UTC datetime from an ISO 8601 text (Z, an offset, or none: UTC) or a datetime."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value or '').strip()
        if not text:
            raise AnsibleFilterError('incident time: empty; give an ISO 8601 time such as 2026-12-05T06:00:00Z')
        try:
            moment = datetime.datetime.fromisoformat(text.replace('Z', '+00:00').replace('z', '+00:00'))
        except ValueError as error:
            raise AnsibleFilterError(
                f'incident time {text!r} is not an ISO 8601 time (such as 2026-12-05T06:00:00Z)'
            ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(value: Any) -> str:
    """A time of the log as it writes it (lenient: the log's own lines)."""
    return _when(value).strftime('%Y-%m-%dT%H:%M:%SZ')


def incident_utc(value: Any = None) -> str:
    """The time as the log writes it: UTC, whole seconds, ``Z``; now when value is empty.

    A time an operator gives must say its zone (``Z`` or an offset): a Seoul time read as
    UTC would open the incident 9 hours late, or in the future, and silence its escalation.
    A time in the future is refused for the same reason.
    """
    now = datetime.datetime.now(UTC)
    if not value:
        return now.strftime('%Y-%m-%dT%H:%M:%SZ')
    if not isinstance(value, datetime.datetime):
        text = str(value).strip()
        try:
            given = datetime.datetime.fromisoformat(text.replace('Z', '+00:00').replace('z', '+00:00'))
        except ValueError:
            given = None  # _when says what is wrong
        if given is not None and given.tzinfo is None:
            raise AnsibleFilterError(
                f'incident time {text!r} has no time zone: add Z (UTC) or an offset, such as {text}Z or {text}+09:00'
            )
    moment = _when(value)
    if moment > now + datetime.timedelta(minutes=1):
        raise AnsibleFilterError(
            f'incident time {moment:%Y-%m-%dT%H:%M:%SZ} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ}): '
            'give when the incident began, with its time zone'
        )
    return _text(moment)


def incident_log(lines: list[Any]) -> dict[str, Any]:
    """The incidents in the log's lines (text or parsed), each with its events in time order.

    Returns ``{incidents: [...], unreadable: [line, ...]}``; incidents are sorted by when
    they opened, each ``{id, team, opened_at, severity, summary, by, resolved, resolved_at,
    escalated: [level, ...], events: [...]}``. A line that is not a JSON object with an id,
    a known event and a time is unreadable (listed, never guessed at). An incident whose
    open line is missing (a damaged log) keeps its first event's time as opened_at.
    """
    found: dict[str, list[tuple[datetime.datetime, int, dict[str, Any]]]] = {}
    unreadable: list[str] = []
    for number, line in enumerate(lines or []):
        if isinstance(line, str) and not line.strip():
            continue
        try:
            record = json.loads(line) if isinstance(line, str) else dict(line)
            if not isinstance(record, dict) or not record.get('id') or record.get('event') not in EVENTS:
                raise ValueError('not an incident event')
            moment = _when(record.get('at'))
        except (ValueError, TypeError, AnsibleFilterError):
            unreadable.append(line if isinstance(line, str) else json.dumps(line, default=str))
            continue
        found.setdefault(str(record['id']), []).append((moment, number, record))
    incidents = [_incident(key, sorted(events, key=lambda event: event[:2])) for key, events in found.items()]
    return {
        'incidents': sorted(incidents, key=lambda incident: (incident['opened_at'], incident['id'])),
        'unreadable': unreadable,
    }


def _incident(key: str, events: list[tuple[datetime.datetime, int, dict[str, Any]]]) -> dict[str, Any]:
    records = [record for _moment, _number, record in events]
    opens = [record for record in records if record['event'] == 'open']
    first = opens[0] if opens else records[0]
    incident: dict[str, Any] = {
        'id': key,
        'team': first.get('team', ''),
        'opened_at': _text(first['at']),
        'severity': first.get('severity') or '',
        'summary': first.get('summary') or '',
        'by': first.get('by') or '',
        'resolved': False,
        'resolved_at': None,
        'escalated': [],
        'events': [{**record, 'at': _text(record['at'])} for record in records],
    }
    for record in records:
        if record['event'] in ('update', 'resolve'):
            incident['severity'] = record.get('severity') or incident['severity']
            incident['summary'] = record.get('summary') or incident['summary']
        if record['event'] == 'escalate' and record.get('level') and record['level'] not in incident['escalated']:
            incident['escalated'].append(record['level'])
        if record['event'] == 'resolve' and not incident['resolved']:
            incident['resolved'], incident['resolved_at'] = True, _text(record['at'])
    return incident


def incident_find(log: dict[str, Any], incident_id: str) -> dict[str, Any] | None:
    """The incident with this id in incident_log's result, None when the log has none."""
    return next((incident for incident in (log or {}).get('incidents', []) if incident['id'] == incident_id), None)


def incident_due_escalations(
    log: dict[str, Any], escalation: list[dict[str, Any]], team: str, now: Any = None
) -> list[dict[str, Any]]:
    """Each (incident, level) to notify now, in order: the team's incidents not resolved,
    every level whose after_minutes have passed since the incident opened and that has no
    escalate line yet; a level whose ``immediately_for`` lists the incident's severity is due
    at once (Fragrance's L4: CTO after 60 minutes, or at once for P0). Each ``{id, team,
    summary, severity, opened_at, minutes_open, level, who, after_minutes, mentions}``."""
    if not isinstance(escalation, list) or not escalation:
        raise AnsibleFilterError(
            f'team {team}: no escalation path (sre_incident_escalation is empty); set the levels in its group vars'
        )
    levels = []
    for entry in escalation:
        if not isinstance(entry, dict) or not entry.get('level') or not isinstance(entry.get('after_minutes'), int):
            raise AnsibleFilterError(
                f'team {team}: escalation level {entry!r} needs level and after_minutes (an integer), who and mentions'
            )
        levels.append(entry)
    levels.sort(key=lambda entry: entry['after_minutes'])
    moment = _when(now) if now else datetime.datetime.now(UTC)
    due = []
    for incident in (log or {}).get('incidents', []):
        if incident['team'] != team or incident['resolved']:
            continue
        minutes = (moment - _when(incident['opened_at'])).total_seconds() / 60
        for entry in levels:
            at_once = incident['severity'] in (entry.get('immediately_for') or [])
            if (at_once or entry['after_minutes'] <= minutes) and entry['level'] not in incident['escalated']:
                due.append(
                    {
                        'id': incident['id'],
                        'team': team,
                        'summary': incident['summary'],
                        'severity': incident['severity'],
                        'opened_at': incident['opened_at'],
                        'minutes_open': int(minutes),
                        'level': entry['level'],
                        'who': entry.get('who', ''),
                        'after_minutes': entry['after_minutes'],
                        'mentions': list(entry.get('mentions') or []),
                    }
                )
    return due


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            'incident_utc': incident_utc,
            'incident_log': incident_log,
            'incident_find': incident_find,
            'incident_due_escalations': incident_due_escalations,
        }
