from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from tests import compiled, support
from yipan.auth.service import passwords
from yipan.events import service as events

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# Argon2 at its production cost takes ~0.1 s a hash; the console's tests sign several users in
# for every test, and the parameters are not what they test (the rehash test sets its own).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def pytest_sessionstart(session: pytest.Session) -> None:
    changed = compiled.stale()
    if changed:
        names = ", ".join(str(path.relative_to(compiled.ROOT)) for path in changed)
        pytest.exit(
            f"{names}: the compiled form beside it is older than the source, or no longer in "
            "setup.py's list, and it is what would be tested: run `make install` to compile "
            "again",
            returncode=2,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` first, the rest in their usual order: pytest-xdist hands tests to its
    workers in this order, and a test of half a minute left for the end keeps one worker busy
    while the others have nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
    return CHEAP_HASHER


@pytest.fixture(autouse=True)
def events_recorded_pending() -> Iterator[None]:
    """A CLI command run in-process tells the outbox the deployment's relay; the next test
    starts again from recording every event pending."""
    yield
    events.deliver_through(None)


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


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """For tests of what only PostgreSQL does (mark them `postgres`)."""
    engine = support.engine_for(support.fresh_postgres())
    yield engine
    engine.dispose()
