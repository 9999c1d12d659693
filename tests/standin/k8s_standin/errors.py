# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes v1 Status errors, as the API stand-in returns them."""

from __future__ import annotations

REASONS = {
    400: 'BadRequest',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    500: 'InternalError',
}


class ApiError(Exception):
    """An error answered as a v1 Status object."""

    def __init__(self, code: int, message: str, reason: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, 'Unknown')
        self.details = details

    def status(self) -> dict:
        body = {
            'kind': 'Status',
            'apiVersion': 'v1',
            'metadata': {},
            'status': 'Failure',
            'message': self.message,
            'reason': self.reason,
            'code': self.code,
        }
        if self.details:
            body['details'] = self.details
        return body


def not_found(res, name: str) -> ApiError:
    what = f'{res.plural}.{res.group}' if res.group else res.plural
    return ApiError(404, f'{what} "{name}" not found', details={'name': name, 'group': res.group, 'kind': res.plural})


def already_exists(res, name: str) -> ApiError:
    what = f'{res.plural}.{res.group}' if res.group else res.plural
    return ApiError(
        409, f'{what} "{name}" already exists', 'AlreadyExists', {'name': name, 'group': res.group, 'kind': res.plural}
    )


def conflict(res, name: str) -> ApiError:
    what = f'{res.plural}.{res.group}' if res.group else res.plural
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        'please apply your changes to the latest version and try again',
        'Conflict',
        {'name': name, 'group': res.group, 'kind': res.plural},
    )
