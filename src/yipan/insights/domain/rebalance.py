"""Transfer plans (rebalancing) over plain values: surplus, deficit, and the moves between them.

For one SKU, each node has an available quantity (ATP), a reorder point and a daily demand.

- A node's **surplus** is what it holds above what it keeps: the higher of its reorder point and
  `surplus_days` of demand. A source is never taken below either.
- A node's **deficit** is what it lacks of its target: the higher of its reorder point and
  `deficit_days` of demand, less what it has and what is already on its way to it (open
  transfers). A node without sales has a demand of 0, so it is short only under its reorder point.
- `surplus_days` ≥ `deficit_days`, so no node is both.

The plan is a min-cost flow (OR-Tools `SimpleMinCostFlow`, `solve_max_flow_with_min_cost`): each
source supplies its surplus, each short node demands its deficit, and a lane joins a source to a
short node within `max_distance_km` (but no store to a warehouse or DC, unless the rules allow
it) with a unit cost proportional to the haversine distance.
Solving for the maximum flow at the least cost fills as much deficit as the surplus in reach
allows, and among the plans that do, takes the one with the fewest unit-kilometres — a partial
fill where surplus is short, the global optimum where a greedy "nearest first" would strand a
node whose only source a nearer node took.

The rules a flow cannot state directly are handled around it:

- **Pack sizes**: the flow counts whole packs. A source offers the whole packs of its surplus
  (rounded down, so it still never goes under what it keeps); a short node asks for the whole
  packs of its deficit (rounded down, so a node is never sent more than it lacks). What rounding
  leaves — less than a pack at each end — is reported as unfilled with the reason `under_pack`.
- **Minimum transfer**: a node that cannot give or take the minimum at all is left out before
  solving. After solving, a lane that carries less than the minimum is closed, and what it
  carried is placed again greedily: each node still short by at least a minimum, the shortest
  first, takes from its nearest sources in reach that have at least a minimum left. "A move of
  0 or at least the minimum" is a choice a flow cannot state (that is a mixed-integer problem),
  so this part is a heuristic: every move keeps the minimum, but the fill may fall short of the
  best possible. Solving the flow again after closing lanes fills a little more on paper but
  took dozens of solves per SKU on a chain of 160 nodes.
- **Fixed cost per move**: likewise not in the flow's objective (a fixed charge per lane makes the
  problem mixed-integer). It is part of each move's reported cost. A basic min-cost-flow solution
  uses few lanes anyway (at most sources + short nodes − 1).

Each move says why: its source's and destination's stock and days of cover before and after,
which source was chosen and why (the only one in reach, the nearest, or nearer ones had nothing
left for it), and what of the destination's deficit stays unfilled and why.

`surplus_units` and `deficit_units` define the figures for one node. A plan works over columns
(`StockColumns`: a chain-wide plan reads a million levels and makes hundreds of thousands of
moves), and `surplus_array` / `deficit_array` compute the same figures for whole arrays (the
service finds the SKUs worth a flow with them); a property test holds both equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow  # type: ignore[import-untyped]

from yipan.inventory.domain import haversine_km
from yipan.kernel.errors import InvalidInput

# Unit cost of a lane: tenths of a kilometre, so that the flow's integer costs keep the order of
# distances a few hundred metres apart.
COST_PER_KM = 10
# X·demand is rounded up; this keeps 14 × 0.5 = 7.000000000000001 at 7.
_EPSILON = 1e-9
# A move's explanation names at most this many nearer sources.
NEARER_SHOWN = 3


class InvalidPlanRules(InvalidInput):
    code = "INVALID_PLAN_RULES"


@dataclass(frozen=True)
class Rules:
    """How a plan decides: cover targets in days, reach, and what a move must look like."""

    surplus_days: float = 60.0  # above this many days of cover (and the reorder point): surplus
    deficit_days: float = 14.0  # under this many days of cover (or the reorder point): deficit
    max_distance_km: float = 500.0
    min_transfer_qty: int = 2  # a single unit is rarely worth a truck stop
    pack_size: int = 1
    fen_per_unit_100km: int = 20  # transport cost of one unit over 100 km
    fen_per_move: int = 5000  # fixed cost of one move (a pick, a truck slot, a receipt)
    # Whether a store's surplus may go back up to a warehouse or DC. Off by default: sites are
    # refilled by purchasing (replenishment), not by emptying shops.
    store_to_site: bool = False

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if not 0 <= self.deficit_days <= self.surplus_days:
            problems["deficit_days"] = "needs 0 <= deficit_days <= surplus_days"
        if not self.max_distance_km > 0:
            problems["max_distance_km"] = "must be more than 0"
        if self.min_transfer_qty < 1:
            problems["min_transfer_qty"] = "must be at least 1"
        if self.pack_size < 1:
            problems["pack_size"] = "must be at least 1"
        if self.fen_per_unit_100km < 0 or self.fen_per_move < 0:
            problems["cost"] = "costs cannot be negative"
        if problems:
            raise InvalidPlanRules(
                "the plan's rules do not hold together: "
                + "; ".join(f"{k} {v}" for k, v in problems.items()),
                **problems,
            )

    @property
    def min_packs(self) -> int:
        """Whole packs a move needs to reach the minimum transfer quantity."""
        return -(-self.min_transfer_qty // self.pack_size)

    def move_cost_fen(self, quantity: int, distance_km: float) -> int:
        return self.fen_per_move + round(quantity * distance_km * self.fen_per_unit_100km / 100)


@dataclass(frozen=True)
class NodeStock:
    """One SKU at one node, as the plan sees it."""

    node: str
    latitude: float
    longitude: float
    available: int  # ATP: on hand less reserved and safety stock
    reorder_point: int = 0
    daily_demand: float = 0.0  # units a day; 0 where nothing sold
    inbound: int = 0  # on its way to the node in open transfers
    can_send: bool = True
    can_receive: bool = True
    store: bool = False  # a shop, not a warehouse or DC


def _days_of(days: float, daily_demand: float) -> int:
    return max(0, math.ceil(days * daily_demand - _EPSILON))


def keep_level(stock: NodeStock, rules: Rules) -> int:
    """What a source keeps: its reorder point or `surplus_days` of demand, whichever is higher."""
    return max(stock.reorder_point, _days_of(rules.surplus_days, stock.daily_demand))


def target_level(stock: NodeStock, rules: Rules) -> int:
    """What a short node is filled up to: its reorder point or `deficit_days` of demand."""
    return max(stock.reorder_point, _days_of(rules.deficit_days, stock.daily_demand))


def surplus_units(stock: NodeStock, rules: Rules) -> int:
    return max(0, stock.available - keep_level(stock, rules))


def deficit_units(stock: NodeStock, rules: Rules) -> int:
    return max(0, target_level(stock, rules) - stock.available - stock.inbound)


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _days_array(days: float, demand: FloatArray) -> IntArray:
    return np.maximum(0, np.ceil(days * demand - _EPSILON)).astype(np.int64)


def surplus_array(
    available: IntArray, reorder_point: IntArray, demand: FloatArray, rules: Rules
) -> IntArray:
    """`surplus_units` of many nodes at once."""
    keep = np.maximum(reorder_point, _days_array(rules.surplus_days, demand))
    return np.maximum(0, available - keep)


def deficit_array(
    available: IntArray,
    reorder_point: IntArray,
    demand: FloatArray,
    inbound: IntArray,
    rules: Rules,
) -> IntArray:
    """`deficit_units` of many nodes at once."""
    target = np.maximum(reorder_point, _days_array(rules.deficit_days, demand))
    deficit: IntArray = np.maximum(0, target - available - inbound)
    return deficit


def cover_days(units: int, daily_demand: float) -> float | None:
    """Days `units` last at `daily_demand`; None where nothing sells (they last for ever)."""
    if daily_demand <= 0:
        return None
    return round(units / daily_demand, 1)


class Network:
    """The distances between nodes, worked out once and shared by the plans of every SKU."""

    def __init__(self, places: Iterable[tuple[str, float, float]]) -> None:
        unique = sorted({code: (lat, lon) for code, lat, lon in places}.items())
        self.codes = [code for code, _ in unique]  # in code order: a position's order
        self.index = {code: i for i, code in enumerate(self.codes)}
        n = len(unique)
        km = np.zeros((n, n), dtype=np.float64)
        for i, (_, (lat1, lon1)) in enumerate(unique):
            for j in range(i + 1, n):
                lat2, lon2 = unique[j][1]
                km[i, j] = km[j, i] = haversine_km(lat1, lon1, lat2, lon2)
        self.km = km

    @classmethod
    def of(cls, stocks: Iterable[NodeStock]) -> Network:
        return cls((s.node, s.latitude, s.longitude) for s in stocks)

    def positions(self, codes: Sequence[str]) -> npt.NDArray[np.intp]:
        try:
            return np.array([self.index[c] for c in codes], dtype=np.intp)
        except KeyError as missing:
            raise ValueError(f"node {missing} is not in the network") from None


BoolArray = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.intp]


@dataclass(frozen=True)
class StockColumns:
    """One SKU at many nodes as columns — what a plan reads, without an object per node (a
    chain-wide plan reads a million levels). `at` holds the nodes' positions in the network,
    ascending, so the nodes come in code order and every plan breaks ties the same way."""

    at: Positions
    available: IntArray
    reorder_point: IntArray
    daily_demand: FloatArray
    inbound: IntArray
    can_send: BoolArray
    can_receive: BoolArray
    store: BoolArray

    @classmethod
    def of(cls, stocks: Sequence[NodeStock], network: Network) -> StockColumns:
        ordered = sorted(stocks, key=lambda s: network.index.get(s.node, -1))
        return cls(
            at=network.positions([s.node for s in ordered]),
            available=np.array([s.available for s in ordered], dtype=np.int64),
            reorder_point=np.array([s.reorder_point for s in ordered], dtype=np.int64),
            daily_demand=np.array([s.daily_demand for s in ordered], dtype=np.float64),
            inbound=np.array([s.inbound for s in ordered], dtype=np.int64),
            can_send=np.array([s.can_send for s in ordered], dtype=np.bool_),
            can_receive=np.array([s.can_receive for s in ordered], dtype=np.bool_),
            store=np.array([s.store for s in ordered], dtype=np.bool_),
        )


class SourceChoice(StrEnum):
    ONLY_IN_REACH = "only_in_reach"  # the one node with surplus within the maximum distance
    NEAREST = "nearest"  # the nearest node with surplus
    NEARER_USED = "nearer_used"  # nearer nodes had surplus, but none left for this node


class Unfilled(StrEnum):
    """Why (part of) a node's deficit stays unfilled."""

    NO_SURPLUS = "no_surplus"  # no node has surplus of the SKU
    NONE_IN_REACH = "none_in_reach"  # surplus exists, but none within reach (distance, type)
    SURPLUS_USED = "surplus_used"  # the surplus in reach went to other nodes or ran out
    UNDER_PACK = "under_pack"  # what is left is less than one pack
    UNDER_MINIMUM = "under_minimum"  # what is left is under the minimum transfer
    CANNOT_RECEIVE = "cannot_receive"  # the node takes no transfers


UNFILLED_TEXT: dict[Unfilled, str] = {
    Unfilled.NO_SURPLUS: "no node has surplus of this SKU",
    Unfilled.NONE_IN_REACH: "no node with surplus that may send to it is within the maximum distance",
    Unfilled.SURPLUS_USED: "the surplus within reach went to other nodes or ran out",
    Unfilled.UNDER_PACK: "what is left is less than one pack",
    Unfilled.UNDER_MINIMUM: "what is left is under the minimum transfer",
    Unfilled.CANNOT_RECEIVE: "the node takes no transfers",
}


@dataclass(frozen=True)
class Nearer:
    """A source nearer than the chosen one, and what of its surplus the plan left it."""

    node: str
    distance_km: float
    left: int


class Move(NamedTuple):
    """One transfer the plan proposes, with everything that explains it. (A named tuple, not a
    dataclass: a chain-wide plan makes hundreds of thousands, and a tuple is made 5× faster.)"""

    sku: str
    source: str
    destination: str
    quantity: int
    distance_km: float
    cost_fen: int
    # Available units before and after this move (moves of one plan are applied in order; the
    # destination's figures count what is already on its way to it).
    source_before: int
    source_after: int
    source_keeps: int
    destination_before: int
    destination_after: int
    destination_target: int
    source_cover_before: float | None
    source_cover_after: float | None
    destination_cover_before: float | None
    destination_cover_after: float | None
    choice: SourceChoice
    sources_in_reach: int
    nearer: tuple[Nearer, ...]
    unfilled_after: int  # the destination's deficit the whole plan leaves unfilled
    unfilled_reason: Unfilled | None
    reach_km: float  # the plan's maximum distance

    @property
    def explanation(self) -> str:
        """The move in one paragraph (worked out when asked: a big plan shows a page of it)."""
        return explain(self)


@dataclass(frozen=True)
class Shortfall:
    """A node's deficit, what the plan fills of it, and why the rest stays unfilled."""

    sku: str
    node: str
    deficit: int
    filled: int
    reason: Unfilled

    @property
    def unfilled(self) -> int:
        return self.deficit - self.filled


@dataclass(frozen=True)
class SkuPlan:
    sku: str
    moves: tuple[Move, ...]
    shortfalls: tuple[Shortfall, ...]
    surplus: int  # units above what the sources keep, over every node
    deficit: int  # units under target, over every node

    @property
    def moved(self) -> int:
        return sum(m.quantity for m in self.moves)


# --- planning -----------------------------------------------------------------------------------


def plan_sku(
    sku: str, stocks: Sequence[NodeStock], rules: Rules, *, network: Network | None = None
) -> SkuPlan:
    """The moves that fill the most of the SKU's deficit at the least transport cost."""
    net = network or Network.of(stocks)
    return plan_columns(sku, StockColumns.of(stocks, net), rules, net)


def plan_columns(sku: str, cols: StockColumns, rules: Rules, network: Network) -> SkuPlan:
    """`plan_sku` over columns."""
    if len(cols.at) > 1 and not bool(np.all(np.diff(cols.at) > 0)):
        raise ValueError(f"{sku}: nodes must be distinct and in network order")
    keep = np.maximum(cols.reorder_point, _days_array(rules.surplus_days, cols.daily_demand))
    target = np.maximum(cols.reorder_point, _days_array(rules.deficit_days, cols.daily_demand))
    surplus = np.maximum(0, cols.available - keep)
    deficit = np.maximum(0, target - cols.available - cols.inbound)
    pack, min_packs = rules.pack_size, rules.min_packs
    sources = np.nonzero(cols.can_send & (surplus // pack >= min_packs))[0]
    sinks = np.nonzero(cols.can_receive & (deficit // pack >= min_packs))[0]

    km = network.km[cols.at[sources][:, None], cols.at[sinks][None, :]]
    reach = km <= rules.max_distance_km
    if not rules.store_to_site:
        reach &= ~(cols.store[sources][:, None] & ~cols.store[sinks][None, :])
    flows = _solve(surplus[sources] // pack, deficit[sinks] // pack, km, reach, min_packs)

    lane_a, lane_b = np.nonzero(flows)
    packs = flows[lane_a, lane_b]
    n = len(cols.at)
    sent = np.bincount(sources[lane_a], weights=packs, minlength=n).astype(np.int64) * pack
    got = np.bincount(sinks[lane_b], weights=packs, minlength=n).astype(np.int64) * pack
    reachable = reach.sum(axis=0)
    reach_km = np.where(reach, km, np.inf)
    nearest = reach_km.min(axis=0, initial=np.inf)

    codes = [network.codes[p] for p in cols.at.tolist()]
    unfilled = (deficit - got).tolist()
    sink_at = {int(i): b for b, i in enumerate(sinks.tolist())}
    reasons = {
        i: _unfilled_reason(
            bool(cols.can_receive[i]),
            unfilled[i],
            rules,
            has_sources=len(sources) > 0,
            in_reach=i in sink_at and bool(reachable[sink_at[i]]),
        )
        for i in np.nonzero(deficit > got)[0].tolist()
    }
    # The moves, nearest lane first (nodes are in code order, so ties fall by source, then
    # destination), each end's level running on from the moves before it; worked out over
    # arrays, as a chain-wide plan makes hundreds of thousands of moves.
    distances = km[lane_a, lane_b]
    order = np.lexsort((lane_b, lane_a, distances))
    a_k, b_k, distance = lane_a[order], lane_b[order], distances[order]
    quantity = packs[order] * pack
    src, dst = sources[a_k], sinks[b_k]
    src_before = cols.available[src] - _earlier(src, quantity)
    dst_before = cols.available[dst] + cols.inbound[dst] + _earlier(dst, quantity)
    cost = rules.fen_per_move + np.rint(
        quantity * distance * rules.fen_per_unit_100km / 100
    ).astype(np.int64)
    choice = np.where(
        reachable[b_k] == 1,
        0,
        np.where(distance <= nearest[b_k], 1, 2),
    ).tolist()
    choices = (SourceChoice.ONLY_IN_REACH, SourceChoice.NEAREST, SourceChoice.NEARER_USED)
    # Sources by distance from each sink, only needed to name the nearer ones.
    by_km = (
        np.argsort(reach_km, axis=0, kind="stable")
        if 2 in choice
        else np.zeros((0, 0), dtype=np.intp)
    )
    left = (surplus - sent).tolist()
    keeps, targets = keep.tolist(), target.tolist()
    moves = [
        Move(
            sku=sku,
            source=codes[s_i],
            destination=codes[d_i],
            quantity=q,
            distance_km=km_r,
            cost_fen=c,
            source_before=sb,
            source_after=sb - q,
            source_keeps=keeps[s_i],
            destination_before=db,
            destination_after=db + q,
            destination_target=targets[d_i],
            source_cover_before=scb,
            source_cover_after=sca,
            destination_cover_before=dcb,
            destination_cover_after=dca,
            choice=choices[ch],
            sources_in_reach=n_in,
            nearer=_nearer(a, b, d, by_km, reach_km, sources, codes, left) if ch == 2 else (),
            unfilled_after=unfilled[d_i],
            unfilled_reason=reasons.get(d_i),
            reach_km=rules.max_distance_km,
        )
        for (s_i, d_i, a, b, q, d, km_r, c, sb, db, scb, sca, dcb, dca, ch, n_in) in zip(
            src.tolist(),
            dst.tolist(),
            a_k.tolist(),
            b_k.tolist(),
            quantity.tolist(),
            distance.tolist(),
            np.round(distance, 1).tolist(),
            cost.tolist(),
            src_before.tolist(),
            dst_before.tolist(),
            _covers(src_before, cols.daily_demand[src]),
            _covers(src_before - quantity, cols.daily_demand[src]),
            _covers(dst_before, cols.daily_demand[dst]),
            _covers(dst_before + quantity, cols.daily_demand[dst]),
            choice,
            reachable[b_k].tolist(),
            strict=True,
        )
    ]

    got_list = got.tolist()
    deficits = deficit.tolist()
    shortfalls = tuple(
        Shortfall(sku, codes[i], deficits[i], got_list[i], reason)
        for i, reason in sorted(reasons.items())
    )
    return SkuPlan(sku, tuple(moves), shortfalls, int(surplus.sum()), int(deficit.sum()))


def _earlier(nodes: IntArray, quantity: IntArray) -> IntArray:
    """For each move in order, the quantity of the moves before it at the same node."""
    order = np.argsort(nodes, kind="stable")
    grouped, moved = nodes[order], quantity[order]
    running = np.cumsum(moved) - moved
    starts = np.r_[True, grouped[1:] != grouped[:-1]] if len(grouped) else np.zeros(0, bool)
    before = running - np.maximum.accumulate(np.where(starts, running, 0))
    out = np.empty_like(quantity)
    out[order] = before
    return out


def _covers(units: IntArray, daily_demand: FloatArray) -> list[float | None]:
    """`cover_days` of many levels at once."""
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.round(units / daily_demand, 1)
    rates = daily_demand.tolist()
    return [d if rate > 0 else None for d, rate in zip(days.tolist(), rates, strict=True)]


def _nearer(
    a: int,
    b: int,
    distance: float,
    by_km: npt.NDArray[np.intp],
    km: FloatArray,
    sources: npt.NDArray[np.intp],
    codes: Sequence[str],
    left: Sequence[int],
) -> tuple[Nearer, ...]:
    """Up to NEARER_SHOWN sources in reach of sink `b` nearer than `distance`, nearest first
    (`km` is infinite out of reach)."""
    found: list[Nearer] = []
    for c in by_km[:, b].tolist():
        km_c = float(km[c, b])
        if km_c >= distance or len(found) == NEARER_SHOWN:
            break
        if c != a:
            found.append(Nearer(codes[sources[c]], round(km_c, 1), left[sources[c]]))
    return tuple(found)


def _solve(
    supply: IntArray, demand: IntArray, km: FloatArray, reach: npt.NDArray[np.bool_], min_packs: int
) -> IntArray:
    """Packs on each lane (sources × sinks): the most deficit filled at the least cost, then
    lanes under `min_packs` closed and what they carried placed again by `_top_up`."""
    flows = np.zeros(km.shape, dtype=np.int64)
    tails, heads = np.nonzero(reach)
    if len(tails) == 0:
        return flows
    n_sources = len(supply)
    solver = SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32),
        (heads + n_sources).astype(np.int32),
        np.minimum(supply[tails], demand[heads]).astype(np.int64),
        np.rint(km[tails, heads] * COST_PER_KM).astype(np.int64),
    )
    solver.set_nodes_supplies(
        np.arange(n_sources + len(demand), dtype=np.int32),
        np.concatenate([supply, -demand]).astype(np.int64),
    )
    status = solver.solve_max_flow_with_min_cost()
    if status != SimpleMinCostFlow.OPTIMAL:
        raise RuntimeError(f"the min-cost flow ended {status}")
    flows[tails, heads] = np.asarray(solver.flows(arcs), dtype=np.int64)
    small = (flows > 0) & (flows < min_packs)
    if small.any():
        flows[small] = 0
        _top_up(flows, supply, demand, km, reach, min_packs)
    return flows


def _top_up(
    flows: IntArray,
    supply: IntArray,
    demand: IntArray,
    km: FloatArray,
    reach: npt.NDArray[np.bool_],
    min_packs: int,
) -> None:
    """Place again what the closed lanes carried: each short node, the shortest first, takes
    from its nearest sources in reach that still have at least a minimum to give."""
    left = supply - flows.sum(axis=1)
    need = demand - flows.sum(axis=0)
    for b in np.argsort(-need, kind="stable"):
        if need[b] < min_packs:
            break
        for a in np.argsort(km[:, b], kind="stable"):
            if reach[a, b] and left[a] >= min_packs:
                take = min(left[a], need[b])
                flows[a, b] += take
                left[a] -= take
                need[b] -= take
                if need[b] < min_packs:
                    break


def _unfilled_reason(
    can_receive: bool, left: int, rules: Rules, *, has_sources: bool, in_reach: bool
) -> Unfilled:
    if not can_receive:
        return Unfilled.CANNOT_RECEIVE
    if left < rules.pack_size:
        return Unfilled.UNDER_PACK
    if left < rules.min_packs * rules.pack_size:
        return Unfilled.UNDER_MINIMUM
    if not has_sources:
        return Unfilled.NO_SURPLUS
    return Unfilled.SURPLUS_USED if in_reach else Unfilled.NONE_IN_REACH


def _cover(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "no recent sales"
    return f"{before:g} → {after:g} days of cover"


def explain(move: Move) -> str:
    """The move in one paragraph: what, how far, both ends before → after, why this source,
    and what stays unfilled."""
    parts = [
        f"Move {move.quantity} of {move.sku} from {move.source} to {move.destination}, "
        f"{move.distance_km:g} km, about ¥{move.cost_fen / 100:.2f}.",
        f"{move.destination}: {move.destination_before} → {move.destination_after} units "
        f"({_cover(move.destination_cover_before, move.destination_cover_after)}; "
        f"target {move.destination_target}).",
        f"{move.source}: {move.source_before} → {move.source_after} units "
        f"({_cover(move.source_cover_before, move.source_cover_after)}; "
        f"keeps at least {move.source_keeps}).",
    ]
    if move.choice is SourceChoice.ONLY_IN_REACH:
        parts.append(f"Why {move.source}: the only node with surplus within {move.reach_km:g} km.")
    elif move.choice is SourceChoice.NEAREST:
        parts.append(f"Why {move.source}: the nearest node with surplus.")
    else:
        named = ", ".join(f"{n.node} ({n.distance_km:g} km, {n.left} left)" for n in move.nearer)
        parts.append(
            f"Why {move.source}: the nearer {named} had too little left for it after serving "
            "other nodes at less cost in all."
        )
    if move.unfilled_after and move.unfilled_reason is not None:
        parts.append(
            f"{move.unfilled_after} of {move.destination}'s deficit stays unfilled: "
            f"{UNFILLED_TEXT[move.unfilled_reason]}."
        )
    return " ".join(parts)
