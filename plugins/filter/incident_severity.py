# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident severity of a team (runbooks R1, F10, O11): measured signals against the
team's policy (group vars ``sre_incident_severities``), most severe level first."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# The signals of the contract (issue #16), in the order they are reported.
SIGNALS = (
    'health_ok',
    'consecutive_health_failures',
    'error_5xx_ratio',
    'success_ratio',
    'latency_ratio',
    'latency_p95_seconds',
    'build_failed',
    'error_lines',
    'queue_backlog',
    'db_connections_ratio',
)
BOOL_SIGNALS = frozenset({'health_ok', 'build_failed'})
# true/false as Jinja may render them.
TRUE_WORDS = frozenset({'true', 'yes', 'on', '1'})
FALSE_WORDS = frozenset({'false', 'no', 'off', '0'})
SEVERITIES = ('P0', 'P1', 'P2', 'P3')
# Condition operators: the value of the signal compared with the condition's value.
OPERATORS = {
    'equals': ('=', lambda value, limit: value == limit),
    'above': ('>', lambda value, limit: value > limit),
    'below': ('<', lambda value, limit: value < limit),
    'at_least': ('>=', lambda value, limit: value >= limit),
    'at_most': ('<=', lambda value, limit: value <= limit),
}
LEVEL_KEYS = frozenset({'severity', 'description', 'respond_within_minutes', 'action', 'mentions', 'conditions'})
SIGNAL_NAME = re.compile(r'^[a-z][a-z0-9_]*$')


def incident_severity(signals: Mapping[str, Any] | None, severities: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The first level of `severities` (most severe first) with a condition that the
    measured `signals` meet. `unknown` when nothing was measured, `none` when something
    was and no level matched."""
    levels = _levels(severities)
    known = set(SIGNALS) | {cond['signal'] for level in levels for cond in level['conditions']}
    values = _signals(signals, known)
    measured = [name for name in SIGNALS if name in values] + sorted(set(values) - set(SIGNALS))
    if not measured:
        return {
            'severity': 'unknown',
            'reasons': [
                'no signal was measured (health, 5xx ratio, success ratio, latency, build): '
                'an incident cannot be ruled out; measure before deciding'
            ],
            'respond_within_minutes': None,
            'action': 'diagnose',
            'mentions': [],
            'measured': [],
        }
    for level in levels:
        reasons = [
            reason for cond in level['conditions'] if (reason := _matches(cond, values, level['severity'])) is not None
        ]
        if reasons:
            return {
                'severity': level['severity'],
                'reasons': reasons,
                'respond_within_minutes': level['respond_within_minutes'],
                'action': level['action'],
                'mentions': list(level['mentions']),
                'measured': measured,
            }
    return {
        'severity': 'none',
        'reasons': [
            f'measured {", ".join(f"{name}={_show(values[name])}" for name in measured)}: '
            f'no condition of {", ".join(level["severity"] for level in levels)} is met'
        ],
        'respond_within_minutes': None,
        'action': 'none',
        'mentions': [],
        'measured': measured,
    }


def _matches(cond: dict[str, Any], values: dict[str, Any], severity: str) -> str | None:
    """Why `cond` holds for the measured values ("error_5xx_ratio 0.62 > 0.5 (P0)"), or None:
    an unmeasured signal meets no condition; every operator of a condition must hold."""
    name = cond['signal']
    if name not in values:
        return None
    value = values[name]
    parts = []
    for op, limit in cond['ops'].items():
        symbol, test = OPERATORS[op]
        if isinstance(limit, bool) != isinstance(value, bool):
            kind = 'true/false' if isinstance(limit, bool) else 'a number'
            raise AnsibleFilterError(
                f'incident_severity: signal {name}={_show(value)} cannot be compared with {op} {_show(limit)} '
                f'(the condition of {severity} expects {kind}); fix the measurement or the policy'
            )
        if not test(value, limit):
            return None
        parts.append(f'{symbol} {_show(limit)}')
    return f'{name} {_show(value)} {" and ".join(parts)} ({severity})'


def _levels(severities: Any) -> list[dict[str, Any]]:
    """The policy, validated: levels with a known, unique severity, the keys of the contract
    and well-formed conditions."""
    if not isinstance(severities, list) or not severities:
        raise AnsibleFilterError(
            'incident_severity: the severities must be a non-empty list of levels (the group var '
            f'sre_incident_severities), got {type(severities).__name__}: {_show(severities)}'
        )
    levels: list[dict[str, Any]] = []
    for number, level in enumerate(severities, 1):
        where = f'incident_severity: level {number} of the severities'
        if not isinstance(level, Mapping):
            raise AnsibleFilterError(f'{where} is not a dict: {_show(level)}')
        unknown = set(level) - LEVEL_KEYS
        if unknown:
            raise AnsibleFilterError(f'{where} has unknown keys {sorted(unknown)}; allowed: {sorted(LEVEL_KEYS)}')
        severity = level.get('severity')
        if severity not in SEVERITIES:
            raise AnsibleFilterError(f'{where} has severity {_show(severity)}; expected one of {", ".join(SEVERITIES)}')
        if any(seen['severity'] == severity for seen in levels):
            raise AnsibleFilterError(f'{where}: severity {severity} appears twice')
        minutes = level.get('respond_within_minutes')
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0):
            raise AnsibleFilterError(f'{where} ({severity}): respond_within_minutes must be a whole number >= 0')
        mentions = level.get('mentions') or []
        if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
            raise AnsibleFilterError(f'{where} ({severity}): mentions must be a list of strings')
        conditions = level.get('conditions')
        if not isinstance(conditions, list):
            raise AnsibleFilterError(
                f'{where} ({severity}): conditions must be a list (empty when no measured signal leads to it)'
            )
        levels.append(
            {
                'severity': severity,
                'respond_within_minutes': minutes,
                'action': str(level.get('action') or 'diagnose'),
                'mentions': mentions,
                'conditions': [_condition(cond, f'{where} ({severity})') for cond in conditions],
            }
        )
    return levels


def _condition(cond: Any, where: str) -> dict[str, Any]:
    if not isinstance(cond, Mapping) or not isinstance(cond.get('signal'), str):
        raise AnsibleFilterError(f'{where}: a condition must be a dict with a signal name, got {_show(cond)}')
    name = cond['signal']
    if not SIGNAL_NAME.match(name):
        raise AnsibleFilterError(f'{where}: {name!r} is not a signal name (lower case, digits, _)')
    ops = {key: value for key, value in cond.items() if key != 'signal'}
    unknown = set(ops) - set(OPERATORS)
    if unknown or not ops:
        raise AnsibleFilterError(
            f'{where}: the condition on {name} needs one or more of {", ".join(OPERATORS)}'
            + (f' (unknown: {", ".join(sorted(unknown))})' if unknown else '')
        )
    for op, limit in ops.items():
        numeric = isinstance(limit, (int, float)) and not isinstance(limit, bool)
        if op == 'equals' and not (numeric or isinstance(limit, bool)):
            raise AnsibleFilterError(f'{where}: {name} equals {_show(limit)}: expected true, false or a number')
        if op != 'equals' and not numeric:
            raise AnsibleFilterError(f'{where}: {name} {op} {_show(limit)}: expected a number')
        if name in BOOL_SIGNALS and not isinstance(limit, bool):
            raise AnsibleFilterError(f'{where}: {name} is true or false; compare it with equals: true|false')
    return {'signal': name, 'ops': ops}


def _signals(signals: Any, known: set[str]) -> dict[str, Any]:
    """The measured signals: None, absent and NaN (a ratio of nothing) are not measured;
    true/false and numbers given as text (Jinja's habit) are converted."""
    if signals is None:
        return {}
    if not isinstance(signals, Mapping):
        raise AnsibleFilterError(
            f'incident_severity: the signals must be a dict (signal: value), got {type(signals).__name__}: '
            f'{_show(signals)}'
        )
    unknown = set(signals) - known
    if unknown:
        raise AnsibleFilterError(
            f'incident_severity: unknown signals {sorted(map(str, unknown))}; known: {", ".join(sorted(known))}'
        )
    values: dict[str, Any] = {}
    for name, raw in signals.items():
        value = _value(name, raw)
        if value is not None:
            values[name] = value
    return values


def _value(name: str, raw: Any) -> bool | float | int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if name in BOOL_SIGNALS:
        if isinstance(raw, bool):
            return raw
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in TRUE_WORDS or text in FALSE_WORDS:
            return text in TRUE_WORDS
        raise AnsibleFilterError(f'incident_severity: signal {name} must be true or false, got {_show(raw)}')
    if isinstance(raw, bool):
        raise AnsibleFilterError(f'incident_severity: signal {name} must be a number, got {raw}')
    if isinstance(raw, (int, float)):
        number: float | int = raw
    else:
        try:
            number = float(str(raw).strip())
        except ValueError:
            raise AnsibleFilterError(f'incident_severity: signal {name} must be a number, got {_show(raw)}') from None
    if isinstance(number, float) and math.isnan(number):
        return None
    if number < 0:
        raise AnsibleFilterError(f'incident_severity: signal {name} cannot be negative ({_show(raw)})')
    return number


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        return f'{value:g}'
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + '...'


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {'incident_severity': incident_severity}
