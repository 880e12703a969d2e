"""Test databases: a migrated SQLite file per test, and PostgreSQL when one is configured.

`YIPAN_TEST_DATABASE_URL` points at a PostgreSQL database the tests may wipe. Without it the
PostgreSQL variants skip, unless `YIPAN_REQUIRE_SERVICES=1`, where they fail instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from yipan.kernel import migrate
from yipan.kernel.db import make_engine
from yipan.tables import metadata

PG_URL = os.environ.get("YIPAN_TEST_DATABASE_URL", "")
REQUIRE_SERVICES = os.environ.get("YIPAN_REQUIRE_SERVICES") == "1"


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


def fresh_postgres() -> str:
    """Migrate the PostgreSQL test database once, then empty every table for each test."""
    global _pg_migrated
    url = require_postgres()
    engine = make_engine(url, pool_size=1)
    try:
        if not _pg_migrated:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            migrate.upgrade(engine)
            _pg_migrated = True
        names = ", ".join(t.name for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


def engine_for(url: str) -> Engine:
    # A new engine per test: caches of code → id are per engine and ids restart each test.
    return make_engine(url, pool_size=4)
