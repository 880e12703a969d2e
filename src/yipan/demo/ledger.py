"""The demo's stock, written through inventory's level and movement primitives in bulk.

Each level's movements (`replenish.Restock`) go in as ledger rows with their times, references
(`order:<id>`, `return:<id>`, the opening and weekly deliveries) and channels; the level itself
changes by their sum in two set-wise updates per chunk, additions first (they create the level),
so `on_hand` is the sum of its ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yipan.demo.history import DemoHistory
from yipan.demo.progress import Progress
from yipan.demo.replenish import Move, Restock
from yipan.demo.stock import Line
from yipan.events import service as events
from yipan.inventory.domain import MovementKind
from yipan.inventory.events import StockFellBelowThreshold
from yipan.inventory.service import levels as lv
from yipan.kernel.clock import Clock
from yipan.orders.service.history import HistoryIds

CHUNK = 5000
OPENING_REFERENCE = "demo-opening"
REPLENISHMENT_REFERENCE = "demo-replenishment"
SALES_REFERENCE = "demo-sales"
_RECEIPT, _SALE = MovementKind.RECEIPT.value, MovementKind.SALE.value


def _apply(
    session: Session, deltas: dict[lv.Pair, int], now: datetime
) -> dict[lv.Pair, lv.LevelChange]:
    changes = lv.add_on_hand_many(session, deltas, now)
    if len(changes) != len(deltas):  # nothing is reserved, so every change must fit
        refused = sorted(set(deltas) - changes.keys())[:5]
        raise RuntimeError(f"stock levels refused a demo change: {refused}")
    return changes


def write_stock(
    session: Session,
    lines: Sequence[Line],
    restock: Restock,
    ids: tuple[dict[str, int], dict[str, int]],
    year: DemoHistory | None,
    written: HistoryIds | None,
    start: datetime,
    now: datetime,
    report: Progress,
) -> None:
    """Every level's movements: receipts first in the batch (they create the level), the sum
    of all of them is the plan's level now."""
    report.phase("stock ledger", len(lines))
    sku_ids, node_ids = ids
    keyed = sorted(((sku_ids[x.sku], node_ids[x.node]), (x.sku, x.node)) for x in lines)
    orders = year.orders if year else []
    for first in range(0, len(keyed), CHUNK):
        chunk = keyed[first : first + CHUNK]
        added: dict[lv.Pair, int] = {}
        taken: dict[lv.Pair, int] = {}
        rows = []
        for pair, level in chunk:
            for move in restock.moves[level]:
                if move.quantity > 0:
                    added[pair] = added.get(pair, 0) + move.quantity
                else:
                    taken[pair] = taken.get(pair, 0) + move.quantity
                rows.append(_movement_row(pair, move, orders, written, start, now))
        _apply(session, added, now)
        if taken:
            _apply(session, taken, now)
        lv.write_movements(session, rows)
        report.advance(len(chunk))


def _movement_row(
    pair: lv.Pair,
    move: Move,
    orders: Sequence[Any],
    written: HistoryIds | None,
    start: datetime,
    now: datetime,
) -> dict[str, Any]:
    reason: str | None
    channel: str | None = None
    if move.kind == _RECEIPT:
        opening = move.at == start
        reason = "opening stock" if opening else "weekly replenishment"
        reference = OPENING_REFERENCE if opening else REPLENISHMENT_REFERENCE
    elif move.order < 0:  # a build without history: the plan's sell-down, no order behind it
        reason, reference, channel = "store sales", SALES_REFERENCE, "pos"
    else:
        assert written is not None
        order = orders[move.order]
        if move.kind == _SALE:
            reason, reference, channel = (
                "sale",
                f"order:{written.orders[move.order]}",
                order.channel,
            )
        else:
            ret = order.returns[move.ret]
            reason = ret.reason or "customer return"
            reference = f"return:{written.returns[move.order][move.ret]}"
            channel = ret.channel or order.channel
    return lv.movement_row(
        sku_id=pair[0],
        node_id=pair[1],
        kind=move.kind,
        quantity=move.quantity,
        now=now,
        reason=reason,
        reference=reference,
        channel=channel,
        occurred_at=move.at,
    )


def record_crossings(session: Session, restock: Restock, clock: Clock | None) -> None:
    """Levels whose last sale took them under their threshold: each raises a low-stock alert."""
    events.record_many(
        session,
        [
            StockFellBelowThreshold(sku=c.sku, node=c.node, atp=c.atp, threshold=c.threshold)
            for c in restock.crossings
        ],
        clock=clock,
    )
