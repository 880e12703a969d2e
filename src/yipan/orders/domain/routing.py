"""Order routing: choose which nodes fulfil an order's lines, and say why.

`route` is a pure function over plain values. Lines are grouped by fulfilment method (and, for
pickup, by store); for each group every node is either rejected with a reason or becomes a
candidate, candidate plans are scored by a weighted cost, and the cheapest plan wins. A plan from
one node is always preferred when one exists: the split penalty alone is a weight, but customers
and stores both pay for extra parcels in ways the weights do not see, so fewest shipments is a
rule, not a trade-off. Everything the decision rests on is returned in `RoutingDecision.explanation`
so support staff can answer "why did this ship from there?" without rerunning anything.

Work is O(lines × nodes) per order: one pass over nodes per group to filter and score, plus a
greedy split that looks at each candidate once per line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from yipan.inventory.domain import NodeType, haversine_km

STORE_TYPES = frozenset({NodeType.STORE, NodeType.DISTRIBUTOR_STORE})


class Method(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    LOCAL_DELIVERY = "local_delivery"
    GROUP_LEADER = "group_leader"


class Rejection(StrEnum):
    INACTIVE = "inactive"
    REJECTED_BEFORE = "rejected_before"
    EXCLUDED_TYPE = "excluded_type"
    INCAPABLE = "incapable"
    TOO_FAR = "too_far"
    AT_CAPACITY = "at_capacity"
    NO_STOCK = "no_stock"


@dataclass(frozen=True)
class NodeOption:
    """A node as routing sees it. `atp` and `reorder_point` are per SKU code.

    `atp` may be negative where a node holds less than its safety stock; `available` is never
    below zero, and the gap tells a transfer plan how much more the node needs.

    `capacity_left` counts the shipments the node can still hand over today; each node a plan
    uses takes one.
    """

    code: str
    type: NodeType
    lat: float
    lon: float
    active: bool = True
    can_ship: bool = False
    can_pickup: bool = False
    can_local_delivery: bool = False
    local_radius_km: float = 0.0
    capacity_left: int = 0
    atp: Mapping[str, int] = field(default_factory=dict, hash=False)
    reorder_point: Mapping[str, int] = field(default_factory=dict, hash=False)

    def available(self, sku: str) -> int:
        return max(0, self.atp.get(sku, 0))


@dataclass(frozen=True)
class Line:
    line_id: str
    sku: str
    quantity: int
    method: Method = Method.SHIP
    pickup_node: str | None = None


@dataclass(frozen=True)
class Destination:
    lat: float
    lon: float


def _default_handling() -> dict[NodeType, float]:
    # Stores pick from the shop floor, which costs staff time the warehouses do not spend.
    return {
        NodeType.DC: 1.0,
        NodeType.WAREHOUSE: 2.0,
        NodeType.STORE: 5.0,
        NodeType.DISTRIBUTOR_STORE: 6.0,
    }


@dataclass(frozen=True)
class RoutingPolicy:
    """A channel's weights and rules. Costs are unitless; only their sum is compared."""

    distance_weight: float = 0.1
    handling_cost: Mapping[NodeType, float] = field(default_factory=_default_handling, hash=False)
    split_penalty: float = 20.0
    capacity_weight: float = 10.0
    stock_health_weight: float = 10.0
    max_distance_km: float | None = None
    excluded_types: frozenset[NodeType] = frozenset()
    allow_split: bool = True
    group_leader_radius_km: float = 5.0
    local_promise_hours: float = 1.0
    pickup_alternatives: int = 3
    transfer_speed_kmh: float = 40.0
    transfer_handling_hours: float = 4.0


@dataclass(frozen=True)
class Allocation:
    line_id: str
    node: str
    quantity: int


@dataclass(frozen=True)
class ScoreBreakdown:
    distance: float
    handling: float
    split: float
    capacity: float
    stock_health: float

    @property
    def total(self) -> float:
        return self.distance + self.handling + self.split + self.capacity + self.stock_health


@dataclass(frozen=True)
class PlanScore:
    """A scored candidate plan; `nodes` in the order they were first used."""

    nodes: tuple[str, ...]
    allocations: tuple[Allocation, ...]
    breakdown: ScoreBreakdown

    @property
    def total(self) -> float:
        return self.breakdown.total


@dataclass(frozen=True)
class NodeRejection:
    node: str
    reason: Rejection
    detail: str


@dataclass(frozen=True)
class GroupExplanation:
    """How one group of lines (same method, same pickup store) was routed."""

    method: Method
    line_ids: tuple[str, ...]
    candidates: tuple[str, ...]
    plans: tuple[PlanScore, ...]
    chosen: PlanScore | None
    why: str
    rejected: tuple[NodeRejection, ...]
    promise_within_hours: float | None = None


@dataclass(frozen=True)
class PickupAlternative:
    node: str
    distance_km: float
    atp: int


@dataclass(frozen=True)
class TransferPlan:
    """Move stock to the pickup store: from `source`, `distance_km` away, ready in `eta_hours`."""

    source: str
    to_node: str
    sku: str
    quantity: int
    distance_km: float
    eta_hours: float


@dataclass(frozen=True)
class Unfulfillable:
    line_id: str
    reason: str
    alternatives: tuple[PickupAlternative, ...] = ()
    transfer: TransferPlan | None = None


@dataclass(frozen=True)
class RoutingDecision:
    assignments: tuple[Allocation, ...]
    explanation: tuple[GroupExplanation, ...]
    unfulfillable: tuple[Unfulfillable, ...]


def route(
    lines: Sequence[Line],
    nodes: Sequence[NodeOption],
    destination: Destination,
    policy: RoutingPolicy,
    *,
    exclude: frozenset[str] = frozenset(),
) -> RoutingDecision:
    """Route `lines` to `nodes` for a customer at `destination` under a channel's `policy`.

    `exclude` holds codes of nodes that already rejected this order; routing again without them
    is how a rejected order is re-routed.
    """
    ordered = sorted(nodes, key=lambda n: n.code)
    by_code = {n.code: n for n in ordered}
    distances = {
        n.code: haversine_km(n.lat, n.lon, destination.lat, destination.lon) for n in ordered
    }
    assignments: list[Allocation] = []
    explanation: list[GroupExplanation] = []
    unfulfillable: list[Unfulfillable] = []
    for (method, store), group in _groups(lines):
        if method is Method.PICKUP:
            expl, allocs, unf = _route_pickup(group, store, ordered, by_code, policy, exclude)
        else:
            expl, allocs, unf = _route_delivery(method, group, ordered, distances, policy, exclude)
        explanation.append(expl)
        assignments.extend(allocs)
        unfulfillable.extend(unf)
    return RoutingDecision(tuple(assignments), tuple(explanation), tuple(unfulfillable))


def _groups(lines: Sequence[Line]) -> list[tuple[tuple[Method, str | None], list[Line]]]:
    groups: dict[tuple[Method, str | None], list[Line]] = {}
    for line in lines:
        if line.quantity <= 0:
            raise ValueError(f"line {line.line_id}: quantity must be positive")
        store = line.pickup_node if line.method is Method.PICKUP else None
        if line.method is Method.PICKUP and store is None:
            raise ValueError(f"line {line.line_id}: pickup needs a pickup_node")
        groups.setdefault((line.method, store), []).append(line)
    order = list(Method)
    return sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or ""))


def _demand(lines: Iterable[Line]) -> dict[str, int]:
    demand: dict[str, int] = {}
    for line in lines:
        demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    return demand


def _common_rejection(
    node: NodeOption, policy: RoutingPolicy, exclude: frozenset[str]
) -> NodeRejection | None:
    if not node.active:
        return NodeRejection(node.code, Rejection.INACTIVE, "node is not active")
    if node.code in exclude:
        return NodeRejection(node.code, Rejection.REJECTED_BEFORE, "node rejected this order")
    if node.type in policy.excluded_types:
        detail = f"channel excludes {node.type.value} nodes"
        return NodeRejection(node.code, Rejection.EXCLUDED_TYPE, detail)
    return None


def _method_rejection(
    method: Method, node: NodeOption, distance: float, policy: RoutingPolicy
) -> NodeRejection | None:
    if method is Method.SHIP:
        if not node.can_ship:
            return NodeRejection(node.code, Rejection.INCAPABLE, "node does not ship")
        if policy.max_distance_km is not None and distance > policy.max_distance_km:
            detail = f"{distance:.1f} km > channel limit {policy.max_distance_km:g} km"
            return NodeRejection(node.code, Rejection.TOO_FAR, detail)
    elif method is Method.LOCAL_DELIVERY:
        if not node.can_local_delivery:
            return NodeRejection(node.code, Rejection.INCAPABLE, "node does no local delivery")
        if distance > node.local_radius_km:
            detail = f"{distance:.1f} km > delivery radius {node.local_radius_km:g} km"
            return NodeRejection(node.code, Rejection.TOO_FAR, detail)
    elif method is Method.GROUP_LEADER:
        if node.type not in STORE_TYPES:
            return NodeRejection(node.code, Rejection.INCAPABLE, "group-leader orders need a store")
        if distance > policy.group_leader_radius_km:
            detail = f"{distance:.1f} km > group-leader radius {policy.group_leader_radius_km:g} km"
            return NodeRejection(node.code, Rejection.TOO_FAR, detail)
    return None


def _capacity_rejection(node: NodeOption) -> NodeRejection | None:
    if node.capacity_left <= 0:
        return NodeRejection(node.code, Rejection.AT_CAPACITY, "no shipments left today")
    return None


def _health(node: NodeOption, sku: str, left_after: int) -> float:
    """0 for deep surplus, 0.5 at the reorder point, 1 when the take empties the node."""
    cover = left_after / max(1, node.reorder_point.get(sku, 0))
    return 1.0 / (1.0 + max(0.0, cover))


def _node_fixed(
    node: NodeOption, distance: float, policy: RoutingPolicy
) -> tuple[float, float, float]:
    """(distance, handling, capacity) cost of using `node` for one shipment."""
    return (
        policy.distance_weight * distance,
        policy.handling_cost.get(node.type, 0.0),
        policy.capacity_weight / max(1, node.capacity_left),
    )


def _score(
    allocations: Sequence[Allocation],
    sku_of: Mapping[str, str],
    by_code: Mapping[str, NodeOption],
    distances: Mapping[str, float],
    policy: RoutingPolicy,
) -> PlanScore:
    used: list[str] = []
    taken: dict[tuple[str, str], int] = {}
    for a in allocations:
        if a.node not in used:
            used.append(a.node)
        key = (a.node, sku_of[a.line_id])
        taken[key] = taken.get(key, 0) + a.quantity
    dist = handling = capacity = 0.0
    for code in used:
        d, h, c = _node_fixed(by_code[code], distances.get(code, 0.0), policy)
        dist, handling, capacity = dist + d, handling + h, capacity + c
    health = sum(
        _health(by_code[code], sku, by_code[code].available(sku) - qty)
        for (code, sku), qty in sorted(taken.items())
    )
    breakdown = ScoreBreakdown(
        distance=dist,
        handling=handling,
        split=policy.split_penalty * max(0, len(used) - 1),
        capacity=capacity,
        stock_health=policy.stock_health_weight * health,
    )
    return PlanScore(tuple(used), tuple(allocations), breakdown)


def _single_node_plan(
    node: NodeOption,
    lines: Sequence[Line],
    wanted: Sequence[tuple[str, int]],
    distance: float,
    policy: RoutingPolicy,
) -> PlanScore:
    """What `_score` makes of `node` serving every line alone, without its bookkeeping for
    plans over several nodes: every order scores each node that could serve it whole this way.
    `wanted` is the demand in SKU order, the order `_score` adds the stock-health terms in."""
    dist, handling, capacity = _node_fixed(node, distance, policy)
    health = sum(_health(node, sku, node.available(sku) - qty) for sku, qty in wanted)
    breakdown = ScoreBreakdown(
        distance=dist,
        handling=handling,
        split=0.0,
        capacity=capacity,
        stock_health=policy.stock_health_weight * health,
    )
    allocations = tuple(Allocation(ln.line_id, node.code, ln.quantity) for ln in lines)
    return PlanScore((node.code,), allocations, breakdown)


def _route_delivery(
    method: Method,
    lines: list[Line],
    nodes: Sequence[NodeOption],
    distances: Mapping[str, float],
    policy: RoutingPolicy,
    exclude: frozenset[str],
) -> tuple[GroupExplanation, list[Allocation], list[Unfulfillable]]:
    demand = _demand(lines)
    rejected: list[NodeRejection] = []
    candidates: list[NodeOption] = []
    for node in nodes:
        reason = (
            _common_rejection(node, policy, exclude)
            or _method_rejection(method, node, distances[node.code], policy)
            or _capacity_rejection(node)
        )
        if reason is None and not any(node.atp.get(sku, 0) > 0 for sku in demand):
            reason = NodeRejection(node.code, Rejection.NO_STOCK, "no ATP for any line")
        if reason is None:
            candidates.append(node)
        else:
            rejected.append(reason)
    by_code = {n.code: n for n in candidates}
    sku_of = {line.line_id: line.sku for line in lines}
    line_ids = tuple(line.line_id for line in lines)
    promise = policy.local_promise_hours if method is not Method.SHIP else None

    wanted = sorted(demand.items())
    # `atp >= qty` (qty > 0) is `available(sku) >= qty` without a call per node and SKU.
    singles = [
        _single_node_plan(n, lines, wanted, distances[n.code], policy)
        for n in candidates
        if all(n.atp.get(sku, 0) >= qty for sku, qty in wanted)
    ]
    singles.sort(key=lambda p: (p.total, p.nodes))
    plans: list[PlanScore] = list(singles)
    if singles:
        chosen = singles[0]
        runner = (
            f"; next best {singles[1].nodes[0]} at {singles[1].total:.2f}"
            if len(singles) > 1
            else ""
        )
        why = f"{chosen.nodes[0]} can serve every line alone at the lowest cost {chosen.total:.2f}{runner}"
        expl = GroupExplanation(
            method,
            line_ids,
            tuple(n.code for n in candidates),
            tuple(plans),
            chosen,
            why,
            tuple(rejected),
            promise,
        )
        return expl, list(chosen.allocations), []

    if policy.allow_split:
        allocations, unf = _greedy_split(lines, candidates, distances, policy)
        why = "no single node can serve every line; split across the cheapest nodes"
    else:
        allocations, unf = _best_partial_single(lines, candidates, distances, policy)
        why = "no single node can serve every line and this channel does not split orders"
    chosen_plan = _score(allocations, sku_of, by_code, distances, policy) if allocations else None
    if chosen_plan is not None:
        plans.append(chosen_plan)
        why += f"; cost {chosen_plan.total:.2f}"
    expl = GroupExplanation(
        method,
        line_ids,
        tuple(n.code for n in candidates),
        tuple(plans),
        chosen_plan,
        why,
        tuple(rejected),
        promise if allocations else None,
    )
    return expl, allocations, unf


def _greedy_split(
    lines: list[Line],
    candidates: list[NodeOption],
    distances: Mapping[str, float],
    policy: RoutingPolicy,
) -> tuple[list[Allocation], list[Unfulfillable]]:
    """Assign lines one by one to the node that adds least cost; split a line only as a last resort.

    Lines are taken largest first, since they have the fewest nodes able to serve them whole.
    """
    remaining = {
        (n.code, sku): n.available(sku) for n in candidates for sku in {ln.sku for ln in lines}
    }
    fixed = {
        n.code: sum(_node_fixed(n, distances[n.code], policy)) + policy.split_penalty
        for n in candidates
    }
    used: set[str] = set()
    allocations: list[Allocation] = []
    unf: list[Unfulfillable] = []

    def marginal(node: NodeOption, sku: str, qty: int) -> float:
        left = remaining[(node.code, sku)] - qty
        health = policy.stock_health_weight * _health(node, sku, left)
        return health + (0.0 if node.code in used else fixed[node.code])

    for line in sorted(lines, key=lambda ln: (-ln.quantity, ln.line_id)):
        whole = [n for n in candidates if remaining[(n.code, line.sku)] >= line.quantity]
        if whole:
            best = min(whole, key=lambda n: (marginal(n, line.sku, line.quantity), n.code))
            parts = [(best, line.quantity)]
        else:
            pool = sum(remaining[(n.code, line.sku)] for n in candidates)
            if pool < line.quantity:
                unf.append(Unfulfillable(line.line_id, f"only {pool} available on eligible nodes"))
                continue
            # Largest holdings first keeps the number of parcels for this line smallest.
            holders = sorted(
                (n for n in candidates if remaining[(n.code, line.sku)] > 0),
                key=lambda n: (-remaining[(n.code, line.sku)], marginal(n, line.sku, 0), n.code),
            )
            parts, need = [], line.quantity
            for n in holders:
                take = min(need, remaining[(n.code, line.sku)])
                parts.append((n, take))
                need -= take
                if need == 0:
                    break
        for node, qty in parts:
            remaining[(node.code, line.sku)] -= qty
            used.add(node.code)
            allocations.append(Allocation(line.line_id, node.code, qty))
    allocations.sort(key=lambda a: (a.line_id, a.node))
    return allocations, unf


def _best_partial_single(
    lines: list[Line],
    candidates: list[NodeOption],
    distances: Mapping[str, float],
    policy: RoutingPolicy,
) -> tuple[list[Allocation], list[Unfulfillable]]:
    """Without splits, one node serves as many lines as it can; the rest cannot be fulfilled."""
    best: tuple[int, float, str] | None = None
    best_served: list[Line] = []
    for node in candidates:
        left = {ln.sku: node.available(ln.sku) for ln in lines}
        served = []
        for line in sorted(lines, key=lambda ln: ln.line_id):
            if left[line.sku] >= line.quantity:
                left[line.sku] -= line.quantity
                served.append(line)
        key = (-len(served), sum(_node_fixed(node, distances[node.code], policy)), node.code)
        if served and (best is None or key < best):
            best, best_served = key, served
    if best is None:
        return [], [Unfulfillable(ln.line_id, "no eligible node has enough stock") for ln in lines]
    code = best[2]
    served_ids = {ln.line_id for ln in best_served}
    allocations = [Allocation(ln.line_id, code, ln.quantity) for ln in best_served]
    unf = [
        Unfulfillable(ln.line_id, f"{code} serves the rest of the order and splits are not allowed")
        for ln in lines
        if ln.line_id not in served_ids
    ]
    return allocations, unf


def _route_pickup(
    lines: list[Line],
    store_code: str | None,
    nodes: Sequence[NodeOption],
    by_code: Mapping[str, NodeOption],
    policy: RoutingPolicy,
    exclude: frozenset[str],
) -> tuple[GroupExplanation, list[Allocation], list[Unfulfillable]]:
    line_ids = tuple(ln.line_id for ln in lines)
    store = by_code.get(store_code or "")
    if store is None:
        why = f"pickup store {store_code} is unknown"
        unf = [Unfulfillable(ln.line_id, why) for ln in lines]
        return GroupExplanation(Method.PICKUP, line_ids, (), (), None, why, ()), [], unf
    rejected = [
        NodeRejection(n.code, Rejection.INCAPABLE, f"customer chose pickup at {store.code}")
        for n in nodes
        if n.code != store.code
    ]
    reason = _common_rejection(store, policy, exclude) or _capacity_rejection(store)
    if reason is None and not store.can_pickup:
        reason = NodeRejection(store.code, Rejection.INCAPABLE, "store offers no pickup")
    if reason is not None:
        why = f"pickup store {store.code} cannot take this order: {reason.detail}"
        unf = [Unfulfillable(ln.line_id, why) for ln in lines]
        expl = GroupExplanation(Method.PICKUP, line_ids, (), (), None, why, (reason, *rejected))
        return expl, [], unf

    at_store = {store.code: 0.0}
    left = {ln.sku: store.atp.get(ln.sku, 0) for ln in lines}  # raw: may be below zero
    allocations: list[Allocation] = []
    unf = []
    for line in lines:
        if left[line.sku] >= line.quantity:
            left[line.sku] -= line.quantity
            allocations.append(Allocation(line.line_id, store.code, line.quantity))
        else:
            unf.append(_pickup_shortage(line, store, left[line.sku], nodes, policy, exclude))
    sku_of = {ln.line_id: ln.sku for ln in lines}
    plan = (
        _score(allocations, sku_of, {store.code: store}, at_store, policy) if allocations else None
    )
    if unf:
        rejected.insert(
            0,
            NodeRejection(
                store.code,
                Rejection.NO_STOCK,
                "not enough ATP for " + ", ".join(u.line_id for u in unf),
            ),
        )
    why = f"customer chose pickup at {store.code}"
    if unf:
        why += "; it lacks stock for some lines, see alternatives and transfer plans"
    expl = GroupExplanation(
        Method.PICKUP, line_ids, (store.code,), (plan,) if plan else (), plan, why, tuple(rejected)
    )
    return expl, allocations, unf


def _pickup_shortage(
    line: Line,
    store: NodeOption,
    store_left: int,
    nodes: Sequence[NodeOption],
    policy: RoutingPolicy,
    exclude: frozenset[str],
) -> Unfulfillable:
    """Nearby stores that have the whole line, and a transfer that makes the store able to serve it.

    `store_left` is the store's raw ATP, negative when it sits below its safety stock: the
    transfer must cover that gap too, or the goods would arrive and still not be promisable.
    """
    needed = line.quantity - store_left
    alternatives: list[PickupAlternative] = []
    best_source: tuple[float, str] | None = None
    for node in nodes:
        have = node.available(line.sku)
        if node.code == store.code or have < min(line.quantity, needed):
            continue
        if _common_rejection(node, policy, exclude) is not None:
            continue
        distance = haversine_km(store.lat, store.lon, node.lat, node.lon)
        if have >= line.quantity and node.can_pickup and node.capacity_left > 0:
            alternatives.append(PickupAlternative(node.code, distance, have))
        if have >= needed and (best_source is None or (distance, node.code) < best_source):
            best_source = (distance, node.code)
    alternatives.sort(key=lambda a: (a.distance_km, a.node))
    transfer = None
    if best_source is not None:
        distance, source = best_source
        eta = policy.transfer_handling_hours + distance / policy.transfer_speed_kmh
        transfer = TransferPlan(source, store.code, line.sku, needed, distance, eta)
    reason = f"{store.code} has {max(0, store_left)} of {line.quantity} needed"
    return Unfulfillable(
        line.line_id, reason, tuple(alternatives[: policy.pickup_alternatives]), transfer
    )
