"""Reservations: hold stock for a reference, then release it, commit it as a sale, or let it expire.

The hot path is written for throughput under contention: the reservation rows and their events
are inserted first, and the conditional update of the stock level comes last, so the row lock on
a hot SKU is held only from that update to the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import MovementKind, ReservationStatus, atp
from yipan.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    NodeInactive,
    ReservationClosed,
    ReservationMismatch,
    UnknownReservation,
)
from yipan.inventory.events import ReservationCommitted, ReservationReleased, StockReserved
from yipan.inventory.models import Node, Reservation, StockLevel
from yipan.inventory.schemas import ReservationOut, ReserveIn, ReserveLine
from yipan.inventory.service import levels as lv
from yipan.inventory.service.nodes import buffer_rules, node_ids
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import insert_unless_taken

reservations = cast(Table, Reservation.__table__)


def reserve(
    session: Session, reserve_in: ReserveIn, *, clock: Clock | None = None
) -> list[ReservationOut]:
    """Hold every line or none. Replaying the same reference and lines returns the first holds.

    A refusal raises after part of the work is written, so the caller's transaction must not
    commit it: the unit of work rolls back on the exception. A caller that wants to try another
    node in the same transaction calls this inside `session.begin_nested()`.
    """
    now = (clock or SystemClock()).now()
    expires_at = reserve_in.expires_at
    if expires_at is None and reserve_in.ttl_seconds:
        expires_at = now + timedelta(seconds=reserve_in.ttl_seconds)
    lines = _resolve(session, reserve_in.lines)
    rules = buffer_rules(session, reserve_in.channel)
    if len(lines) == 1 and not rules and session.get_bind().dialect.name == "postgresql":
        return _reserve_one_line(session, reserve_in, lines[0], expires_at, now, clock)

    ids: dict[tuple[int, int], int] = {}
    hold = insert_unless_taken(session, reservations, ("reference", "sku_id", "node_id"))
    for sku_id, node_id, quantity, _sku, _node in lines:
        new_id = (
            session.connection()
            .execute(
                hold,
                {
                    "reference": reserve_in.reference,
                    "sku_id": sku_id,
                    "node_id": node_id,
                    "quantity": quantity,
                    "channel": reserve_in.channel,
                    "status": ReservationStatus.ACTIVE.value,
                    "expires_at": expires_at,
                    "created_at": now,
                },
            )
            .scalar()
        )
        if new_id is None:
            return _replay(session, reserve_in.reference, lines)
        ids[(sku_id, node_id)] = new_id

    events.record_many(
        session,
        [
            StockReserved(
                sku=sku,
                node=node,
                reference=reserve_in.reference,
                quantity=quantity,
                reservation_id=ids[(sku_id, node_id)],
            )
            for sku_id, node_id, quantity, sku, node in lines
        ],
        clock=clock,
    )
    held = [
        _new_hold(ids[(sku_id, node_id)], reserve_in, sku, node, quantity, expires_at, now)
        for sku_id, node_id, quantity, sku, node in lines
    ]
    types = _node_types(session, {n for _, n, _, _, _ in lines}) if rules else {}
    # The stock rows are locked last, so the hot row's lock lives only until the commit.
    crossed: list[DomainEvent] = []
    for sku_id, node_id, quantity, sku, node in lines:  # already in (sku, node) order
        change = lv.reserve_level(
            session, sku_id, node_id, quantity, now, buffer=rules.get(types.get(node_id, ""))
        )
        if change is None:
            raise _why_not(session, sku_id, node_id, quantity, sku, node)
        below = change.fell_below(sku, node)
        if below is not None:
            crossed.append(below)
    events.record_many(session, crossed, clock=clock)
    return held


# The common case on PostgreSQL — one line, no channel buffer — in a single statement: the hold,
# the conditional update of the level and the StockReserved event. A replay inserts no hold, and
# then neither the update nor the event happens; a refused update leaves a hold that the caller's
# rollback removes.
_ONE_LINE = text(
    "WITH hold AS ("
    "INSERT INTO inventory_reservations (reference, sku_id, node_id, quantity, channel, status, "
    "expires_at, created_at) VALUES (:reference, :sku_id, :node_id, :quantity, :channel, "
    "'active', :expires_at, :now) "
    "ON CONFLICT (reference, sku_id, node_id) DO NOTHING RETURNING id), "
    "level AS ("
    "UPDATE inventory_stock_levels SET reserved = reserved + :quantity, updated_at = :now "
    "WHERE sku_id = :sku_id AND node_id = :node_id "
    "AND on_hand - reserved - safety_stock >= :quantity "
    "AND EXISTS (SELECT 1 FROM hold) "
    "AND EXISTS (SELECT 1 FROM inventory_nodes WHERE id = :node_id AND active) "
    "RETURNING sku_id, node_id, on_hand, reserved, safety_stock, reorder_point), "
    "event AS ("
    + events.outbox_insert_from(
        "SELECT :event_name AS name, :event_aggregate_type AS aggregate_type, "
        ":event_aggregate_id AS aggregate_id, "
        "CAST(:event_payload AS jsonb) || jsonb_build_object('reservation_id', hold.id) "
        "AS payload, CAST(:now AS timestamptz) AS occurred_at, :event_status AS status "
        "FROM hold, level"
    )
    + ") SELECT hold.id, level.sku_id, level.node_id, level.on_hand, level.reserved, "
    "level.safety_stock, level.reorder_point FROM hold LEFT JOIN level ON true"
)


def _reserve_one_line(
    session: Session,
    reserve_in: ReserveIn,
    line: Line,
    expires_at: datetime | None,
    now: datetime,
    clock: Clock | None,
) -> list[ReservationOut]:
    sku_id, node_id, quantity, sku, node = line
    reserved = events.event_params(
        StockReserved(
            sku=sku, node=node, reference=reserve_in.reference, quantity=quantity, reservation_id=0
        )
    )
    row = (
        session.connection()
        .execute(
            _ONE_LINE,
            {
                "reference": reserve_in.reference,
                "sku_id": sku_id,
                "node_id": node_id,
                "quantity": quantity,
                "channel": reserve_in.channel,
                "expires_at": expires_at,
                "now": now,
                **reserved,
            },
        )
        .first()
    )
    if row is None:
        return _replay(session, reserve_in.reference, [line])
    if row.on_hand is None:
        raise _why_not(session, sku_id, node_id, quantity, sku, node)
    events.recorded_in_statement(session, reserved["event_status"])
    below = lv.level_change(row, 0, quantity).fell_below(sku, node)
    if below is not None:
        events.record(session, below, clock=clock)
    return [_new_hold(row.id, reserve_in, sku, node, quantity, expires_at, now)]


def all_or_none_hold_ctes(wanted: str) -> str:
    """PostgreSQL CTEs, to follow others in one WITH, that hold stock for every row of the CTE
    named `wanted` or for none.

    `wanted` has the columns reference (never used before), sku_id, node_id, sku, node and
    quantity; several rows may hold the same SKU at the same node. The levels are locked in
    (SKU, node) order — the order every writer of levels uses — then either every line fits and
    the levels, the holds and their StockReserved events are all written, or none of them is.
    The CTE `verdict(ok)` says which: a caller writing more in the same statement gates its own
    inserts on it, and then a refusal writes nothing at all, so the caller needs no savepoint to
    try another node. `held_levels` returns the updated levels. Bind `hold_params(...)` with the
    statement and call `events.recorded_in_statement` with its `hold_event_status`.
    """
    return (
        # The node's state by its key, not by a join: the planner takes the few wanted rows for
        # a hundred and would hash every node for them.
        "locked AS (SELECT s.id, s.sku_id, s.node_id, w.quantity, "
        "(SELECT n.active FROM inventory_nodes n WHERE n.id = s.node_id) "
        "AND s.on_hand - s.reserved - s.safety_stock >= w.quantity AS fits "
        "FROM inventory_stock_levels s JOIN (SELECT sku_id, node_id, sum(quantity) AS quantity "
        f"FROM {wanted} GROUP BY sku_id, node_id) w "
        "ON s.sku_id = w.sku_id AND s.node_id = w.node_id "
        "ORDER BY s.sku_id, s.node_id FOR UPDATE OF s), "
        "verdict AS (SELECT count(*) FILTER (WHERE fits) = "
        f"(SELECT count(DISTINCT (sku_id, node_id)) FROM {wanted}) AS ok FROM locked), "
        "held_levels AS (UPDATE inventory_stock_levels s SET reserved = s.reserved + k.quantity, "
        "updated_at = :hold_now FROM locked k, verdict WHERE s.id = k.id AND verdict.ok "
        "RETURNING s.sku_id, s.node_id, s.on_hand, s.reserved, s.safety_stock, s.reorder_point), "
        "holds AS (INSERT INTO inventory_reservations (reference, sku_id, node_id, quantity, "
        "channel, status, expires_at, created_at) SELECT w.reference, w.sku_id, w.node_id, "
        f"w.quantity, :hold_channel, 'active', NULL, :hold_now FROM {wanted} w, verdict "
        "WHERE verdict.ok RETURNING id, reference), "
        "hold_events AS ("
        + events.outbox_insert_from(
            "SELECT :hold_event_name AS name, :hold_event_type AS aggregate_type, "
            "k.sku || '@' || k.node AS aggregate_id, jsonb_build_object('sku', k.sku, "
            "'node', k.node, 'reference', k.reference, 'quantity', k.quantity, "
            "'reservation_id', holds.id) AS payload, "
            "CAST(:hold_now AS timestamptz) AS occurred_at, :hold_event_status AS status "
            f"FROM holds JOIN {wanted} k ON k.reference = holds.reference"
        )
        + ")"
    )


def hold_params(channel: str | None, now: datetime) -> dict[str, Any]:
    """The bind values `all_or_none_hold_ctes` needs."""
    return {
        "hold_channel": channel,
        "hold_now": now,
        "hold_event_name": StockReserved.name,
        "hold_event_type": StockReserved.aggregate,
        "hold_event_status": events.status_for(StockReserved.name),
    }


def needs_line_by_line(session: Session, channel: str | None) -> bool:
    """Whether holds for `channel` must go through `reserve` one line at a time: a channel
    buffer, or a backend without `all_or_none_hold_ctes`."""
    return session.get_bind().dialect.name != "postgresql" or bool(buffer_rules(session, channel))


def held_level_events(rows: Sequence[Any], holds: Sequence[Line]) -> list[DomainEvent]:
    """Low-stock alerts crossed by holds taken with `all_or_none_hold_ctes`: `rows` are its
    `held_levels`, `holds` the (SKU id, node id, quantity, SKU, node) it held."""
    held: dict[tuple[int, int], int] = {}
    codes: dict[tuple[int, int], tuple[str, str]] = {}
    for sku_id, node_id, quantity, sku, node in holds:
        held[(sku_id, node_id)] = held.get((sku_id, node_id), 0) + quantity
        codes[(sku_id, node_id)] = (sku, node)
    crossed: list[DomainEvent] = []
    for row in rows:
        pair = (row.sku_id, row.node_id)
        below = lv.level_change(row, 0, held[pair]).fell_below(*codes[pair])
        if below is not None:
            crossed.append(below)
    return crossed


def refusal_of(session: Session, holds: Sequence[tuple[str, str, int]]) -> Exception:
    """Why `(SKU, node, quantity)` holds were refused: the first SKU at a node that does not
    have what they ask for together."""
    asked: dict[tuple[str, str], int] = {}
    for sku, node, quantity in holds:
        asked[(sku, node)] = asked.get((sku, node), 0) + quantity
    skus = catalog.sku_ids(session, {sku for sku, _ in asked})
    nodes = node_ids(session, {node for _, node in asked})
    return _first_refusal(
        session, [(skus[sku], nodes[node], qty, sku, node) for (sku, node), qty in asked.items()]
    )


_ALL_OR_NONE = text(
    "WITH want AS (SELECT * FROM unnest(CAST(:refs AS text[]), CAST(:sku_ids AS int[]), "
    "CAST(:node_ids AS int[]), CAST(:skus AS text[]), CAST(:nodes AS text[]), "
    "CAST(:quantities AS int[])) AS w(reference, sku_id, node_id, sku, node, quantity)), "
    + all_or_none_hold_ctes("want")
    + " SELECT * FROM held_levels"
)


def hold_new(
    session: Session,
    channel: str | None,
    holds: Sequence[tuple[str, str, str, int]],
    *,
    clock: Clock | None = None,
) -> None:
    """Hold `(reference, SKU, node, quantity)` each under a reference never used before: all of
    them, or raise having written nothing of them.

    On PostgreSQL with no channel buffer this is one statement; otherwise each line goes through
    `reserve`, and the caller must undo a refusal with its savepoint or transaction.
    """
    skus = catalog.sku_ids(session, {h[1] for h in holds})
    nodes = node_ids(session, {h[2] for h in holds})
    # Lock order, for the line-by-line path: see _ALL_OR_NONE.
    holds = sorted(holds, key=lambda h: (skus[h[1]], nodes[h[2]]))
    if needs_line_by_line(session, channel) or len(holds) < 2:
        for reference, sku, node, quantity in holds:
            reserve(
                session,
                ReserveIn(
                    reference=reference,
                    lines=[ReserveLine(sku=sku, node=node, quantity=quantity)],
                    channel=channel,
                ),
                clock=clock,
            )
        return
    hold = hold_params(channel, (clock or SystemClock()).now())
    rows = (
        session.connection()
        .execute(
            _ALL_OR_NONE,
            {
                "refs": [h[0] for h in holds],
                "sku_ids": [skus[h[1]] for h in holds],
                "node_ids": [nodes[h[2]] for h in holds],
                "skus": [h[1] for h in holds],
                "nodes": [h[2] for h in holds],
                "quantities": [h[3] for h in holds],
                **hold,
            },
        )
        .all()
    )
    if not rows:
        raise refusal_of(session, [(h[1], h[2], h[3]) for h in holds])
    events.recorded_in_statement(session, hold["hold_event_status"])
    held = [(skus[sku], nodes[node], qty, sku, node) for _, sku, node, qty in holds]
    events.record_many(session, held_level_events(rows, held), clock=clock)


def _new_hold(
    id_: int,
    reserve_in: ReserveIn,
    sku: str,
    node: str,
    quantity: int,
    expires_at: datetime | None,
    now: datetime,
) -> ReservationOut:
    return ReservationOut(
        id=id_,
        reference=reserve_in.reference,
        sku=sku,
        node=node,
        quantity=quantity,
        status=ReservationStatus.ACTIVE.value,
        channel=reserve_in.channel,
        expires_at=expires_at,
        created_at=now,
    )


Line = tuple[int, int, int, str, str]  # sku_id, node_id, quantity, sku code, node code


def _resolve(session: Session, lines: Sequence[ReserveLine]) -> list[Line]:
    seen: set[tuple[str, str]] = set()
    for line in lines:
        if (line.sku, line.node) in seen:
            raise InvalidQuantity(
                f"SKU {line.sku} at node {line.node} appears twice; send one line with the sum",
                sku=line.sku,
                node=line.node,
            )
        seen.add((line.sku, line.node))
    skus = catalog.sku_ids(session, [line.sku for line in lines])
    nodes = node_ids(session, [line.node for line in lines])
    return sorted(
        (skus[line.sku], nodes[line.node], line.quantity, line.sku, line.node) for line in lines
    )


def _replay(session: Session, reference: str, lines: list[Line]) -> list[ReservationOut]:
    existing = _load(session, reference)
    held = {(r.sku, r.node): r.quantity for r in existing}
    asked = {(sku, node): quantity for _, _, quantity, sku, node in lines}
    if held != asked:
        raise ReservationMismatch(
            f"reference {reference} already holds other lines; use a new reference",
            reference=reference,
            held=[{"sku": s, "node": n, "quantity": q} for (s, n), q in sorted(held.items())],
        )
    return existing


def _first_refusal(session: Session, lines: Sequence[Line]) -> InsufficientStock | NodeInactive:
    """Why a set of holds was refused: the first line, in lock order, that does not fit."""
    for sku_id, node_id, quantity, sku, node in sorted(lines):
        refusal = _why_not(session, sku_id, node_id, quantity, sku, node)
        if isinstance(refusal, NodeInactive) or refusal.details["available"] < quantity:
            return refusal
    # Every line fits now: the stock that was missing came back since the holds were refused.
    return InsufficientStock("stock moved while the holds were being taken", lines=len(lines))


def _why_not(
    session: Session, sku_id: int, node_id: int, quantity: int, sku: str, node: str
) -> InsufficientStock | NodeInactive:
    if not session.scalar(select(Node.active).where(Node.id == node_id)):
        return NodeInactive(f"node {node} is not active", node=node)
    level = session.execute(
        select(StockLevel.on_hand, StockLevel.reserved, StockLevel.safety_stock).where(
            StockLevel.sku_id == sku_id, StockLevel.node_id == node_id
        )
    ).first()
    available = atp(*level) if level else 0
    return InsufficientStock(
        f"only {available} of {sku} available at {node}, {quantity} asked",
        sku=sku,
        node=node,
        requested=quantity,
        available=available,
    )


def _node_types(session: Session, ids: set[int]) -> dict[int, str]:
    return dict(session.execute(select(Node.id, Node.type).where(Node.id.in_(ids))).all())


def get_reservations(session: Session, reference: str) -> list[ReservationOut]:
    found = _load(session, reference)
    if not found:
        raise UnknownReservation(f"no reservation for reference {reference}", reference=reference)
    return found


def _load(
    session: Session, reference: str, *, lock: bool = False, status: str | None = None
) -> list[ReservationOut]:
    stmt = (
        select(Reservation, Node.code)
        .join(Node, Node.id == Reservation.node_id)
        .where(Reservation.reference == reference)
        .order_by(Reservation.sku_id, Reservation.node_id)
    )
    if status:
        stmt = stmt.where(Reservation.status == status)
    if lock:
        stmt = stmt.with_for_update(of=Reservation)
    rows = session.execute(stmt).all()
    codes = catalog.sku_codes(session, [r.sku_id for r, _ in rows])
    return [_out(r, codes[r.sku_id], node) for r, node in rows]


def _out(r: Reservation, sku: str, node: str) -> ReservationOut:
    return ReservationOut(
        id=r.id,
        reference=r.reference,
        sku=sku,
        node=node,
        quantity=r.quantity,
        status=r.status,
        channel=r.channel,
        expires_at=r.expires_at,
        created_at=r.created_at,
    )


def release(
    session: Session, reference: str, *, clock: Clock | None = None
) -> list[ReservationOut]:
    """Give back every active hold of `reference`. Releasing twice is harmless."""
    return _close(session, reference, ReservationStatus.RELEASED, clock)


def commit(session: Session, reference: str, *, clock: Clock | None = None) -> list[ReservationOut]:
    """Turn the holds of `reference` into sales: the goods leave `on_hand` through the ledger."""
    return _close(session, reference, ReservationStatus.COMMITTED, clock)


def _close(
    session: Session, reference: str, target: ReservationStatus, clock: Clock | None
) -> list[ReservationOut]:
    now = (clock or SystemClock()).now()
    existing = _load(session, reference, lock=True)
    if not existing:
        raise UnknownReservation(f"no reservation for reference {reference}", reference=reference)
    active = [r for r in existing if r.status == ReservationStatus.ACTIVE.value]
    finished = [r for r in existing if r.status != ReservationStatus.ACTIVE.value]
    if not active:
        same = {target.value}
        if target is ReservationStatus.RELEASED:
            same.add(ReservationStatus.EXPIRED.value)
        if all(r.status in same for r in existing):
            return existing  # a replay of the same close changes nothing
        raise ReservationClosed(
            f"reservation {reference} is already {existing[0].status}",
            reference=reference,
            status=existing[0].status,
        )
    return _close_rows(session, active, target, now, clock) + finished


def _close_rows(
    session: Session,
    rows: Sequence[ReservationOut],
    target: ReservationStatus,
    now: datetime,
    clock: Clock | None,
) -> list[ReservationOut]:
    skus = catalog.sku_ids(session, {r.sku for r in rows})
    nodes = node_ids(session, {r.node for r in rows})
    consume = target is ReservationStatus.COMMITTED
    closed: list[ReservationOut] = []
    recorded: list[DomainEvent] = []
    ledger: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: (skus[r.sku], nodes[r.node])):
        done = session.execute(
            update(reservations)
            .where(reservations.c.id == r.id, reservations.c.status == "active")
            .values(status=target.value, closed_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not done:
            continue  # closed concurrently by someone else
        change = lv.unreserve_level(
            session, skus[r.sku], nodes[r.node], r.quantity, now, consume=consume
        )
        if consume:
            ledger.append(
                lv.movement_row(
                    sku_id=skus[r.sku],
                    node_id=nodes[r.node],
                    kind=MovementKind.RESERVATION_COMMIT.value,
                    quantity=-r.quantity,
                    now=now,
                    reference=r.reference,
                    channel=r.channel,
                    reason="reservation committed",
                )
            )
            recorded.append(
                ReservationCommitted(
                    sku=r.sku,
                    node=r.node,
                    reference=r.reference,
                    quantity=r.quantity,
                    reservation_id=r.id,
                )
            )
            below = change.fell_below(r.sku, r.node)
            if below is not None:
                recorded.append(below)
        else:
            recorded.append(
                ReservationReleased(
                    sku=r.sku,
                    node=r.node,
                    reference=r.reference,
                    quantity=r.quantity,
                    reservation_id=r.id,
                    expired=target is ReservationStatus.EXPIRED,
                )
            )
        closed.append(r.model_copy(update={"status": target.value}))
    lv.write_movements(session, ledger)
    events.record_many(session, recorded, clock=clock)
    return closed


def release_expired(session: Session, *, clock: Clock | None = None, limit: int = 500) -> int:
    """The sweeper: release holds whose expiry has passed. Returns how many it released."""
    now = (clock or SystemClock()).now()
    rows = session.execute(
        select(Reservation, Node.code)
        .join(Node, Node.id == Reservation.node_id)
        .where(
            Reservation.status == ReservationStatus.ACTIVE.value,
            Reservation.expires_at.is_not(None),
            Reservation.expires_at <= now,
        )
        .order_by(Reservation.id)
        .limit(limit)
        .with_for_update(of=Reservation, skip_locked=True)
    ).all()
    if not rows:
        return 0
    codes = catalog.sku_codes(session, [r.sku_id for r, _ in rows])
    outs = [_out(r, codes[r.sku_id], node) for r, node in rows]
    return len(_close_rows(session, outs, ReservationStatus.EXPIRED, now, clock))
