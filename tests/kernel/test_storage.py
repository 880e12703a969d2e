from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from yipan.events import service as events
from yipan.events.models import OutboxEvent
from yipan.events.worker import OutboxWorker
from yipan.inventory.events import NodeSaved
from yipan.kernel import migrate
from yipan.kernel.db import WriteInReadOnlyWork, normalise_url, on_commit, unit_of_work


def test_models_and_migrations_agree(engine: Engine) -> None:
    migrate.check(engine)  # raises when `alembic check` would find changes


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("postgres://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert normalise_url("sqlite:///./yipan.db") == "sqlite:///./yipan.db"


def test_the_worker_delivers_right_after_a_commit(engine: Engine) -> None:
    delivered = threading.Event()
    registry = events.HandlerRegistry()
    registry.register(NodeSaved.name, lambda _s, _m: delivered.set())
    worker = OutboxWorker(engine, events.InProcessRelay(registry), poll_seconds=60)
    worker.start()
    try:
        with unit_of_work(engine) as session:
            events.record(session, NodeSaved(node="ST-1", created=True))
        # The poll is a minute away: only the commit's wake-up can deliver in time.
        assert delivered.wait(timeout=20)
    finally:
        worker.stop()


def test_only_commits_that_recorded_events_wake_the_listeners(engine: Engine) -> None:
    """Otherwise the outbox worker, whose own deliveries commit, would wake itself forever."""
    woken: list[int] = []
    on_commit(engine, lambda: woken.append(1))
    with unit_of_work(engine) as session:
        session.execute(text("SELECT 1"))
    with pytest.raises(WriteInReadOnlyWork), unit_of_work(engine, readonly=True) as session:
        events.record(session, NodeSaved(node="ST-1", created=True))
    assert woken == []
    with unit_of_work(engine) as session:
        events.record(session, NodeSaved(node="ST-1", created=True))
    assert woken == [1]

    def failing() -> None:
        with unit_of_work(engine) as session:
            events.record(session, NodeSaved(node="ST-1", created=False))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        failing()
    assert woken == [1]


def test_a_read_only_unit_of_work_refuses_every_way_of_writing(engine: Engine) -> None:
    """On PostgreSQL it has no transaction block, so a write would be kept at once: it is refused
    instead, whether it is a statement, a data-modifying CTE or a bulk `COPY`, and nothing of it
    is written."""
    with unit_of_work(engine) as session:
        events.record(session, NodeSaved(node="ST-1", created=True))
    many = [NodeSaved(node=f"ST-{n}", created=True) for n in range(30)]  # `COPY` on PostgreSQL
    writes = [
        lambda session: events.record(session, NodeSaved(node="ST-2", created=True)),
        lambda session: events.record_many(session, many),
        lambda session: session.execute(text("UPDATE events_outbox SET attempts = 7")),
        lambda session: session.execute(
            text("WITH gone AS (DELETE FROM events_outbox RETURNING id) SELECT count(*) FROM gone")
        ),
    ]
    for write in writes:
        with pytest.raises(WriteInReadOnlyWork), unit_of_work(engine, readonly=True) as session:
            write(session)
    with unit_of_work(engine, readonly=True) as session:
        kept = session.execute(select(func.count(), func.max(OutboxEvent.attempts))).one()
    assert tuple(kept) == (1, 0)


@pytest.mark.postgres
def test_read_only_work_on_postgresql_runs_each_statement_on_its_own(pg_engine: Engine) -> None:
    """No `BEGIN` and `ROLLBACK` round trips for reads; a writing unit of work on the same pooled
    connection afterwards still has its transaction."""
    moments = "SELECT transaction_timestamp()"
    with unit_of_work(pg_engine, readonly=True) as session:
        first = session.scalar(text(moments))
        time.sleep(0.01)
        assert session.scalar(text(moments)) > first
    with unit_of_work(pg_engine) as session:
        first = session.scalar(text(moments))
        time.sleep(0.01)
        assert session.scalar(text(moments)) == first


def test_timestamps_come_back_in_utc_on_every_backend(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        events.record(session, NodeSaved(node="ST-1", created=True))
    with unit_of_work(engine, readonly=True) as session:
        [event] = events.recent_events(session)
    assert event["occurred_at"].utcoffset() == timedelta(0)


def test_a_timestamp_sent_with_an_offset_is_stored_as_the_same_instant(engine: Engine) -> None:
    from datetime import UTC, datetime, timezone

    from yipan.kernel.clock import FakeClock

    shanghai = datetime(2026, 11, 22, 13, 42, 10, tzinfo=timezone(timedelta(hours=8)))
    with unit_of_work(engine) as session:
        events.record(session, NodeSaved(node="ST-1", created=True), clock=FakeClock(shanghai))
    with unit_of_work(engine, readonly=True) as session:
        [event] = events.recent_events(session)
    assert event["occurred_at"] == shanghai
    assert event["occurred_at"] == datetime(2026, 11, 22, 5, 42, 10, tzinfo=UTC)
