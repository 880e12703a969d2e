"""Test databases: a migrated SQLite file per test, and PostgreSQL when one is configured.

`YIPAN_TEST_DATABASE_URL` points at a PostgreSQL database the tests may wipe (with pytest-xdist,
one database per worker beside it). Without it the PostgreSQL variants skip, unless
`YIPAN_REQUIRE_SERVICES=1`, where they fail instead.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from yipan.kernel import migrate
from yipan.kernel.db import make_engine, normalise_url
from yipan.tables import metadata

REQUIRE_SERVICES = os.environ.get("YIPAN_REQUIRE_SERVICES") == "1"


def _database_of_this_worker(url: str) -> str:
    """Under pytest-xdist each worker empties and migrates the database at will, so each gets its
    own, named after the configured one (`yipan_test` → `yipan_test_gw0`), created when missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    configured = make_url(url)
    own = f"{configured.database}_{worker}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{own}"'))
    finally:
        admin.dispose()
    return configured.set(database=own).render_as_string(hide_password=False)


PG_URL = _database_of_this_worker(os.environ.get("YIPAN_TEST_DATABASE_URL", ""))


def require_postgres() -> str:
    if not PG_URL:
        if REQUIRE_SERVICES:
            pytest.fail("YIPAN_REQUIRE_SERVICES=1 but YIPAN_TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need YIPAN_TEST_DATABASE_URL")
    return PG_URL


def sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file, made once per session and copied for each test."""
    template = directory / "template.db"
    if not template.exists():
        engine = make_engine(f"sqlite:///{template}")
        migrate.upgrade(engine)
        engine.dispose()
    return template


def fresh_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


_pg_migrated = False
_emptying: tuple[str, str] | None = None  # (which tables hold rows, restart every sequence)


def fresh_postgres() -> str:
    """Migrate the PostgreSQL test database once; then, for each test, truncate the tables that
    hold rows and restart every sequence.

    Truncating all ~60 tables took ~260 ms a test here, most of it PostgreSQL giving each table
    new files; a test writes to a handful of them, and an empty table needs nothing."""
    global _pg_migrated, _emptying
    url = require_postgres()
    engine = make_engine(url, pool_size=1)
    try:
        if not _pg_migrated:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            migrate.upgrade(engine)
            _pg_migrated = True
        with engine.begin() as conn:
            if _emptying is None:
                _emptying = _emptying_statements(conn)
            holding, restart = _emptying
            names = ", ".join(conn.execute(text(holding)).scalars())
            if names:
                conn.execute(text(f"TRUNCATE {names} CASCADE"))
            conn.execute(text(restart))
    finally:
        engine.dispose()
    return url


def _emptying_statements(conn: Connection) -> tuple[str, str]:
    """One statement naming the tables that hold a row, one restarting every sequence where
    it starts (what `TRUNCATE … RESTART IDENTITY` did for all of them)."""
    holding = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT FROM {t.name})" for t in metadata.sorted_tables
    )
    sequences = conn.execute(
        text(
            "SELECT format('setval(%L, %s, false)', schemaname || '.' || sequencename, "
            "start_value) FROM pg_sequences WHERE schemaname = current_schema()"
        )
    ).scalars()
    return holding, "SELECT " + ", ".join(sequences)


def engine_for(url: str) -> Engine:
    # A new engine per test: caches of code → id are per engine and ids restart each test.
    return make_engine(url, pool_size=4)


def run_in_processes(
    target: Callable[..., None],
    args_of_worker: Sequence[tuple[Any, ...]],
    *,
    finish_within: float = 600.0,
) -> list[Any]:
    """Real concurrency: one OS process per worker, each called as `target(*args, barrier, out)`.

    The barrier lets them start together; each puts one result on `out`. Fails fast (and kills
    the rest) when a worker dies or they do not finish in time; returns the results in the order
    they came.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args_of_worker))
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for args in args_of_worker]
    for p in procs:
        p.start()
    results: list[Any] = []
    try:
        deadline = time.monotonic() + finish_within
        for _ in procs:
            while True:
                try:
                    results.append(out.get(timeout=2))
                    break
                except queue.Empty:
                    died = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                    assert not died, f"a worker process died (exit codes {died})"
                    assert time.monotonic() < deadline, "the workers did not finish"
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0, "a worker process crashed"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return results
