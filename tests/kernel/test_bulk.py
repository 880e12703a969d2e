"""Rows appended in bulk read back exactly as rows the ORM wrote, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yipan.events.models import OutboxEvent
from yipan.kernel.bulk import append_rows, bulk_insert, reserve_ids
from yipan.kernel.db import unit_of_work

OUTBOX = cast(Table, OutboxEvent.__table__)
COLUMNS = (
    "name",
    "aggregate_type",
    "aggregate_id",
    "payload",
    "occurred_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "delivered_at",
)
SHANGHAI = timezone(timedelta(hours=8))
AT = datetime(2026, 6, 18, 20, 30, 0, tzinfo=SHANGHAI)  # 12:30 UTC
# What COPY's text format must escape (backslash, tab, newline) and what JSON must (quotes).
PAYLOAD = {"门店": "南京鼓楼旗舰店", "lines": [1, 2], "none": None, "note": 'a\\b\tc\nd "e"'}


def test_appended_rows_read_back_like_orm_rows_and_compare_in_sql_alike(engine: Engine) -> None:
    payload = PAYLOAD
    with unit_of_work(engine) as session:
        session.add(
            OutboxEvent(
                name="orm",
                aggregate_type="t",
                aggregate_id="1",
                payload=payload,
                occurred_at=AT,
                status="pending",
                attempts=0,
                next_attempt_at=AT,
            )
        )
        session.flush()
        append_rows(
            session,
            OUTBOX,
            COLUMNS,
            [
                ("bulk", "t", "2", payload, AT, "pending", 0, AT, None, None),
                # Whole seconds: stored with six digits of microseconds all the same.
                ("late", "t", "3", {}, AT.astimezone(UTC) + timedelta(seconds=1), "done", 3,
                 AT, "boom", AT),
            ],
        )  # fmt: skip

    with unit_of_work(engine, readonly=True) as session:
        rows = {e.name: e for e in session.scalars(select(OutboxEvent))}
        orm, bulk, late = rows["orm"], rows["bulk"], rows["late"]
        assert (bulk.payload, bulk.occurred_at, bulk.next_attempt_at) == (
            orm.payload,
            orm.occurred_at,
            orm.next_attempt_at,
        )
        assert bulk.occurred_at.tzinfo is not None
        assert bulk.occurred_at == datetime(2026, 6, 18, 12, 30, tzinfo=UTC)
        assert (bulk.last_error, bulk.delivered_at) == (None, None)
        assert (late.attempts, late.last_error, late.delivered_at) == (3, "boom", AT)
        at_or_after = select(func.count()).where(OutboxEvent.occurred_at >= AT)
        assert session.scalar(at_or_after) == 3
        after = select(func.count()).where(OutboxEvent.occurred_at > AT)
        assert session.scalar(after) == 1


def test_nothing_to_append_is_no_statement(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        append_rows(session, OUTBOX, COLUMNS, [])
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def _event(name: str, occurred_at: datetime) -> dict[str, object]:
    return {
        "name": name,
        "aggregate_type": "t",
        "aggregate_id": "1",
        "payload": PAYLOAD,
        "occurred_at": occurred_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": occurred_at,
    }


def test_dict_rows_read_back_like_orm_rows(engine: Engine) -> None:
    naive_utc = datetime(2026, 6, 18, 12, 30)  # SQLite hands these back; taken as UTC
    with unit_of_work(engine) as session:
        session.add(OutboxEvent(**_event("orm", AT)))
        session.flush()
        bulk_insert(session, OUTBOX, [_event("dict", AT), _event("naive", naive_utc)])

    with unit_of_work(engine, readonly=True) as session:
        rows = {e.name: e for e in session.scalars(select(OutboxEvent))}
        for name in ("dict", "naive"):
            got, orm = rows[name], rows["orm"]
            assert (got.payload, got.occurred_at, got.next_attempt_at, got.attempts) == (
                orm.payload,
                orm.occurred_at,
                orm.next_attempt_at,
                orm.attempts,
            )
        assert session.scalar(select(func.count()).where(OutboxEvent.occurred_at == AT)) == 3


def _append_as_tuples(session: Session, rows: list[dict[str, object]]) -> None:
    columns = tuple(rows[0])
    append_rows(session, OUTBOX, columns, [tuple(r[c] for c in columns) for r in rows])


def _append_as_dicts(session: Session, rows: list[dict[str, object]]) -> None:
    bulk_insert(session, OUTBOX, rows)


@pytest.mark.parametrize("append", [_append_as_tuples, _append_as_dicts])
def test_a_refused_row_is_sqlalchemys_integrity_error_and_leaves_nothing(
    engine: Engine, append: Callable[[Session, list[dict[str, object]]], None]
) -> None:
    rows = [_event("good", AT), {**_event("bad", AT), "name": None}]
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        append(session, rows)
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_reserved_ids_ascend_are_free_and_never_reserved_twice(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.add(OutboxEvent(**_event("orm", AT)))
        session.flush()
        taken = session.scalar(select(func.max(OutboxEvent.id)))
        first = reserve_ids(session, OUTBOX, 3)
        assert first == sorted(set(first))
        assert len(first) == 3
        assert first[0] > taken
        bulk_insert(
            session, OUTBOX, [{**_event(f"r{n}", AT), "id": i} for n, i in enumerate(first)]
        )
    with unit_of_work(engine) as session:
        second = reserve_ids(session, OUTBOX, 1000)
        assert second == sorted(set(second))
        assert len(second) == 1000
        assert second[0] > first[-1]
        assert reserve_ids(session, OUTBOX, 0) == []
    with unit_of_work(engine, readonly=True) as session:
        names = {
            row.id: row.name for row in session.execute(select(OutboxEvent.id, OutboxEvent.name))
        }
        assert [names[i] for i in first] == ["r0", "r1", "r2"]
