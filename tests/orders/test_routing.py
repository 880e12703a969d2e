"""Order routing: each method and rule, the explanation, and plan invariants as properties."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yipan.inventory.domain import NodeType, haversine_km
from yipan.orders.domain.routing import (
    Allocation,
    Destination,
    Line,
    Method,
    NodeOption,
    Rejection,
    RoutingDecision,
    RoutingPolicy,
    route,
)

HOME = Destination(31.2304, 121.4737)  # People's Square, Shanghai


def node(code: str, **kw: object) -> NodeOption:
    defaults: dict[str, object] = {
        "type": NodeType.WAREHOUSE,
        "lat": HOME.lat,
        "lon": HOME.lon,
        "can_ship": True,
        "capacity_left": 100,
        "atp": {"A": 10},
    }
    defaults.update(kw)
    return NodeOption(code=code, **defaults)  # type: ignore[arg-type]


def km_north(km: float) -> float:
    return HOME.lat + km / 111.195


def ship(line_id: str, sku: str = "A", qty: int = 1) -> Line:
    return Line(line_id, sku, qty)


def rejection(decision: RoutingDecision, code: str) -> Rejection:
    reasons = {r.node: r.reason for g in decision.explanation for r in g.rejected}
    return reasons[code]


def by_line(decision: RoutingDecision) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for a in decision.assignments:
        out.setdefault(a.line_id, []).append((a.node, a.quantity))
    return out


POLICY = RoutingPolicy()


# --- ship ---------------------------------------------------------------------------------


def test_ship_prefers_the_nearer_node_and_explains_why() -> None:
    near = node("N1", lat=km_north(5))
    far = node("N2", lat=km_north(300))
    decision = route([ship("l1")], [far, near], HOME, POLICY)
    assert decision.assignments == (Allocation("l1", "N1", 1),)
    [group] = decision.explanation
    assert group.candidates == ("N1", "N2")
    assert [p.nodes for p in group.plans] == [("N1",), ("N2",)]
    assert group.chosen is not None
    assert group.chosen.breakdown.distance < group.plans[1].breakdown.distance
    assert "N1" in group.why
    assert "N2" in group.why


def test_breakdown_sums_to_total_and_reflects_each_factor() -> None:
    policy = RoutingPolicy(distance_weight=1.0, capacity_weight=10.0, stock_health_weight=0.0)
    n = node("N1", lat=km_north(10), capacity_left=5)
    [group] = route([ship("l1")], [n], HOME, policy).explanation
    b = group.plans[0].breakdown
    assert b.distance == pytest.approx(haversine_km(n.lat, n.lon, HOME.lat, HOME.lon))
    assert b.handling == policy.handling_cost[NodeType.WAREHOUSE]
    assert b.capacity == pytest.approx(2.0)
    assert b.split == 0
    assert b.total == pytest.approx(b.distance + b.handling + b.capacity + b.stock_health)


def test_handling_cost_per_node_type_decides_between_equidistant_nodes() -> None:
    store = node("A-store", type=NodeType.STORE)
    dc = node("B-dc", type=NodeType.DC)
    assert route([ship("l1")], [store, dc], HOME, POLICY).assignments[0].node == "B-dc"
    cheap_store = RoutingPolicy(handling_cost={NodeType.STORE: 0.0, NodeType.DC: 9.0})
    assert route([ship("l1")], [store, dc], HOME, cheap_store).assignments[0].node == "A-store"


def test_capacity_left_prefers_the_less_loaded_node_and_full_nodes_are_rejected() -> None:
    busy = node("N1", capacity_left=1)
    idle = node("N2", capacity_left=50)
    full = node("N3", capacity_left=0)
    decision = route([ship("l1")], [busy, idle, full], HOME, POLICY)
    assert decision.assignments[0].node == "N2"
    assert rejection(decision, "N3") is Rejection.AT_CAPACITY


def test_stock_health_prefers_surplus_over_a_node_near_its_reorder_point() -> None:
    low = node("N1", atp={"A": 6}, reorder_point={"A": 5})
    rich = node("N2", atp={"A": 60}, reorder_point={"A": 5})
    decision = route([ship("l1")], [low, rich], HOME, POLICY)
    assert decision.assignments[0].node == "N2"
    [group] = decision.explanation
    scores = {p.nodes[0]: p.breakdown.stock_health for p in group.plans}
    assert scores["N2"] < scores["N1"]


def test_rejections_carry_every_reason() -> None:
    policy = RoutingPolicy(max_distance_km=100, excluded_types=frozenset({NodeType.STORE}))
    nodes = [
        node("OK"),
        node("INACT", active=False),
        node("NOSHIP", can_ship=False),
        node("FAR", lat=km_north(200)),
        node("STORE", type=NodeType.STORE),
        node("FULL", capacity_left=0),
        node("EMPTY", atp={"A": 0}),
        node("BEFORE"),
    ]
    decision = route([ship("l1")], nodes, HOME, policy, exclude=frozenset({"BEFORE"}))
    assert decision.assignments == (Allocation("l1", "OK", 1),)
    expected = {
        "INACT": Rejection.INACTIVE,
        "NOSHIP": Rejection.INCAPABLE,
        "FAR": Rejection.TOO_FAR,
        "STORE": Rejection.EXCLUDED_TYPE,
        "FULL": Rejection.AT_CAPACITY,
        "EMPTY": Rejection.NO_STOCK,
        "BEFORE": Rejection.REJECTED_BEFORE,
    }
    assert {code: rejection(decision, code) for code in expected} == expected
    assert "200" in next(r.detail for r in decision.explanation[0].rejected if r.node == "FAR")


def test_reroute_excluding_the_node_that_rejected_moves_to_the_next_best() -> None:
    nodes = [node("N1", lat=km_north(1)), node("N2", lat=km_north(50))]
    first = route([ship("l1")], nodes, HOME, POLICY)
    assert first.assignments[0].node == "N1"
    again = route([ship("l1")], nodes, HOME, POLICY, exclude=frozenset({"N1"}))
    assert again.assignments == (Allocation("l1", "N2", 1),)
    assert rejection(again, "N1") is Rejection.REJECTED_BEFORE


def test_one_node_serving_all_lines_beats_a_cheaper_split() -> None:
    policy = RoutingPolicy(split_penalty=0.0)
    near_a = node("NA", atp={"A": 5}, lat=km_north(1))
    near_b = node("NB", atp={"B": 5}, lat=km_north(1))
    far_both = node("NF", atp={"A": 5, "B": 5}, lat=km_north(400))
    decision = route([ship("l1", "A"), ship("l2", "B")], [near_a, near_b, far_both], HOME, policy)
    assert {a.node for a in decision.assignments} == {"NF"}
    assert decision.explanation[0].chosen is not None
    assert decision.explanation[0].chosen.breakdown.split == 0


def test_split_across_nodes_when_no_single_node_has_everything() -> None:
    na = node("NA", atp={"A": 5})
    nb = node("NB", atp={"B": 5})
    decision = route([ship("l1", "A"), ship("l2", "B")], [na, nb], HOME, POLICY)
    assert by_line(decision) == {"l1": [("NA", 1)], "l2": [("NB", 1)]}
    chosen = decision.explanation[0].chosen
    assert chosen is not None
    assert chosen.breakdown.split == POLICY.split_penalty
    assert "split" in decision.explanation[0].why


def test_split_reuses_a_node_already_in_the_plan() -> None:
    both = node("N1", atp={"A": 5, "B": 0, "C": 5}, lat=km_north(20))
    only_b = node("N2", atp={"B": 5}, lat=km_north(20))
    near_c = node("N3", atp={"C": 5}, lat=km_north(15))
    lines = [ship("l1", "A"), ship("l2", "B"), ship("l3", "C")]
    decision = route(lines, [both, only_b, near_c], HOME, POLICY)
    assert by_line(decision)["l3"] == [("N1", 1)]
    assert {a.node for a in decision.assignments} == {"N1", "N2"}


def test_a_line_is_split_only_when_no_node_has_enough() -> None:
    nodes = [node("N1", atp={"A": 3}), node("N2", atp={"A": 4}), node("N3", atp={"A": 1})]
    decision = route([ship("l1", qty=6)], nodes, HOME, POLICY)
    assert sorted(by_line(decision)["l1"]) == [("N1", 2), ("N2", 4)]
    no_split = route([ship("l1", qty=6)], nodes, HOME, RoutingPolicy(allow_split=False))
    assert no_split.assignments == ()
    assert [u.line_id for u in no_split.unfulfillable] == ["l1"]


def test_without_splits_the_node_serving_most_lines_wins_and_the_rest_is_unfulfillable() -> None:
    na = node("NA", atp={"A": 5, "B": 5})
    nc = node("NC", atp={"C": 5})
    lines = [ship("l1", "A"), ship("l2", "B"), ship("l3", "C")]
    decision = route(lines, [na, nc], HOME, RoutingPolicy(allow_split=False))
    assert {a.node for a in decision.assignments} == {"NA"}
    assert [u.line_id for u in decision.unfulfillable] == ["l3"]
    assert "splits are not allowed" in decision.unfulfillable[0].reason


def test_not_enough_stock_anywhere_is_unfulfillable_not_partial() -> None:
    nodes = [node("N1", atp={"A": 2}), node("N2", atp={"A": 2})]
    decision = route([ship("l1", qty=5)], nodes, HOME, POLICY)
    assert decision.assignments == ()
    assert "only 4" in decision.unfulfillable[0].reason


def test_routing_is_deterministic_and_ties_break_by_node_code() -> None:
    nodes = [node(code) for code in ("N3", "N1", "N2")]
    first = route([ship("l1")], nodes, HOME, POLICY)
    assert first.assignments[0].node == "N1"
    assert route([ship("l1")], list(reversed(nodes)), HOME, POLICY) == first


# --- local delivery and group leaders -----------------------------------------------------


def test_local_delivery_needs_capability_and_radius_and_promises_one_hour() -> None:
    inside = node(
        "S1", type=NodeType.STORE, can_local_delivery=True, local_radius_km=3, lat=km_north(2)
    )
    outside = node(
        "S2", type=NodeType.STORE, can_local_delivery=True, local_radius_km=3, lat=km_north(4)
    )
    incapable = node("S3", type=NodeType.STORE, lat=km_north(1))
    line = Line("l1", "A", 1, Method.LOCAL_DELIVERY)
    decision = route([line], [inside, outside, incapable], HOME, POLICY)
    assert decision.assignments == (Allocation("l1", "S1", 1),)
    assert decision.explanation[0].promise_within_hours == 1.0
    assert rejection(decision, "S2") is Rejection.TOO_FAR
    assert rejection(decision, "S3") is Rejection.INCAPABLE


def test_group_leader_delivery_comes_from_stores_within_the_channel_radius() -> None:
    policy = RoutingPolicy(group_leader_radius_km=5)
    store = node("S1", type=NodeType.STORE, lat=km_north(4))
    far_store = node("S2", type=NodeType.STORE, lat=km_north(6))
    warehouse = node("W1", lat=km_north(1))
    line = Line("l1", "A", 1, Method.GROUP_LEADER)
    decision = route([line], [store, far_store, warehouse], HOME, policy)
    assert decision.assignments == (Allocation("l1", "S1", 1),)
    assert rejection(decision, "S2") is Rejection.TOO_FAR
    assert rejection(decision, "W1") is Rejection.INCAPABLE


# --- pickup -------------------------------------------------------------------------------


def store(code: str, km: float, **kw: object) -> NodeOption:
    return node(code, type=NodeType.STORE, can_pickup=True, lat=km_north(km), **kw)


def test_pickup_is_served_by_the_chosen_store_only() -> None:
    chosen = store("S2", 10)
    nearer = store("S1", 0)
    line = Line("l1", "A", 2, Method.PICKUP, pickup_node="S2")
    decision = route([line], [nearer, chosen], HOME, POLICY)
    assert decision.assignments == (Allocation("l1", "S2", 2),)
    assert decision.explanation[0].candidates == ("S2",)
    assert rejection(decision, "S1") is Rejection.INCAPABLE


def test_pickup_without_stock_offers_nearest_stores_and_a_transfer_with_eta() -> None:
    policy = RoutingPolicy(transfer_speed_kmh=50, transfer_handling_hours=2, pickup_alternatives=2)
    chosen = store("S0", 0, atp={"A": 1})
    nodes = [
        chosen,
        store("S1", 3, atp={"A": 5}),
        store("S2", 1, atp={"A": 5}),
        store("S3", 2, atp={"A": 5}),
        store("S4", 0.5, atp={"A": 1}),  # too little
        node("W1", lat=km_north(0.8), atp={"A": 99}),  # no pickup, but a transfer source
    ]
    line = Line("l1", "A", 3, Method.PICKUP, pickup_node="S0")
    decision = route([line], nodes, HOME, policy)
    assert decision.assignments == ()
    [unf] = decision.unfulfillable
    assert "1 of 3" in unf.reason
    assert [a.node for a in unf.alternatives] == ["S2", "S3"]
    assert unf.alternatives[0].distance_km == pytest.approx(1.0, rel=0.01)
    assert unf.transfer is not None
    assert unf.transfer.source == "W1"
    assert unf.transfer.to_node == "S0"
    assert unf.transfer.quantity == 2  # the store has 1 of the 3
    assert unf.transfer.distance_km == pytest.approx(0.8, rel=0.01)
    assert unf.transfer.eta_hours == pytest.approx(2 + 0.8 / 50, rel=0.01)
    assert rejection(decision, "S0") is Rejection.NO_STOCK


def test_a_transfer_also_covers_a_store_short_of_its_safety_stock() -> None:
    # 1 on hand under a safety stock of 3: raw ATP -2, so 2 + 1 must arrive to promise one.
    nodes = [store("S0", 0, atp={"A": -2}), node("W1", lat=km_north(5), atp={"A": 99})]
    line = Line("l1", "A", 1, Method.PICKUP, pickup_node="S0")
    [unf] = route([line], nodes, HOME, POLICY).unfulfillable
    assert "0 of 1" in unf.reason
    assert unf.transfer is not None
    assert (unf.transfer.source, unf.transfer.quantity) == ("W1", 3)


def test_pickup_at_an_inactive_or_rejecting_store_is_unfulfillable() -> None:
    line = Line("l1", "A", 1, Method.PICKUP, pickup_node="S0")
    inactive = route([line], [store("S0", 0, active=False)], HOME, POLICY)
    assert inactive.assignments == ()
    assert "not active" in inactive.unfulfillable[0].reason
    rejected = route([line], [store("S0", 0)], HOME, POLICY, exclude=frozenset({"S0"}))
    assert rejection(rejected, "S0") is Rejection.REJECTED_BEFORE


def test_mixed_methods_are_routed_as_separate_groups() -> None:
    lines = [ship("l1"), Line("l2", "A", 1, Method.PICKUP, pickup_node="S0")]
    decision = route(lines, [node("W1"), store("S0", 1, can_ship=False)], HOME, POLICY)
    assert by_line(decision) == {"l1": [("W1", 1)], "l2": [("S0", 1)]}
    assert [g.method for g in decision.explanation] == [Method.SHIP, Method.PICKUP]


# --- properties ---------------------------------------------------------------------------

SKUS = ("A", "B", "C")

nodes_st = st.lists(
    st.builds(
        NodeOption,
        code=st.sampled_from([f"N{i:02d}" for i in range(12)]),
        type=st.sampled_from(list(NodeType)),
        lat=st.floats(30.5, 31.5),
        lon=st.floats(121.0, 122.0),
        active=st.booleans(),
        can_ship=st.booleans(),
        capacity_left=st.integers(0, 5),
        atp=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 8)),
        reorder_point=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 5)),
    ),
    max_size=8,
    unique_by=lambda n: n.code,
)
lines_st = st.lists(
    st.builds(Line, line_id=st.just(""), sku=st.sampled_from(SKUS), quantity=st.integers(1, 6)),
    min_size=1,
    max_size=4,
).map(lambda ls: [replace(ln, line_id=f"l{i}") for i, ln in enumerate(ls)])
policy_st = st.builds(
    RoutingPolicy,
    split_penalty=st.floats(0, 50),
    max_distance_km=st.one_of(st.none(), st.floats(1, 100)),
    excluded_types=st.frozensets(st.sampled_from(list(NodeType)), max_size=2),
    allow_split=st.booleans(),
)
exclude_st = st.frozensets(st.sampled_from([f"N{i:02d}" for i in range(12)]), max_size=3)


def eligible(n: NodeOption, policy: RoutingPolicy, exclude: frozenset[str]) -> bool:
    far = policy.max_distance_km is not None and (
        haversine_km(n.lat, n.lon, HOME.lat, HOME.lon) > policy.max_distance_km
    )
    return (
        n.active
        and n.can_ship
        and n.capacity_left > 0
        and n.code not in exclude
        and n.type not in policy.excluded_types
        and not far
    )


def demand(lines: list[Line]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in lines:
        out[ln.sku] = out.get(ln.sku, 0) + ln.quantity
    return out


def single_node_feasible(
    nodes: list[NodeOption], lines: list[Line], policy: RoutingPolicy, exclude: frozenset[str]
) -> list[NodeOption]:
    return [
        n
        for n in nodes
        if eligible(n, policy, exclude)
        and all(n.available(s) >= q for s, q in demand(lines).items())
    ]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(nodes_st, lines_st, policy_st, exclude_st)
def test_plans_respect_atp_eligibility_and_cover_lines_exactly(
    nodes: list[NodeOption], lines: list[Line], policy: RoutingPolicy, exclude: frozenset[str]
) -> None:
    decision = route(lines, nodes, HOME, policy, exclude=exclude)
    by_code = {n.code: n for n in nodes}
    sku_of = {ln.line_id: ln.sku for ln in lines}
    taken: dict[tuple[str, str], int] = {}
    for a in decision.assignments:
        assert a.quantity > 0
        assert eligible(by_code[a.node], policy, exclude)
        key = (a.node, sku_of[a.line_id])
        taken[key] = taken.get(key, 0) + a.quantity
    for (code, sku), qty in taken.items():
        assert qty <= by_code[code].available(sku)

    covered = {ln.line_id: 0 for ln in lines}
    for a in decision.assignments:
        covered[a.line_id] += a.quantity
    unfulfilled = {u.line_id for u in decision.unfulfillable}
    for ln in lines:
        # A line is covered exactly, or not at all and reported.
        assert covered[ln.line_id] in (0, ln.quantity)
        assert (covered[ln.line_id] == 0) == (ln.line_id in unfulfilled)
    if policy.allow_split:
        pool = {s: sum(n.available(s) for n in nodes if eligible(n, policy, exclude)) for s in SKUS}
        for ln in lines:
            if pool[ln.sku] >= demand(lines)[ln.sku]:
                assert covered[ln.line_id] == ln.quantity
    used = {a.node for a in decision.assignments}
    if not policy.allow_split:
        assert len(used) <= 1


@settings(max_examples=300, deadline=None)
@given(nodes_st, lines_st, policy_st, exclude_st)
def test_never_splits_when_one_node_can_serve_everything(
    nodes: list[NodeOption], lines: list[Line], policy: RoutingPolicy, exclude: frozenset[str]
) -> None:
    decision = route(lines, nodes, HOME, policy, exclude=exclude)
    singles = single_node_feasible(nodes, lines, policy, exclude)
    if singles:
        assert len({a.node for a in decision.assignments}) == 1
        assert decision.unfulfillable == ()
        chosen = decision.explanation[0].chosen
        assert chosen is not None
        # The winner is the cheapest single-node plan, and so no split plan of any cost won.
        assert chosen.total == min(p.total for p in decision.explanation[0].plans)
        assert len(decision.explanation[0].plans) == len(singles)


@settings(max_examples=200, deadline=None)
@given(nodes_st, lines_st, policy_st, exclude_st)
def test_routing_does_not_depend_on_node_order(
    nodes: list[NodeOption], lines: list[Line], policy: RoutingPolicy, exclude: frozenset[str]
) -> None:
    assert route(lines, nodes, HOME, policy, exclude=exclude) == route(
        lines, list(reversed(nodes)), HOME, policy, exclude=exclude
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(nodes_st, lines_st, policy_st)
def test_every_plan_of_one_node_serving_the_whole_order_is_scored_by_the_policys_formula(
    nodes: list[NodeOption], lines: list[Line], policy: RoutingPolicy
) -> None:
    decision = route(lines, nodes, HOME, policy)
    by_code = {n.code: n for n in nodes}
    wanted = demand(lines)
    whole = [
        p
        for g in decision.explanation
        for p in g.plans
        if len(p.nodes) == 1 and len(p.allocations) == len(lines)
    ]
    for plan in whole:
        n = by_code[plan.nodes[0]]
        assert all(n.available(sku) >= qty for sku, qty in wanted.items())
        health = sum(
            1 / (1 + max(0.0, (n.available(sku) - qty) / max(1, n.reorder_point.get(sku, 0))))
            for sku, qty in wanted.items()
        )
        b = plan.breakdown
        km = haversine_km(n.lat, n.lon, HOME.lat, HOME.lon)
        assert b.distance == pytest.approx(policy.distance_weight * km)
        assert b.handling == policy.handling_cost.get(n.type, 0.0)
        assert b.split == 0
        assert b.capacity == pytest.approx(policy.capacity_weight / max(1, n.capacity_left))
        assert b.stock_health == pytest.approx(policy.stock_health_weight * health)
        assert sorted((a.line_id, a.node, a.quantity) for a in plan.allocations) == sorted(
            (ln.line_id, n.code, ln.quantity) for ln in lines
        )
