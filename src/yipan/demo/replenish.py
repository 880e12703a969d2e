"""The stock ledger behind a year of orders: receipts that make every level end at the plan.

Every unit a historic order handed over is a `sale` at the node and time it left; every unit
returned in resellable condition is a `return` at the node that took it back. For the stock to
end exactly at the plan (`stock.plan_stock`) and never go below zero on the way, the receipts are
worked out backwards from the plan's level now. Walking back in time, a sale adds to what must
have been there before it and a return takes away; at a weekly delivery slot (Monday 03:00)
after which something sold, the level drops to what was there before the delivery — a few units
kept back (30 % of the plan's depth) — if the delivery was worth making (at least half the
depth, and two units). What is left at the start of the year is the opening stock. Levels the
plan sold down get no delivery in their last ten days: that is why they are low.

A return cannot go back on the shelf where the walk back finds fewer units than it brought (the
level would have been negative before it) nor where the plan's level ends sold out; such a return
is booked as damaged instead, so the sold-out levels read as receipts and sales only.

Policy levels whose last sale took them under their reorder point and that stayed there are the
threshold crossings: each raises a low-stock alert. Pure and deterministic.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from yipan.demo.marketing import SHANGHAI, local_midnight
from yipan.demo.stock import Line
from yipan.inventory.domain import MovementKind, alert_threshold, atp, crossed_below
from yipan.orders.domain.history import DAMAGED, RESELLABLE, HistoricOrder

KEEP_SHARE = 0.3
BATCH_SHARE = 0.5
SLOT_HOUR = 3
QUIET_DAYS = 10  # no delivery for sold-down levels in their last days
MIN_BATCH = 2  # nobody sends a store a single unit

Level = tuple[str, str]  # (sku, node)
RECEIPT = MovementKind.RECEIPT.value
SALE = MovementKind.SALE.value
RETURN = MovementKind.RETURN.value


@dataclass(frozen=True, slots=True)
class Move:
    """One ledger row to write. `order` indexes the history's orders (-1 for receipts) and `ret`
    the order's returns (-1 unless a return)."""

    kind: str
    quantity: int
    at: datetime
    order: int = -1
    ret: int = -1


@dataclass(frozen=True)
class Crossing:
    sku: str
    node: str
    atp: int
    threshold: int


@dataclass
class Restock:
    moves: dict[Level, list[Move]]  # every level of the plan, in time order
    crossings: list[Crossing]
    damaged: int  # returned units booked as damaged so the ledger fits
    receipts: int

    @property
    def movement_count(self) -> int:
        return sum(len(m) for m in self.moves.values())


def delivery_slots(start: datetime, now: datetime) -> list[datetime]:
    """Mondays at 03:00 (tenant's time) after `start` and before `now`."""
    day = start.astimezone(SHANGHAI).date()
    day += timedelta(days=(7 - day.weekday()) % 7 or 7)
    slots = []
    at = local_midnight(day) + timedelta(hours=SLOT_HOUR)
    while at < now:
        if at > start:
            slots.append(at)
        at += timedelta(days=7)
    return slots


def _flows(orders: Sequence[HistoricOrder]) -> dict[Level, list[tuple[datetime, int, int, int]]]:
    """(time, signed units, order, return) per level; returns in resellable condition only."""
    flows: dict[Level, list[tuple[datetime, int, int, int]]] = defaultdict(list)
    for n, order in enumerate(orders):
        for parcel in order.parcels:
            if parcel.left_at is None:
                continue
            for line_no, quantity in parcel.lines:
                flows[(order.lines[line_no - 1].sku, parcel.node)].append(
                    (parcel.left_at, -quantity, n, -1)
                )
        for r, ret in enumerate(order.returns):
            for line in ret.lines:
                if line.condition == RESELLABLE:
                    flows[(order.lines[line.line_no - 1].sku, ret.node)].append(
                        (ret.at, line.quantity, n, r)
                    )
    return flows


def replenish(
    lines: Sequence[Line], orders: Sequence[HistoricOrder], *, start: datetime, now: datetime
) -> Restock:
    """Receipts for every level of `lines` given the sales and returns of `orders`.

    Returns that cannot go back on the shelf are marked damaged on the orders themselves.
    """
    flows = _flows(orders)
    plan = {(line.sku, line.node): line for line in lines}
    unknown = sorted(set(flows) - plan.keys())
    if unknown:
        raise ValueError(f"history sells or takes back stock the plan has not: {unknown[:3]}")
    slots = delivery_slots(start, now)
    quiet = bisect_right(slots, now - timedelta(days=QUIET_DAYS))
    moves: dict[Level, list[Move]] = {}
    crossings: list[Crossing] = []
    damaged = receipts = 0
    for level, line in plan.items():
        events = sorted(flows.get(level, ()))
        usable = slots[:quiet] if line.sold else slots
        made, lost = _walk(line, events, usable, start, orders)
        damaged += lost
        receipts += sum(1 for m in made if m.kind == RECEIPT)
        moves[level] = made
        if line.has_policy:
            found = crossing(line, made)
            if found is not None:
                crossings.append(found)
    return Restock(moves, crossings, damaged, receipts)


def opening_only(lines: Sequence[Line], *, start: datetime, now: datetime) -> Restock:
    """The stock without a history: each level's opening receipt and, where the plan sold it
    down, one sale of what sold in the last days (no order behind it)."""
    moves: dict[Level, list[Move]] = {}
    crossings: list[Crossing] = []
    for line in lines:
        made = [Move(RECEIPT, line.opening, start)]
        if line.sold:
            made.append(Move(SALE, -line.sold, now - timedelta(days=1)))
        moves[(line.sku, line.node)] = made
        found = crossing(line, made) if line.has_policy else None
        if found is not None:
            crossings.append(found)
    return Restock(moves, crossings, 0, len(lines))


def _walk(
    line: Line,
    events: list[tuple[datetime, int, int, int]],
    slots: list[datetime],
    start: datetime,
    orders: Sequence[HistoricOrder],
) -> tuple[list[Move], int]:
    keep = round(line.opening * KEEP_SHARE)
    batch = max(MIN_BATCH, round(line.opening * BATCH_SHARE))
    level = line.on_hand
    cursor = None  # the time of the event after the gap being looked at (None: now)
    backwards: list[Move] = []
    lost = 0
    sold = False  # since the delivery after this point: a delivery replaces what sold
    for i in range(len(events), -1, -1):
        lower = events[i - 1][0] if i > 0 else start
        # Only the gap's latest slot can take a delivery: after it the level is what was kept.
        k = (bisect_right(slots, cursor) if cursor is not None else len(slots)) - 1
        if sold and k >= 0 and slots[k] > lower:
            delivered = level - min(level, keep)
            if delivered >= batch:
                backwards.append(Move(RECEIPT, delivered, slots[k]))
                level -= delivered
                sold = False
        if i == 0:
            break
        at, units, order, ret = events[i - 1]
        if units < 0:
            level -= units
            sold = True
            backwards.append(Move(SALE, units, at, order))
        elif line.on_hand > 0 and level >= units:
            level -= units
            backwards.append(Move(RETURN, units, at, order, ret))
        else:
            lost += units
            _mark_damaged(orders[order], ret, line.sku)
        cursor = at
    if level > 0:
        backwards.append(Move(RECEIPT, level, start))
    backwards.reverse()
    return backwards, lost


def _mark_damaged(order: HistoricOrder, ret: int, sku: str) -> None:
    for line in order.returns[ret].lines:
        if order.lines[line.line_no - 1].sku == sku:
            line.condition = DAMAGED


def crossing(line: Line, moves: Sequence[Move]) -> Crossing | None:
    """The level's last sale took it under its threshold and it has stayed there since."""
    threshold = alert_threshold(line.reorder_point, line.safety_stock)
    on_hand = 0
    crossed = False
    for move in moves:
        before = atp(on_hand, 0, line.safety_stock)
        on_hand += move.quantity
        after = atp(on_hand, 0, line.safety_stock)
        if move.kind == SALE and crossed_below(before, after, threshold):
            crossed = True
        elif after >= threshold:
            crossed = False
    if not crossed:
        return None
    return Crossing(line.sku, line.node, atp(on_hand, 0, line.safety_stock), threshold)
