# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-ins for API-contract tests: small servers that speak a real API closely enough for real clients."""
