"""fetch_plain: a PostgreSQL text() statement run through psycopg inside the unit of work."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, Integer, String, bindparam, column, or_, select, table, text

from yipan.kernel.db import fetch_plain, unit_of_work

pytestmark = pytest.mark.postgres

INSERT_EVENT = text(
    "INSERT INTO events_outbox (name, aggregate_type, aggregate_id, payload, occurred_at, status,"
    " attempts, next_attempt_at) VALUES (:name, 't', '1', CAST(:payload AS jsonb), now(),"
    " 'pending', 0, now()) RETURNING id, name, payload, '100%' AS share"
)
COUNT_EVENTS = text("SELECT count(*) FROM events_outbox WHERE name = :name")


def count(engine: Engine, name: str) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return int(session.execute(COUNT_EVENTS, {"name": name}).scalar_one())


def test_rows_come_back_by_name_and_the_write_commits_with_the_unit_of_work(
    pg_engine: Engine,
) -> None:
    with unit_of_work(pg_engine) as session:
        (row,) = fetch_plain(session, INSERT_EVENT, {"name": "kept", "payload": '{"门店": 1}'})
        # Seen by the session's own statements: the same transaction.
        assert session.execute(COUNT_EVENTS, {"name": "kept"}).scalar_one() == 1

    assert row.name == "kept"
    assert row.payload == {"门店": 1}
    assert row.share == "100%"
    assert row.id > 0
    assert count(pg_engine, "kept") == 1


def write_then_fail(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        fetch_plain(session, INSERT_EVENT, {"name": "undone", "payload": "{}"})
        raise RuntimeError("the caller fails after the write")


def test_the_write_is_rolled_back_with_the_unit_of_work(pg_engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="after the write"):
        write_then_fail(pg_engine)

    assert count(pg_engine, "undone") == 0


def test_a_core_statement_keeps_its_own_bound_values(pg_engine: Engine) -> None:
    """Values a Core statement binds itself (the `> 1` below) go with it; the caller's by name,
    each one wherever it appears."""
    attempts = column("attempts", Integer)
    name = column("name", String)
    outbox = table("events_outbox", name, attempts)
    with unit_of_work(pg_engine) as session:
        for label in ("a", "b", "c"):
            fetch_plain(session, INSERT_EVENT, {"name": label, "payload": "{}"})
        session.execute(text("UPDATE events_outbox SET attempts = 3 WHERE name <> 'a'"))
        statement = (
            select(name)
            .select_from(outbox)
            .where(
                attempts > 1, or_(name == bindparam("wanted"), name == bindparam("wanted") + "x")
            )
        )
        rows = fetch_plain(session, statement, {"wanted": "b"})

    assert [row.name for row in rows] == ["b"]
