"""Record events in the outbox, and deliver them after commit through a relay, with retries.

A relay is the port between the outbox and whoever consumes it. `InProcessRelay` calls handlers
registered in this process inside the same transaction that marks the event delivered, so an
in-process handler sees each event exactly once. A relay to Redis Streams or NATS JetStream will
implement the same `deliver` by publishing (at least once; consumers dedupe on the event id).

An event that the deployment's relay does not want (no in-process handler listens for its name)
is recorded as delivered at once, once the composition root has said which relay that is
(`deliver_through`). The outbox still keeps it, as the history of what happened; but the worker
has nothing to do for it, where it used to be woken after the commit, find it and mark it
delivered in a transaction of its own (an order's three events: ~6 % of the server's CPU for the
order and ~7 % of the database's). Until a process is told, it records every event pending, and
the worker (in whichever process runs it) marks the unheard ones delivered as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    Engine,
    Select,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from yipan.events.domain import DomainEvent, OutboxMessage, retry_delay
from yipan.events.models import DEAD, DELIVERED, PENDING, OutboxEvent
from yipan.kernel import jsontext
from yipan.kernel.bulk import append_rows
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import among, notify_after_commit, unit_of_work

Handler = Callable[[Session, OutboxMessage], None]

# Core, not ORM, insert: events are written on every hot path and need no identity map.
_TABLE = cast(Table, OutboxEvent.__table__)
_INSERT = insert(_TABLE)
_BULK_FROM = 20
# Written into the SQL, not bound: only then can PostgreSQL's cached (generic) plan of the worker's
# query use the partial index of pending events, which a bound status might not match.
_IS_PENDING = OutboxEvent.status == literal_column(f"'{PENDING}'")


class Relay(Protocol):
    def wants(self, name: str) -> bool:
        """Whether events of this name go anywhere (a bus relay wants them all)."""

    def deliver(self, session: Session, message: OutboxMessage) -> None:
        """Hand one message on; raise to have it retried later."""


def _everything(_name: str) -> bool:
    return True


# Which event names the deployment's relay takes; see the module's docstring.
_wanted: Callable[[str], bool] = _everything


def deliver_through(relay: Relay | None) -> None:
    """Record the events `relay` does not want as delivered from now on, in this process; None
    goes back to recording every event pending. For the composition roots (`yipan.wiring`):
    every process of a deployment must name the same relay."""
    global _wanted
    _wanted = relay.wants if relay is not None else _everything


def status_for(name: str) -> str:
    """The status an event of this name is recorded with: pending, or delivered when the
    deployment's relay does not want it."""
    return PENDING if _wanted(name) else DELIVERED


def record(session: Session, event: DomainEvent, *, clock: Clock | None = None) -> None:
    """Add `event` to the outbox inside the caller's transaction."""
    record_many(session, [event], clock=clock)


_COLUMNS = (
    "name",
    "aggregate_type",
    "aggregate_id",
    "payload",
    "occurred_at",
    "status",
    "attempts",
    "next_attempt_at",
    "delivered_at",
)


def record_many(
    session: Session, events: Sequence[DomainEvent], *, clock: Clock | None = None
) -> None:
    if not events:
        return
    now = (clock or SystemClock()).now()
    status_of: dict[str, str] = {}  # a batch holds a million events of a few names
    rows = []
    for e in events:
        status = status_of.get(e.name)
        if status is None:
            status = status_of[e.name] = status_for(e.name)
        rows.append(
            (
                e.name,
                e.aggregate,
                e.aggregate_id(),
                e.payload(),
                now,
                status,
                0,
                now,
                None if status == PENDING else now,
            )
        )
    recorded_in_statement(session, *status_of.values())
    if len(rows) > _BULK_FROM:
        append_rows(session, _TABLE, _COLUMNS, rows)
    else:
        values = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
        session.connection().execute(_INSERT, values[0] if len(values) == 1 else values)


def outbox_insert_from(source_sql: str) -> str:
    """SQL of a data-modifying CTE that records one event per row of `source_sql`.

    For the few hot paths (PostgreSQL) where a change and its event must be written by a single
    statement: `source_sql` yields `name, aggregate_type, aggregate_id, payload (jsonb),
    occurred_at, status` (`status_for(name)`, bound); the outbox's own columns are filled here.
    The caller must also call `recorded_in_statement(session, status)`.
    """
    return (
        "INSERT INTO events_outbox (name, aggregate_type, aggregate_id, payload, occurred_at, "
        "status, attempts, next_attempt_at, delivered_at) "
        "SELECT src.name, src.aggregate_type, src.aggregate_id, src.payload, src.occurred_at, "
        "src.status, 0, src.occurred_at, "
        f"CASE WHEN src.status = '{PENDING}' THEN NULL ELSE src.occurred_at END "
        f"FROM ({source_sql}) AS src"
    )


def event_params(event: DomainEvent) -> dict[str, Any]:
    """Bind values describing `event` for a statement built with `outbox_insert_from`."""
    return {
        "event_name": event.name,
        "event_aggregate_type": event.aggregate,
        "event_aggregate_id": event.aggregate_id(),
        "event_payload": jsontext.dumps(event.payload()),
        "event_status": status_for(event.name),
    }


def recorded_in_statement(session: Session, *statuses: str) -> None:
    """Events with these statuses were written in the caller's transaction: if any is pending,
    wake the worker after the commit."""
    if PENDING in statuses:
        notify_after_commit(session)


class HandlerRegistry:
    """Which in-process handlers want which events."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def register(self, name: str, handler: Handler) -> None:
        if handler not in self._handlers[name]:
            self._handlers[name].append(handler)

    def handlers_for(self, name: str) -> list[Handler]:
        return list(self._handlers.get(name, ()))


class InProcessRelay:
    def __init__(self, registry: HandlerRegistry) -> None:
        self.registry = registry

    def wants(self, name: str) -> bool:
        return bool(self.registry.handlers_for(name))

    def deliver(self, session: Session, message: OutboxMessage) -> None:
        for handler in self.registry.handlers_for(message.name):
            handler(session, message)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


# (id, name) of the pending events due at `:now` after id `:after`, oldest first, at most
# `:batch_size`, locked for the reading transaction; those another worker holds are skipped.
DUE_EVENTS: Select[int, str] = (
    select(OutboxEvent.id, OutboxEvent.name)
    .where(
        _IS_PENDING,
        OutboxEvent.next_attempt_at <= bindparam("now"),
        OutboxEvent.id > bindparam("after"),
    )
    .order_by(OutboxEvent.id)
    .limit(bindparam("batch_size"))
    .with_for_update(skip_locked=True)
)


def deliver_pending(
    engine: Engine,
    relay: Relay,
    *,
    clock: Clock | None = None,
    batch_size: int = 100,
    max_attempts: int = 8,
) -> DeliveryReport:
    """Deliver every due event, oldest first, each in its own transaction.

    On PostgreSQL several workers can run this at once (`FOR UPDATE SKIP LOCKED`); on SQLite the
    write lock serialises them.

    Each batch starts after the last one's highest id. Asking again from the start would walk
    the index entries of every event already delivered in this call (dead until a vacuum), and
    draining a bulk import's million events that way took minutes; an event skipped meanwhile
    (locked by another worker, or committed late under a lower id) is due at the next call.
    """
    clock = clock or SystemClock()
    report = DeliveryReport()
    after = 0
    while True:
        with unit_of_work(engine) as session:
            # Plain rows and a plain UPDATE through the connection: nothing here loads or
            # changes an entity, so the session's ORM layer would be CPU spent for nothing.
            conn = session.connection()
            due = conn.execute(
                DUE_EVENTS, {"now": clock.now(), "after": after, "batch_size": batch_size}
            ).all()
            if due:
                after = due[-1][0]
            wanted = [event_id for event_id, name in due if relay.wants(name)]
            unheard = [event_id for event_id, name in due if not relay.wants(name)]
            if unheard:  # nobody listens: no handler, no savepoint, just done, all in one go
                _mark_delivered(session, unheard, clock.now())
                report.delivered += len(unheard)
            if wanted:
                rows = session.scalars(
                    select(OutboxEvent).where(OutboxEvent.id.in_(wanted)).order_by(OutboxEvent.id)
                )
                for row in rows:
                    _deliver_one(session, relay, row, clock, max_attempts, report)
        if len(due) < batch_size:
            return report


def _mark_delivered(session: Session, event_ids: list[int], at: datetime) -> None:
    # `among`: one statement text for any number of events on PostgreSQL; an `IN` list was a
    # new text for each batch size, parsed by psycopg and planned by the server every time.
    conn = session.connection()
    for condition in among(session, _TABLE.c.id, event_ids):
        conn.execute(update(_TABLE).where(condition).values(status=DELIVERED, delivered_at=at))


def _deliver_one(
    session: Session,
    relay: Relay,
    row: OutboxEvent,
    clock: Clock,
    max_attempts: int,
    report: DeliveryReport,
) -> None:
    message = OutboxMessage(
        id=row.id,
        name=row.name,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=row.payload,
        occurred_at=row.occurred_at,
        attempts=row.attempts,
    )
    try:
        with session.begin_nested():
            relay.deliver(session, message)
    except Exception as exc:  # a failing handler must not stop the others; it is retried
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= max_attempts:
            row.status = DEAD
            report.dead += 1
        else:
            row.next_attempt_at = clock.now() + retry_delay(row.attempts)
            report.failed += 1
        return
    row.status = DELIVERED
    row.delivered_at = clock.now()
    row.attempts += 1
    report.delivered += 1


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status))
    return dict(rows.all())


def retry_dead(session: Session, *, clock: Clock | None = None) -> int:
    """Put parked events back in the queue, e.g. after fixing the handler that failed them."""
    now = (clock or SystemClock()).now()
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.status == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recent_events(
    session: Session,
    *,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    stmt = select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
    if aggregate_type:
        stmt = stmt.where(OutboxEvent.aggregate_type == aggregate_type)
    if aggregate_id:
        stmt = stmt.where(OutboxEvent.aggregate_id == aggregate_id)
    return [
        {
            "id": e.id,
            "name": e.name,
            "aggregate_type": e.aggregate_type,
            "aggregate_id": e.aggregate_id,
            "payload": e.payload,
            "occurred_at": e.occurred_at,
            "status": e.status,
            "attempts": e.attempts,
        }
        for e in session.execute(stmt).scalars()
    ]
