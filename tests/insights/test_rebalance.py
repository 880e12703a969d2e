"""The rebalancing policy: surplus and deficit, the min-cost flow, and what every move promises."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yipan.insights.domain.rebalance import (
    InvalidPlanRules,
    NodeStock,
    Rules,
    SourceChoice,
    Unfilled,
    deficit_array,
    deficit_units,
    keep_level,
    plan_sku,
    surplus_array,
    surplus_units,
)
from yipan.inventory.domain import haversine_km

# Points on a line north of Nanjing: about 111 km per degree of latitude.
LON = 118.8


def at(code: str, km_north: float, available: int, **kw: object) -> NodeStock:
    return NodeStock(code, 32.0 + km_north / 111.195, LON, available, **kw)  # type: ignore[arg-type]


# --- surplus and deficit -------------------------------------------------------------------------


def test_a_source_keeps_its_reorder_point_or_x_days_of_demand_whichever_is_higher() -> None:
    rules = Rules(surplus_days=60, deficit_days=14)
    assert surplus_units(at("WH", 0, 100, reorder_point=20, daily_demand=1.0), rules) == 40
    assert surplus_units(at("WH", 0, 100, reorder_point=80, daily_demand=1.0), rules) == 20
    assert surplus_units(at("WH", 0, 50, reorder_point=20, daily_demand=1.0), rules) == 0


def test_a_node_is_short_of_y_days_of_demand_or_its_reorder_point_less_what_is_coming() -> None:
    rules = Rules(surplus_days=60, deficit_days=14)
    assert deficit_units(at("ST", 0, 3, reorder_point=6, daily_demand=1.0), rules) == 11
    assert deficit_units(at("ST", 0, 3, reorder_point=20, daily_demand=1.0), rules) == 17
    assert deficit_units(at("ST", 0, 3, reorder_point=6, daily_demand=1.0, inbound=5), rules) == 6
    assert deficit_units(at("ST", 0, 20, reorder_point=6, daily_demand=1.0), rules) == 0


def test_a_node_without_sales_is_short_only_under_its_reorder_point() -> None:
    rules = Rules()
    assert deficit_units(at("ST", 0, 2, reorder_point=5), rules) == 3
    assert deficit_units(at("ST", 0, 5, reorder_point=5), rules) == 0
    assert deficit_units(at("ST", 0, 0), rules) == 0
    # ...and everything above its reorder point can go elsewhere.
    assert surplus_units(at("DC", 0, 90, reorder_point=20), rules) == 70


def test_half_a_unit_a_day_for_14_days_is_7_not_8() -> None:
    assert keep_level(at("ST", 0, 0, daily_demand=0.5), Rules(surplus_days=14)) == 7


@pytest.mark.parametrize(
    "bad",
    [
        {"surplus_days": 10, "deficit_days": 14},
        {"max_distance_km": 0},
        {"min_transfer_qty": 0},
        {"pack_size": 0},
        {"fen_per_move": -1},
    ],
)
def test_rules_that_do_not_hold_together_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InvalidPlanRules):
        Rules(**bad)  # type: ignore[arg-type]


# --- hand-checked plans --------------------------------------------------------------------------


def test_one_source_fills_one_short_store_and_says_why() -> None:
    rules = Rules(surplus_days=60, deficit_days=14, fen_per_unit_100km=20, fen_per_move=5000)
    plan = plan_sku(
        "TEE",
        [
            at("WH", 300, 700, reorder_point=20, daily_demand=2.0),
            at("ST", 0, 0, reorder_point=6, daily_demand=1.0),
        ],
        rules,
    )
    (move,) = plan.moves
    assert (move.source, move.destination, move.quantity) == ("WH", "ST", 14)
    assert move.distance_km == pytest.approx(300, abs=0.5)
    assert move.cost_fen == 5000 + round(14 * move.distance_km * 20 / 100)
    assert (move.source_before, move.source_after, move.source_keeps) == (700, 686, 120)
    assert (move.destination_before, move.destination_after) == (0, 14)
    assert (move.destination_cover_before, move.destination_cover_after) == (0.0, 14.0)
    assert (move.source_cover_before, move.source_cover_after) == (350.0, 343.0)
    assert move.choice is SourceChoice.ONLY_IN_REACH
    assert "300 km" in move.explanation
    assert "0 → 14 days of cover" in move.explanation
    assert "only node with surplus within 500 km" in move.explanation
    assert plan.shortfalls == ()


def test_the_nearest_source_with_surplus_serves_a_lone_short_store() -> None:
    plan = plan_sku(
        "TEE",
        [
            at("FAR", 300, 500, reorder_point=10),
            at("NEAR", 100, 500, reorder_point=10),
            at("ST", 0, 0, reorder_point=8),
        ],
        Rules(),
    )
    (move,) = plan.moves
    assert (move.source, move.quantity, move.choice) == ("NEAR", 8, SourceChoice.NEAREST)


def test_the_plan_is_the_global_optimum_not_nearest_first() -> None:
    # D1 is nearest to S1, but S2 can reach only D1: nearest-first would strand D2.
    rules = Rules(max_distance_km=150)
    s1, s2 = at("S1", 0, 20, reorder_point=10), at("S2", 200, 20, reorder_point=10)
    d1, d2 = at("D1", 90, 0, reorder_point=10), at("D2", -50, 0, reorder_point=10)
    plan = plan_sku("TEE", [s1, s2, d1, d2], rules)
    moved = {(m.source, m.destination): m for m in plan.moves}
    assert set(moved) == {("S1", "D2"), ("S2", "D1")}
    assert plan.moved == 20
    d1_move = moved[("S2", "D1")]
    assert d1_move.choice is SourceChoice.NEARER_USED
    assert [(n.node, n.left) for n in d1_move.nearer] == [("S1", 0)]
    assert "S1 (90 km, 0 left)" in d1_move.explanation


def test_a_store_out_of_reach_stays_short_and_says_so() -> None:
    plan = plan_sku(
        "TEE",
        [at("WH", 600, 500, reorder_point=10), at("ST", 0, 0, reorder_point=8)],
        Rules(max_distance_km=500),
    )
    assert plan.moves == ()
    (short,) = plan.shortfalls
    assert (short.node, short.deficit, short.unfilled) == ("ST", 8, 8)
    assert short.reason is Unfilled.NONE_IN_REACH


def test_a_partial_fill_when_surplus_is_short_names_the_rest() -> None:
    plan = plan_sku(
        "TEE",
        [at("WH", 100, 15, reorder_point=10), at("ST", 0, 0, reorder_point=8)],
        Rules(),
    )
    (move,) = plan.moves
    assert move.quantity == 5
    assert (move.unfilled_after, move.unfilled_reason) == (3, Unfilled.SURPLUS_USED)
    assert "3 of ST's deficit stays unfilled" in move.explanation
    assert [(s.filled, s.unfilled, s.reason) for s in plan.shortfalls] == [
        (5, 3, Unfilled.SURPLUS_USED)
    ]


def test_whole_packs_only_and_the_remainder_is_reported() -> None:
    # Surplus 25 → 4 packs of 6; deficit 17 → 2 packs: 12 move, 5 stay short (under a pack).
    plan = plan_sku(
        "TEE",
        [at("WH", 50, 35, reorder_point=10), at("ST", 0, 0, reorder_point=17)],
        Rules(pack_size=6),
    )
    (move,) = plan.moves
    assert move.quantity == 12
    (short,) = plan.shortfalls
    assert (short.unfilled, short.reason) == (5, Unfilled.UNDER_PACK)


def test_a_deficit_under_the_minimum_transfer_is_not_served() -> None:
    plan = plan_sku(
        "TEE",
        [at("WH", 50, 100, reorder_point=10), at("ST", 0, 1, reorder_point=4)],
        Rules(min_transfer_qty=5),
    )
    assert plan.moves == ()
    assert [(s.unfilled, s.reason) for s in plan.shortfalls] == [(3, Unfilled.UNDER_MINIMUM)]


def test_a_lane_under_the_minimum_is_closed_and_what_it_carried_placed_again() -> None:
    # Unconstrained, the cheapest plan sends S1's 8 to A (6) and B (2) and S2's to B (4); with
    # a minimum of 5 the small lanes close and each store gets one source's whole share.
    s1, s2 = at("S1", 0, 18, reorder_point=10), at("S2", 100, 18, reorder_point=10)
    a, b = at("A", 10, 0, reorder_point=6), at("B", 20, 0, reorder_point=6)
    unconstrained = plan_sku("TEE", [s1, s2, a, b], Rules())
    assert sorted(m.quantity for m in unconstrained.moves) == [2, 4, 6]
    plan = plan_sku("TEE", [s1, s2, a, b], Rules(min_transfer_qty=5))
    assert {(m.source, m.destination, m.quantity) for m in plan.moves} == {
        ("S1", "A", 6),
        ("S2", "B", 6),
    }


def test_nothing_to_move_without_a_deficit() -> None:
    plan = plan_sku("TEE", [at("WH", 0, 500), at("ST", 10, 30, reorder_point=5)], Rules())
    assert plan.moves == ()
    assert plan.shortfalls == ()
    assert plan.deficit == 0


def test_a_node_that_takes_no_transfers_is_not_sent_any() -> None:
    plan = plan_sku(
        "TEE",
        [at("WH", 10, 500), at("ST", 0, 0, reorder_point=5, can_receive=False)],
        Rules(),
    )
    assert plan.moves == ()
    assert [s.reason for s in plan.shortfalls] == [Unfilled.CANNOT_RECEIVE]


def test_a_store_does_not_send_its_surplus_up_to_a_warehouse_unless_allowed() -> None:
    stocks = [at("ST", 0, 50, reorder_point=5, store=True), at("WH", 20, 0, reorder_point=30)]
    assert plan_sku("TEE", stocks, Rules()).moves == ()
    assert [s.reason for s in plan_sku("TEE", stocks, Rules()).shortfalls] == [
        Unfilled.NONE_IN_REACH
    ]
    (move,) = plan_sku("TEE", stocks, Rules(store_to_site=True)).moves
    assert (move.source, move.destination, move.quantity) == ("ST", "WH", 30)


def test_a_short_store_with_no_surplus_anywhere_says_so() -> None:
    plan = plan_sku(
        "TEE", [at("WH", 10, 20, reorder_point=20), at("ST", 0, 0, reorder_point=5)], Rules()
    )
    assert [(s.unfilled, s.reason) for s in plan.shortfalls] == [(5, Unfilled.NO_SURPLUS)]


def test_chained_moves_into_one_store_show_its_level_after_each() -> None:
    plan = plan_sku(
        "TEE",
        [
            at("S1", 10, 14, reorder_point=10),
            at("S2", 20, 14, reorder_point=10),
            at("ST", 0, 0, reorder_point=8),
        ],
        Rules(),
    )
    first, second = plan.moves
    assert (first.source, first.destination_before, first.destination_after) == ("S1", 0, 4)
    assert (second.source, second.destination_before, second.destination_after) == ("S2", 4, 8)
    assert second.choice is SourceChoice.NEARER_USED


# --- properties ----------------------------------------------------------------------------------

CODES = [f"N{i:02d}" for i in range(12)]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[NodeStock], Rules]:
    n = draw(st.integers(min_value=1, max_value=10))
    stocks = [
        NodeStock(
            CODES[i],
            draw(st.floats(min_value=30.0, max_value=36.0)),
            draw(st.floats(min_value=116.0, max_value=122.0)),
            available=draw(st.integers(min_value=0, max_value=400)),
            reorder_point=draw(st.integers(min_value=0, max_value=40)),
            daily_demand=draw(st.sampled_from([0.0, 0.2, 0.5, 1.0, 2.5, 7.0])),
            inbound=draw(st.integers(min_value=0, max_value=10)),
            can_send=draw(st.booleans()),
            can_receive=draw(st.booleans()),
            store=draw(st.booleans()),
        )
        for i in range(n)
    ]
    deficit_days = draw(st.sampled_from([0.0, 7.0, 14.0, 21.0]))
    rules = Rules(
        surplus_days=deficit_days + draw(st.sampled_from([0.0, 10.0, 30.0])),
        deficit_days=deficit_days,
        max_distance_km=draw(st.sampled_from([50.0, 200.0, 400.0, 1000.0])),
        min_transfer_qty=draw(st.integers(min_value=1, max_value=12)),
        pack_size=draw(st.sampled_from([1, 1, 2, 5, 6])),
    )
    return stocks, rules


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_every_plan_keeps_the_rules(world: tuple[list[NodeStock], Rules]) -> None:
    stocks, rules = world
    plan = plan_sku("SKU", stocks, rules)
    by_node = {s.node: s for s in stocks}
    sent: dict[str, int] = defaultdict(int)
    got: dict[str, int] = defaultdict(int)
    for move in plan.moves:
        source, dest = by_node[move.source], by_node[move.destination]
        # Each end's level runs on from the moves before it.
        assert move.source_before == source.available - sent[move.source]
        assert move.destination_before == dest.available + dest.inbound + got[move.destination]
        assert move.source_after == move.source_before - move.quantity
        assert move.destination_after == move.destination_before + move.quantity
        assert (move.choice is SourceChoice.NEARER_USED) == bool(move.nearer)
        for nearer in move.nearer:
            other = by_node[nearer.node]
            assert nearer.node != move.source
            assert nearer.distance_km <= move.distance_km
            assert haversine_km(other.latitude, other.longitude, dest.latitude, dest.longitude) <= (
                rules.max_distance_km
            )
        assert move.quantity % rules.pack_size == 0
        assert move.quantity >= rules.min_transfer_qty
        km = haversine_km(source.latitude, source.longitude, dest.latitude, dest.longitude)
        assert km <= rules.max_distance_km
        assert source.can_send
        assert dest.can_receive
        assert dest.store or not source.store  # no store sends up to a warehouse
        sent[move.source] += move.quantity
        got[move.destination] += move.quantity
    for node, out in sent.items():
        stock = by_node[node]
        assert out <= surplus_units(stock, rules)
        assert stock.available - out >= stock.reorder_point  # never under its reorder point
        assert node not in got  # a node gives or takes, never both
    for node, into in got.items():
        assert into <= deficit_units(by_node[node], rules)
    total_deficit = sum(deficit_units(s, rules) for s in stocks)
    assert plan.moved <= total_deficit == plan.deficit
    for short in plan.shortfalls:
        assert short.filled == got[short.node]
        assert short.unfilled > 0


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_with_no_pack_or_minimum_no_deficit_is_left_beside_surplus_in_reach(
    world: tuple[list[NodeStock], Rules],
) -> None:
    stocks, rules = world
    rules = Rules(
        surplus_days=rules.surplus_days,
        deficit_days=rules.deficit_days,
        max_distance_km=rules.max_distance_km,
        min_transfer_qty=1,
    )
    plan = plan_sku("SKU", stocks, rules)
    left = {s.node: surplus_units(s, rules) for s in stocks if s.can_send}
    for move in plan.moves:
        left[move.source] -= move.quantity
    for short in plan.shortfalls:
        if short.reason is Unfilled.CANNOT_RECEIVE:
            continue
        dest = next(s for s in stocks if s.node == short.node)
        for node, units in left.items():
            source = next(s for s in stocks if s.node == node)
            if source.store and not dest.store:
                continue
            km = haversine_km(source.latitude, source.longitude, dest.latitude, dest.longitude)
            assert units == 0 or km > rules.max_distance_km, (short, node, units)


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_the_array_figures_equal_the_per_node_ones(world: tuple[list[NodeStock], Rules]) -> None:
    stocks, rules = world
    available = np.array([s.available for s in stocks], dtype=np.int64)
    reorder = np.array([s.reorder_point for s in stocks], dtype=np.int64)
    demand = np.array([s.daily_demand for s in stocks], dtype=np.float64)
    inbound = np.array([s.inbound for s in stocks], dtype=np.int64)
    assert surplus_array(available, reorder, demand, rules).tolist() == [
        surplus_units(s, rules) for s in stocks
    ]
    assert deficit_array(available, reorder, demand, inbound, rules).tolist() == [
        deficit_units(s, rules) for s in stocks
    ]
