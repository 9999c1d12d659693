# SPDX-License-Identifier: GPL-3.0-or-later
"""A Loki API stand-in for API-contract tests (runbook P9): its own aiohttp server process that
answers ``/ready`` and ``/loki/api/v1/query_range`` with Loki's response shape (``data.resultType:
streams``, ``result: [{stream, values: [[ns, line]]}]``) for the runbook's LogQL only - a stream
selector, line filters (``|=``, ``!=``, ``|~``, ``!~``), ``| json`` and label filters, with Loki's
pipeline-error semantics (``__error__``). It is not Loki: no storage, no metric queries, no other
endpoint. Loki cannot be installed here (no Debian or PyPI package).

Server: ``python -m tests.standin.loki_standin --port 0 --ready-file PATH`` (``__main__``).
Tests: ``tests.standin.loki_standin.client.loki_standin()``.
"""
