"""Benchmark databases on the lab api host, shaped like the issue's floor measurement:
3 tables, 5 indexes, 7.3 M rows at scale 1.0 (about 1 GB)."""

from __future__ import annotations

from .common import psql, say

SCHEMA = """
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
                       created_at timestamptz NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL, amount numeric(12,2) NOT NULL,
                     status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE events (id bigint NOT NULL, account_id bigint NOT NULL, kind text NOT NULL, payload text NOT NULL,
                     at timestamptz NOT NULL);
INSERT INTO accounts SELECT i, 'user' || i || '@example.com', 'User ' || md5(i::text),
       timestamptz '2025-01-01' + i * interval '1 minute' FROM generate_series(1, {accounts}) i;
INSERT INTO orders SELECT i, 1 + i % {accounts}, (i % 100000) / 100.0, (ARRAY['paid','shipped','refunded'])[1 + i % 3],
       timestamptz '2025-01-01' + i * interval '10 seconds' FROM generate_series(1, {orders}) i;
INSERT INTO events SELECT i, 1 + i % {accounts}, (ARRAY['view','click','buy','login'])[1 + i % 4],
       md5(i::text) || ' ' || (i % 977), timestamptz '2025-01-01' + i * interval '1 second'
       FROM generate_series(1, {events}) i;
CREATE INDEX orders_account_id ON orders (account_id);
CREATE INDEX events_at ON events (at);
CREATE TABLE bench_writes (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_meta (scale text NOT NULL);
INSERT INTO bench_meta VALUES ('{scale}');
VACUUM ANALYZE;
"""
# Rows at scale 1.0: 0.5 M accounts, 1.8 M orders, 5 M events (7.3 M).
ROWS = {'accounts': 500_000, 'orders': 1_800_000, 'events': 5_000_000}


def database_name(label: str) -> str:
    """bench_100mb for the size label 100MB."""
    return f'bench_{label.lower()}'


def _scale_of(name: str) -> str | None:
    if psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") != '1':
        return None
    try:
        return psql('SELECT max(scale) FROM bench_meta', database=name)
    except RuntimeError:  # a database of another shape under this name
        return None


def ensure(name: str, scale: float) -> dict:
    """Create database `name` at `scale` unless it exists with that scale; returns its size."""
    rows = {table: max(1000, int(count * scale)) for table, count in ROWS.items()}
    # The scale is kept in a table, which survives the benchmark's own restores.
    if _scale_of(name) != str(scale):
        say(f'creating {name}: {sum(rows.values()):,} rows')
        psql(f'DROP DATABASE IF EXISTS {name}')
        psql(f'CREATE DATABASE {name}')
        psql(SCHEMA.format(scale=scale, **rows), database=name)
    size = int(psql(f"SELECT pg_database_size('{name}')"))
    return {'database': name, 'scale': scale, 'rows': sum(rows.values()), 'size_mb': round(size / 2**20)}


def drop_leftovers(name: str) -> None:
    """The restores keep <db>_broken_<ts> by design; the benchmark drops its own."""
    for leftover in psql(
        f"SELECT datname FROM pg_database WHERE datname LIKE '{name}\\_broken\\_%' OR datname = '{name}_restore'"
    ).split():
        psql(f'DROP DATABASE "{leftover}"')
