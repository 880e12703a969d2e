"""Points paid for an order, spread over its lines: whatever the lines cost and whatever the
redemption rate, the parts add up exactly, every part is whole steps of points, and no line is
paid for by points beyond what it costs (its money part never goes below zero)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.orders.world import JEANS
from yipan.orders.errors import InvalidOrder
from yipan.orders.schemas import OrderIn
from yipan.orders.service.checkout import PointsSpent, spread_points
from yipan.promotions.schemas import RedemptionOut


def order(points_used: int, lines: int) -> OrderIn:
    return OrderIn.model_validate(
        {
            "channel": "miniapp",
            "external_id": "MP-1",
            "lines": [{"sku": JEANS, "quantity": 1, "unit_price_fen": 0}] * lines,
            "points_used": points_used,
            "total_fen": 0,
        }
    )


def quoted(payables: list[int]) -> RedemptionOut:
    lines = [SimpleNamespace(line_no=n, payable_fen=p) for n, p in enumerate(payables, 1)]
    return cast(RedemptionOut, SimpleNamespace(quote=SimpleNamespace(lines=lines)))


@given(
    payables=st.lists(st.integers(0, 200_000), min_size=1, max_size=12),
    step=st.sampled_from([1, 2, 100]),
    step_fen=st.sampled_from([1, 2, 3]),
    data=st.data(),
)
def test_points_spread_over_lines_add_up_and_never_pay_more_than_a_line_costs(
    payables: list[int], step: int, step_fen: int, data: st.DataObject
) -> None:
    room = sum(p // step_fen for p in payables)
    units = data.draw(st.integers(1, max(1, room)))
    points, value = units * step, units * step_fen
    if units > room:
        with pytest.raises(InvalidOrder):
            spread_points(order(points, len(payables)), PointsSpent(value, step), quoted(payables))
        return
    paid = spread_points(order(points, len(payables)), PointsSpent(value, step), quoted(payables))
    assert (paid.used, paid.fen) == (points, value)
    assert sum(paid.used_by_line.values()) == points
    assert sum(paid.fen_by_line.values()) == value
    for n, cost in enumerate(payables, 1):
        assert paid.used_of(n) % step == 0
        assert paid.fen_of(n) == paid.used_of(n) // step * step_fen
        assert 0 <= paid.fen_of(n) <= cost
