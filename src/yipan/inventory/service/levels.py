"""The primitives every stock change goes through: a conditional update of the level and a row
in the ledger, in the same transaction.

A level is never read and then written: each change is one `UPDATE … WHERE <invariant still
holds> RETURNING …`, so concurrent writers cannot break `0 <= reserved <= on_hand`. When one
transaction touches several levels it touches them in (sku_id, node_id) order, so two
transactions cannot wait on each other in a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.orm import Session

from yipan.inventory.domain import BufferMode, alert_threshold, atp, crossed_below
from yipan.inventory.domain import ChannelBuffer as BufferRule
from yipan.inventory.events import StockFellBelowThreshold
from yipan.inventory.models import Movement, Node, StockLevel
from yipan.inventory.schemas import StockLevelOut
from yipan.kernel.bulk import bulk_insert
from yipan.kernel.db import insert_for

levels = cast(Table, StockLevel.__table__)
movements = cast(Table, Movement.__table__)
nodes = cast(Table, Node.__table__)

Pair = tuple[int, int]  # (sku_id, node_id)

_RETURNING = (
    levels.c.sku_id,
    levels.c.node_id,
    levels.c.on_hand,
    levels.c.reserved,
    levels.c.safety_stock,
    levels.c.reorder_point,
)


@dataclass(frozen=True)
class LevelChange:
    """A level after a change, with enough to know what it was before."""

    sku_id: int
    node_id: int
    on_hand: int
    reserved: int
    safety_stock: int
    reorder_point: int
    on_hand_delta: int = 0
    reserved_delta: int = 0

    @property
    def atp_after(self) -> int:
        return atp(self.on_hand, self.reserved, self.safety_stock)

    @property
    def atp_before(self) -> int:
        return atp(
            self.on_hand - self.on_hand_delta,
            self.reserved - self.reserved_delta,
            self.safety_stock,
        )

    def fell_below(self, sku: str, node: str) -> StockFellBelowThreshold | None:
        threshold = alert_threshold(self.reorder_point, self.safety_stock)
        if crossed_below(self.atp_before, self.atp_after, threshold):
            return StockFellBelowThreshold(
                sku=sku, node=node, atp=self.atp_after, threshold=threshold
            )
        return None


def level_change(row: Any, on_hand_delta: int, reserved_delta: int) -> LevelChange:
    return LevelChange(
        sku_id=row.sku_id,
        node_id=row.node_id,
        on_hand=row.on_hand,
        reserved=row.reserved,
        safety_stock=row.safety_stock,
        reorder_point=row.reorder_point,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
    )


def ensure_levels(session: Session, pairs: Iterable[Pair], now: datetime) -> None:
    """Create empty levels for pairs that have none (a receipt at a node that never held the SKU)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "INSERT INTO inventory_stock_levels "
                "(sku_id, node_id, on_hand, reserved, safety_stock, reorder_point, updated_at) "
                "SELECT v.sku_id, v.node_id, 0, 0, 0, 0, :now "
                "FROM unnest(CAST(:skus AS integer[]), CAST(:nodes AS integer[])) "
                "AS v(sku_id, node_id) "
                "ON CONFLICT (sku_id, node_id) DO NOTHING"
            ),
            {"skus": [p[0] for p in wanted], "nodes": [p[1] for p in wanted], "now": now},
        )
        return
    rows = [
        {
            "sku_id": s,
            "node_id": n,
            "on_hand": 0,
            "reserved": 0,
            "safety_stock": 0,
            "reorder_point": 0,
            "updated_at": now,
        }
        for s, n in wanted
    ]
    stmt = insert_for(session, levels).on_conflict_do_nothing(index_elements=["sku_id", "node_id"])
    session.execute(stmt, rows)


def _reserve_statement(mode: BufferMode | None) -> Any:
    """Built once per buffer mode: the hot path only binds values, never builds SQL."""
    available: Any = levels.c.on_hand - levels.c.reserved - levels.c.safety_stock
    if mode is BufferMode.UNITS:
        available = available - bindparam("p_buffer")
    elif mode is BufferMode.PERCENT:
        available = available * (100 - bindparam("p_buffer")) // 100
    node_active = (
        select(nodes.c.id)
        .where(nodes.c.id == bindparam("p_node"), nodes.c.active.is_(True))
        .exists()
    )
    return (
        update(levels)
        .where(
            levels.c.sku_id == bindparam("p_sku"),
            levels.c.node_id == bindparam("p_node"),
            available >= bindparam("p_qty"),
            node_active,
        )
        .values(reserved=levels.c.reserved + bindparam("p_qty"), updated_at=bindparam("p_now"))
        .returning(*_RETURNING)
    )


_RESERVE = {mode: _reserve_statement(mode) for mode in (None, *BufferMode)}


def reserve_level(
    session: Session,
    sku_id: int,
    node_id: int,
    quantity: int,
    now: datetime,
    *,
    buffer: BufferRule | None = None,
) -> LevelChange | None:
    """Hold `quantity` if ATP (less a channel's buffer) allows it; None when it does not.

    The check and the change are one statement; the node must also be active.
    """
    params = {"p_sku": sku_id, "p_node": node_id, "p_qty": quantity, "p_now": now}
    if buffer is not None:
        params["p_buffer"] = buffer.value
    row = session.connection().execute(_RESERVE[buffer.mode if buffer else None], params).first()
    return None if row is None else level_change(row, 0, quantity)


def unreserve_level(
    session: Session,
    sku_id: int,
    node_id: int,
    quantity: int,
    now: datetime,
    *,
    consume: bool,
) -> LevelChange:
    """Give back a hold; with `consume`, the held goods also leave `on_hand` (a sale)."""
    on_hand_delta = -quantity if consume else 0
    row = session.execute(
        update(levels)
        .where(
            levels.c.sku_id == sku_id,
            levels.c.node_id == node_id,
            levels.c.reserved >= quantity,
        )
        .values(
            reserved=levels.c.reserved - quantity,
            on_hand=levels.c.on_hand + on_hand_delta,
            updated_at=now,
        )
        .returning(*_RETURNING)
    ).one()
    return level_change(row, on_hand_delta, -quantity)


def add_on_hand(
    session: Session, sku_id: int, node_id: int, delta: int, now: datetime
) -> LevelChange | None:
    """Change `on_hand` by `delta`; None if that would take it under what is reserved."""
    if delta > 0:
        ensure_levels(session, [(sku_id, node_id)], now)
    row = session.execute(
        update(levels)
        .where(
            levels.c.sku_id == sku_id,
            levels.c.node_id == node_id,
            levels.c.on_hand + delta >= levels.c.reserved,
        )
        .values(on_hand=levels.c.on_hand + delta, updated_at=now)
        .returning(*_RETURNING)
    ).first()
    return None if row is None else level_change(row, delta, 0)


def add_on_hand_many(
    session: Session, deltas: Mapping[Pair, int], now: datetime
) -> dict[Pair, LevelChange]:
    """Apply many on-hand deltas at once; pairs missing from the result were refused.

    On PostgreSQL the rows are first locked in (sku, node) order, then changed by one
    `UPDATE … FROM unnest(…)`; SQLite, which has a single writer, with `UPDATE … FROM json_each(…)`.
    """
    if not deltas:
        return {}
    apply = _add_many_pg if session.get_bind().dialect.name == "postgresql" else _add_many_sqlite
    ordered = sorted(deltas)
    changed = apply(session, deltas, ordered, now)
    # A receipt at a node that never held the SKU finds no level: create those, then apply.
    # The rows of this second pass are nearly always our own uncommitted inserts; if another
    # batch created the same level meanwhile, PostgreSQL's deadlock check is the backstop and the
    # refused batch can simply be sent again (its idempotency keys make that harmless).
    fresh = [p for p in ordered if p not in changed and deltas[p] > 0]
    if fresh:
        ensure_levels(session, fresh, now)
        changed |= apply(session, deltas, fresh, now)
    return changed


def _add_many_pg(
    session: Session, deltas: Mapping[Pair, int], ordered: Sequence[Pair], now: datetime
) -> dict[Pair, LevelChange]:
    """Lock the rows in (sku, node) order, then change them all with one statement."""
    skus = [p[0] for p in ordered]
    node_ids = [p[1] for p in ordered]
    session.execute(_PG_LOCK_MANY, {"skus": skus, "nodes": node_ids})
    rows = session.execute(
        _PG_ADD_MANY,
        {"skus": skus, "nodes": node_ids, "deltas": [deltas[p] for p in ordered], "now": now},
    )
    return {
        (row.sku_id, row.node_id): level_change(row, deltas[(row.sku_id, row.node_id)], 0)
        for row in rows
    }


_PG_LOCK_MANY = text(
    "SELECT 1 FROM inventory_stock_levels s "
    "JOIN unnest(CAST(:skus AS integer[]), CAST(:nodes AS integer[])) AS v(sku_id, node_id) "
    "ON s.sku_id = v.sku_id AND s.node_id = v.node_id "
    "ORDER BY s.sku_id, s.node_id FOR UPDATE OF s"
)
_PG_ADD_MANY = text(
    "UPDATE inventory_stock_levels s SET on_hand = s.on_hand + v.delta, updated_at = :now "
    "FROM unnest(CAST(:skus AS integer[]), CAST(:nodes AS integer[]), "
    "CAST(:deltas AS integer[])) AS v(sku_id, node_id, delta) "
    "WHERE s.sku_id = v.sku_id AND s.node_id = v.node_id "
    "AND s.on_hand + v.delta >= s.reserved "
    "RETURNING s.sku_id, s.node_id, s.on_hand, s.reserved, s.safety_stock, s.reorder_point"
)


_SQLITE_BATCH = 5000
_SQLITE_ADD_MANY = text(
    "UPDATE inventory_stock_levels AS s SET on_hand = s.on_hand + v.delta, updated_at = :now "
    "FROM (SELECT json_extract(value, '$[0]') AS sku_id, json_extract(value, '$[1]') AS node_id, "
    "json_extract(value, '$[2]') AS delta FROM json_each(:rows)) AS v "
    "WHERE s.sku_id = v.sku_id AND s.node_id = v.node_id AND s.on_hand + v.delta >= s.reserved "
    "RETURNING sku_id, node_id, on_hand, reserved, safety_stock, reorder_point"
).bindparams(bindparam("now", type_=levels.c.updated_at.type))


def _add_many_sqlite(
    session: Session, deltas: Mapping[Pair, int], ordered: Sequence[Pair], now: datetime
) -> dict[Pair, LevelChange]:
    """SQLite has a single writer, so no lock order to keep: one `UPDATE … FROM json_each(…)`
    per few thousand pairs instead of a statement per pair (needs SQLite 3.35 for RETURNING)."""
    changed: dict[Pair, LevelChange] = {}
    for start in range(0, len(ordered), _SQLITE_BATCH):
        chunk = ordered[start : start + _SQLITE_BATCH]
        rows = json.dumps([[s, n, deltas[(s, n)]] for s, n in chunk])
        for row in session.execute(_SQLITE_ADD_MANY, {"rows": rows, "now": now}):
            pair = (row.sku_id, row.node_id)
            changed[pair] = level_change(row, deltas[pair], 0)
    return changed


def lock_levels(session: Session, pairs: Sequence[Pair]) -> dict[Pair, Any]:
    """Read and lock levels in (sku, node) order, for changes that must look before they leap."""
    found: dict[Pair, Any] = {}
    for pair in sorted(set(pairs)):
        row = session.execute(
            select(*_RETURNING)
            .where(levels.c.sku_id == pair[0], levels.c.node_id == pair[1])
            .with_for_update()
        ).first()
        if row is not None:
            found[pair] = row
    return found


def write_movements(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows to the ledger (every key of `Movement` except id)."""
    bulk_insert(session, movements, rows)


def movement_row(
    *,
    sku_id: int,
    node_id: int,
    kind: str,
    quantity: int,
    now: datetime,
    reason: str | None = None,
    reference: str | None = None,
    channel: str | None = None,
    idempotency_key: str | None = None,
    payload_hash: str | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "sku_id": sku_id,
        "node_id": node_id,
        "kind": kind,
        "quantity": quantity,
        "reason": reason,
        "reference": reference,
        "channel": channel,
        "idempotency_key": idempotency_key,
        "payload_hash": payload_hash,
        "occurred_at": occurred_at or now,
        "recorded_at": now,
    }


def level_out(sku: str, node: str, level: Any) -> StockLevelOut:
    return StockLevelOut(
        sku=sku,
        node=node,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
        reorder_point=level.reorder_point,
        atp=atp(level.on_hand, level.reserved, level.safety_stock),
    )
