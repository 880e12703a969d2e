"""Receipts worked out backwards: every level ends at the plan and never goes below zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yipan.demo.marketing import SHANGHAI
from yipan.demo.replenish import QUIET_DAYS, delivery_slots, replenish
from yipan.demo.stock import Line
from yipan.inventory.domain import alert_threshold, atp
from yipan.orders.domain.history import (
    DAMAGED,
    RESELLABLE,
    HistoricLine,
    HistoricOrder,
    HistoricParcel,
    HistoricReturn,
    HistoricReturnLine,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
START = NOW - timedelta(days=365, hours=1)
SKU, STORE = "AP-0001-WHT-L", "ST-JS-NJ-001"


def _sale(
    at: datetime, quantity: int, returned: tuple[datetime, int] | None = None
) -> HistoricOrder:
    order = HistoricOrder(
        channel="pos",
        external_id=f"R{at.timestamp()}",
        kind="pos",
        state="completed",
        placed_at=at,
        lines=[HistoricLine(SKU, quantity, 7900)],
        parcels=[
            HistoricParcel(STORE, "counter", "in_store", "picked_up", [(1, quantity)], at, at, at)
        ],
    )
    if returned is not None:
        back_at, units = returned
        order.returns.append(
            HistoricReturn("k", STORE, back_at, [HistoricReturnLine(1, units, RESELLABLE)])
        )
    return order


def _running(moves: list) -> list[int]:  # type: ignore[type-arg]
    level, seen = 0, []
    for move in moves:
        level += move.quantity
        seen.append(level)
    return seen


events = st.lists(
    st.tuples(
        st.integers(1, 365 * 24 - 1),  # hours before now
        st.integers(1, 5),
        st.one_of(st.none(), st.tuples(st.integers(1, 100), st.integers(1, 5))),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(events=events, opening=st.integers(1, 40), on_hand=st.integers(0, 30), sold=st.booleans())
def test_any_history_ends_at_the_plan_without_going_below_zero(
    events: list[tuple[int, int, tuple[int, int] | None]], opening: int, on_hand: int, sold: bool
) -> None:
    orders = []
    for hours, quantity, back in events:
        at = NOW - timedelta(hours=hours)
        returned = None
        if back is not None and at + timedelta(hours=back[0]) < NOW:
            returned = (at + timedelta(hours=back[0]), min(back[1], quantity))
        orders.append(_sale(at, quantity, returned))
    line = Line(SKU, STORE, max(opening, on_hand), max(opening, on_hand) - on_hand if sold else 0)

    restock = replenish([line], orders, start=START, now=NOW)

    moves = restock.moves[(SKU, STORE)]
    assert [m.at for m in moves] == sorted(m.at for m in moves)
    assert all(level >= 0 for level in _running(moves))
    assert sum(m.quantity for m in moves) == line.on_hand
    sales = sorted((o.placed_at, -o.lines[0].quantity) for o in orders)
    assert sorted((m.at, m.quantity) for m in moves if m.kind == "sale") == sales
    came_back = sum(r.lines[0].quantity for o in orders for r in o.returns)
    damaged = sum(
        r.lines[0].quantity for o in orders for r in o.returns if r.lines[0].condition == DAMAGED
    )
    assert sum(m.quantity for m in moves if m.kind == "return") == came_back - damaged
    assert damaged == restock.damaged
    if line.on_hand == 0:
        assert damaged == came_back  # a sold-out level reads as receipts and sales only
    receipts = [m for m in moves if m.kind == "receipt"]
    assert all(m.quantity > 0 for m in receipts)
    if line.sold:
        quiet = NOW - timedelta(days=QUIET_DAYS)
        assert all(m.at <= quiet for m in receipts)


def test_a_level_nobody_bought_from_is_one_opening_receipt() -> None:
    restock = replenish([Line(SKU, "WH-SD-LY-01", 700)], [], start=START, now=NOW)
    [move] = restock.moves[(SKU, "WH-SD-LY-01")]
    assert (move.kind, move.quantity, move.at) == ("receipt", 700, START)


def test_deliveries_come_on_monday_mornings() -> None:
    slots = delivery_slots(START, NOW)
    assert 51 <= len(slots) <= 53
    assert all(s.astimezone(SHANGHAI).weekday() == 0 for s in slots)
    assert all(s.astimezone(SHANGHAI).hour == 3 for s in slots)
    assert slots[0] > START
    assert slots[-1] < NOW


def test_a_policy_level_whose_last_sale_took_it_under_its_reorder_point_is_a_crossing() -> None:
    line = Line(SKU, STORE, opening=20, sold=16, safety_stock=2, reorder_point=7)
    sales = [_sale(NOW - timedelta(days=d), 4) for d in (6, 5, 3, 1)]

    restock = replenish([line], sales, start=START, now=NOW)

    [crossing] = restock.crossings
    threshold = alert_threshold(line.reorder_point, line.safety_stock)
    assert (crossing.sku, crossing.node, crossing.threshold) == (SKU, STORE, threshold)
    assert crossing.atp == atp(line.on_hand, 0, line.safety_stock) < threshold


def test_history_may_only_touch_levels_the_plan_has() -> None:
    stranger = _sale(NOW - timedelta(days=3), 1)
    stranger.parcels[0].node = "ST-ZJ-HZ-001"
    with pytest.raises(ValueError, match="ST-ZJ-HZ-001"):
        replenish([Line(SKU, STORE, 5)], [stranger], start=START, now=NOW)
