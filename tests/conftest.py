from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests import support

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite, then the same test again on PostgreSQL."""
    if request.param == "sqlite":
        return support.fresh_sqlite(sqlite_template, tmp_path / "yipan.db")
    return support.fresh_postgres()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = support.engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """For tests that need storage but say nothing backend-specific."""
    engine = support.engine_for(support.fresh_sqlite(sqlite_template, tmp_path / "one.db"))
    yield engine
    engine.dispose()
