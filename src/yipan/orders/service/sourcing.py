"""Sourcing: route an order's lines over live ATP, hold the stock, keep the decision and its why.

The routing itself is the pure `orders.domain.routing.route`. Around it this module reads the
pool as the channel sees it, turns the plan into fulfilments, and reserves every allocation inside
one savepoint. If a hold is refused because stock moved since it was read, the savepoint is rolled
back and the order is routed again on fresh figures, so the next candidate gets its turn.

"Capacity left today" is a soft input to the score. Counting today's fulfilments per node on
every order would cost more than the routing, so each process keeps the counts for a few seconds
(`capacity_refresh_seconds`) and adds its own new fulfilments to them at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, func, insert, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels.schemas import ChannelOut
from yipan.inventory.domain import NodeType
from yipan.inventory.errors import InsufficientStock
from yipan.inventory.schemas import ReserveIn, ReserveLine
from yipan.inventory.service import atp as inventory_atp
from yipan.inventory.service import nodes as inventory_nodes
from yipan.inventory.service import reservations
from yipan.kernel.config import get_settings
from yipan.orders.domain.fulfilment import KIND_FOR_METHOD, State, allowed_actions
from yipan.orders.domain.routing import (
    Destination,
    GroupExplanation,
    Line,
    Method,
    NodeOption,
    RoutingDecision,
    RoutingPolicy,
    Unfulfillable,
    route,
)
from yipan.orders.errors import OutOfStock, OutsideDeliveryArea, PickupNotOffered
from yipan.orders.models import Fulfilment, FulfilmentLine
from yipan.orders.models import RoutingDecision as DecisionRow
from yipan.orders.schemas import FulfilmentLineOut, FulfilmentOut

fulfilments_t = cast(Table, Fulfilment.__table__)
fulfilment_lines_t = cast(Table, FulfilmentLine.__table__)
decisions_t = cast(Table, DecisionRow.__table__)

# Each attempt reads the pool afresh; three lost races in a row means the stock is really gone.
MAX_ATTEMPTS = 3
# An explanation keeps the best plans and a sample of rejections; counts cover the rest.
KEEP_PLANS = 8
KEEP_REJECTIONS = 8


@dataclass(frozen=True)
class LineToSource:
    """A line (or the part of one) that needs a node."""

    line_id: int
    line_no: int
    sku: str
    quantity: int
    method: Method
    pickup_node: str | None
    address: dict[str, Any] | None


@dataclass
class Sourced:
    fulfilments: list[FulfilmentOut] = field(default_factory=list)
    unfulfilled: list[Unfulfillable] = field(default_factory=list)

    @property
    def fulfilment_ids(self) -> list[int]:
        return [f.id for f in self.fulfilments]

    @property
    def nodes(self) -> list[str]:
        return [f.node for f in self.fulfilments]


def reservation_reference(fulfilment_line_id: int) -> str:
    return f"fulfilment-line:{fulfilment_line_id}"


def policy_for(channel: ChannelOut) -> RoutingPolicy:
    rules = channel.routing
    defaults = RoutingPolicy()
    handling = dict(defaults.handling_cost)
    handling.update(rules.handling_cost or {})
    return RoutingPolicy(
        distance_weight=_or(rules.distance_weight, defaults.distance_weight),
        handling_cost=handling,
        split_penalty=_or(rules.split_penalty, defaults.split_penalty),
        capacity_weight=_or(rules.capacity_weight, defaults.capacity_weight),
        stock_health_weight=_or(rules.stock_health_weight, defaults.stock_health_weight),
        max_distance_km=rules.max_distance_km,
        excluded_types=frozenset(rules.excluded_node_types),
        allow_split=_or(rules.allow_split, defaults.allow_split),
        group_leader_radius_km=_or(rules.group_leader_radius_km, defaults.group_leader_radius_km),
        local_promise_hours=_or(rules.local_promise_hours, defaults.local_promise_hours),
    )


T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def source(
    session: Session,
    order_id: int,
    channel: ChannelOut,
    lines: Sequence[LineToSource],
    *,
    now: datetime,
    trigger: str,
    exclude: frozenset[str] = frozenset(),
    partial: bool = False,
    with_holds: Callable[[Sourced], None] | None = None,
) -> Sourced:
    """Route and hold `lines`; record the decision. Raises when a line cannot be served, unless
    `partial`, when the lines no node can take come back in `Sourced.unfulfilled`.

    `with_holds` writes what belongs with the routing (the order's trail and event): it runs
    inside the attempt, so a lost race undoes it with the attempt, and before the holds, so the
    stock rows the holds lock stay locked only until the commit. Under a flash sale that lock
    is what every buyer of the hot SKU queues on.
    """
    policy = policy_for(channel)
    skus = sorted({ln.sku for ln in lines})
    pickup_stores = {ln.pickup_node for ln in lines if ln.pickup_node}
    able_to = _capabilities_needed(lines)
    lost: list[dict[str, Any]] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        pool = inventory_atp.sourcing_nodes(
            session, skus, channel=channel.code, include=pickup_stores, able_to=able_to
        )
        _check_pickup_stores(pool, pickup_stores, lines)
        options = node_options(pool, _capacity_used(session, now))
        decisions = _route_by_destination(lines, options, policy, exclude)
        unfulfilled = [u for d in decisions for u in d.unfulfillable]
        if unfulfilled and not partial:
            raise _why_unfulfillable(session, lines, unfulfilled)
        try:
            with session.begin_nested():
                sourced, holds = _allocate(session, order_id, lines, decisions, policy, now)
                sourced.unfulfilled = unfulfilled
                _record_decision(session, order_id, trigger, attempt, decisions, lost, exclude, now)
                if with_holds is not None:
                    with_holds(sourced)
                _hold(session, channel, holds)
        except InsufficientStock as refused:
            lost.append({"attempt": attempt, **refused.details})
            continue
        _count_new(session, now, sourced.nodes)
        return sourced
    raise OutOfStock(
        "stock moved while this order was being routed; no node could hold it",
        attempts=MAX_ATTEMPTS,
        lost_races=lost,
    )


def _capabilities_needed(
    lines: Sequence[LineToSource],
) -> set[inventory_atp.Capability] | None:
    """What a node must be able to do to serve one of `lines`, or None when any node may matter:
    a pickup that cannot be served names the nearest stores with stock and a transfer from
    anywhere, and group-leader delivery goes by node type, not capability."""
    needed: set[inventory_atp.Capability] = set()
    for ln in lines:
        if ln.method is Method.SHIP:
            needed.add("ship")
        elif ln.method is Method.LOCAL_DELIVERY:
            needed.add("local_delivery")
        else:
            return None
    return needed


def _check_pickup_stores(
    pool: Sequence[inventory_atp.SourcingNode], stores: set[str], lines: Sequence[LineToSource]
) -> None:
    by_code = {n.code: n for n in pool}
    for code in sorted(stores):
        node = by_code.get(code)
        line_nos = [ln.line_no for ln in lines if ln.pickup_node == code]
        if node is None:
            raise PickupNotOffered(f"no node with code {code}", node=code, line_nos=line_nos)
        if not node.can_pickup or not node.active:
            why = "is not active" if not node.active else "does not offer pickup"
            raise PickupNotOffered(f"{code} {why}", node=code, line_nos=line_nos)


def node_options(
    pool: Sequence[inventory_atp.SourcingNode], capacity_used: dict[str, int]
) -> list[NodeOption]:
    """The routing engine's view of a sourcing pool, each node's capacity less what today's
    fulfilments already use."""
    return [
        NodeOption(
            code=n.code,
            type=NodeType(n.type),
            lat=n.latitude,
            lon=n.longitude,
            active=n.active,
            can_ship=n.can_ship,
            can_pickup=n.can_pickup,
            can_local_delivery=n.can_local_delivery,
            local_radius_km=n.local_delivery_radius_km,
            capacity_left=n.daily_capacity - capacity_used.get(n.code, 0),
            # Copies: routing one destination takes stock the next destination must not see.
            atp=dict(n.atp),
            reorder_point=n.reorder_point,
        )
        for n in pool
    ]


def _route_by_destination(
    lines: Sequence[LineToSource],
    options: list[NodeOption],
    policy: RoutingPolicy,
    exclude: frozenset[str],
) -> list[RoutingDecision]:
    groups: dict[tuple[float, float] | None, list[LineToSource]] = {}
    for ln in lines:
        key = None
        if ln.method is not Method.PICKUP and ln.address is not None:
            key = (float(ln.address["latitude"]), float(ln.address["longitude"]))
        groups.setdefault(key, []).append(ln)
    by_code = {o.code: o for o in options}
    decisions = []
    for key, group in groups.items():
        if key is None:  # pickups only: distances do not matter, the customer chose the store
            store = by_code.get(group[0].pickup_node or "")
            key = (store.lat, store.lon) if store else (0.0, 0.0)
        decision = route(
            [Line(str(ln.line_id), ln.sku, ln.quantity, ln.method, ln.pickup_node) for ln in group],
            options,
            Destination(*key),
            policy,
            exclude=exclude,
        )
        for a in decision.assignments:
            taken = by_code[a.node].atp
            sku = next(ln.sku for ln in group if str(ln.line_id) == a.line_id)
            cast(dict[str, int], taken)[sku] = taken.get(sku, 0) - a.quantity
        decisions.append(decision)
    return decisions


def _why_unfulfillable(
    session: Session, lines: Sequence[LineToSource], unfulfilled: Sequence[Unfulfillable]
) -> Exception:
    by_id = {str(ln.line_id): ln for ln in lines}
    for u in unfulfilled:
        ln = by_id[u.line_id]
        if ln.method is Method.LOCAL_DELIVERY and ln.address is not None:
            lat, lon = float(ln.address["latitude"]), float(ln.address["longitude"])
            if not inventory_nodes.local_delivery_covers(session, lat, lon):
                return OutsideDeliveryArea(
                    "no store delivers same-city to this address; choose shipping or pickup",
                    line_no=ln.line_no,
                    latitude=lat,
                    longitude=lon,
                )
    return OutOfStock(
        "not enough stock to serve every line",
        lines=[
            {
                "line_no": by_id[u.line_id].line_no,
                "sku": by_id[u.line_id].sku,
                "reason": u.reason,
                "pickup_alternatives": [
                    {"node": a.node, "distance_km": round(a.distance_km, 1), "atp": a.atp}
                    for a in u.alternatives
                ],
                "transfer_plan": None
                if u.transfer is None
                else {
                    "from_node": u.transfer.source,
                    "to_node": u.transfer.to_node,
                    "quantity": u.transfer.quantity,
                    "distance_km": round(u.transfer.distance_km, 1),
                    "eta_hours": round(u.transfer.eta_hours, 1),
                },
            }
            for u in unfulfilled
        ],
    )


Hold = tuple[int, str, str, int]  # fulfilment line id, SKU, node, quantity


def _allocate(
    session: Session,
    order_id: int,
    lines: Sequence[LineToSource],
    decisions: Sequence[RoutingDecision],
    policy: RoutingPolicy,
    now: datetime,
) -> tuple[Sourced, list[Hold]]:
    """The fulfilments the decisions make, written, and the holds they need."""
    by_id = {str(ln.line_id): ln for ln in lines}
    parcels: dict[tuple[str, Method, tuple[float, float] | None], list[tuple[LineToSource, int]]]
    parcels = {}
    for decision in decisions:
        for a in decision.assignments:
            ln = by_id[a.line_id]
            dest = None
            if ln.address is not None and ln.method is not Method.PICKUP:
                dest = (float(ln.address["latitude"]), float(ln.address["longitude"]))
            parcels.setdefault((a.node, ln.method, dest), []).append((ln, a.quantity))
    sourced = Sourced()
    holds: list[Hold] = []
    conn = session.connection()
    for (node, method, _dest), parts in parcels.items():
        promised = None
        if method in (Method.LOCAL_DELIVERY, Method.GROUP_LEADER):
            promised = now + timedelta(hours=policy.local_promise_hours)
        kind = KIND_FOR_METHOD[method.value]
        fid = conn.execute(
            insert(fulfilments_t).returning(fulfilments_t.c.id),
            {
                "order_id": order_id,
                "node": node,
                "kind": kind.value,
                "method": method.value,
                "state": State.ALLOCATED.value,
                "last_action": "allocate",
                "promised_by": promised,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        line_ids = conn.execute(
            insert(fulfilment_lines_t).returning(
                fulfilment_lines_t.c.id, sort_by_parameter_order=True
            ),
            [
                {
                    "fulfilment_id": fid,
                    "line_id": ln.line_id,
                    "sku": ln.sku,
                    "quantity": qty,
                    "status": "held",
                }
                for ln, qty in parts
            ],
        ).scalars()
        holds.extend(
            (fl_id, ln.sku, node, qty)
            for fl_id, (ln, qty) in zip(list(line_ids), parts, strict=True)
        )
        sourced.fulfilments.append(
            FulfilmentOut(
                id=fid,
                node=node,
                kind=kind.value,
                method=method.value,
                state=State.ALLOCATED.value,
                allowed_actions=list(allowed_actions(kind, State.ALLOCATED)),
                promised_by=promised,
                ready_at=None,
                left_at=None,
                delivered_at=None,
                rejected_reason=None,
                lines=[
                    FulfilmentLineOut(line_no=ln.line_no, sku=ln.sku, quantity=qty, status="held")
                    for ln, qty in parts
                ],
            )
        )
    return sourced, holds


def _hold(session: Session, channel: ChannelOut, holds: Sequence[Hold]) -> None:
    # Stock rows are locked in (SKU id, node id) order, the order every other writer of levels
    # uses, so two baskets naming the same SKUs in a different order cannot deadlock.
    sku_ids = catalog.sku_ids(session, {h[1] for h in holds})
    node_ids = inventory_nodes.node_ids(session, {h[2] for h in holds})
    for fl_id, sku, node, qty in sorted(holds, key=lambda h: (sku_ids[h[1]], node_ids[h[2]])):
        reservations.reserve(
            session,
            ReserveIn(
                reference=reservation_reference(fl_id),
                lines=[ReserveLine(sku=sku, node=node, quantity=qty)],
                channel=channel.code,
            ),
        )


def _record_decision(
    session: Session,
    order_id: int,
    trigger: str,
    attempt: int,
    decisions: Sequence[RoutingDecision],
    lost: list[dict[str, Any]],
    exclude: frozenset[str],
    now: datetime,
) -> None:
    explanation = {
        "attempt": attempt,
        "lost_races": lost,
        "excluded_nodes": sorted(exclude),
        "groups": [explain_group(g) for d in decisions for g in d.explanation],
        "unfulfillable": [
            {"line_id": u.line_id, "reason": u.reason} for d in decisions for u in d.unfulfillable
        ],
    }
    session.connection().execute(
        insert(decisions_t),
        {"order_id": order_id, "trigger": trigger, "explanation": explanation, "created_at": now},
    )


def explain_group(g: GroupExplanation) -> dict[str, Any]:
    """A group's explanation as JSON: every number the choice rests on, rejections summarised."""
    by_reason: dict[str, int] = {}
    for r in g.rejected:
        by_reason[r.reason.value] = by_reason.get(r.reason.value, 0) + 1
    interesting = [r for r in g.rejected if r.reason.value != "incapable"] or list(g.rejected)
    return {
        "method": g.method.value,
        "line_ids": [int(i) for i in g.line_ids],
        "candidates": len(g.candidates),
        "why": g.why,
        "promise_within_hours": g.promise_within_hours,
        "chosen": None if g.chosen is None else _plan(g.chosen),
        "plans": [_plan(p) for p in g.plans[:KEEP_PLANS]],
        "plans_scored": len(g.plans),
        "rejected_by_reason": by_reason,
        "rejected_sample": [
            {"node": r.node, "reason": r.reason.value, "detail": r.detail}
            for r in interesting[:KEEP_REJECTIONS]
        ],
    }


def _plan(p: Any) -> dict[str, Any]:
    b = p.breakdown
    return {
        "nodes": list(p.nodes),
        "total": round(b.total, 3),
        "distance": round(b.distance, 3),
        "handling": round(b.handling, 3),
        "split": round(b.split, 3),
        "capacity": round(b.capacity, 3),
        "stock_health": round(b.stock_health, 3),
        "allocations": [
            {"line_id": int(a.line_id), "node": a.node, "quantity": a.quantity}
            for a in p.allocations
        ],
    }


@dataclass
class _Counts:
    day: datetime
    fetched: float
    per_node: dict[str, int]


_capacity: weakref.WeakKeyDictionary[Engine, _Counts] = weakref.WeakKeyDictionary()
_capacity_lock = threading.Lock()


def _business_day_start(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(get_settings().timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _capacity_used(session: Session, now: datetime) -> dict[str, int]:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    day = _business_day_start(now)
    refresh = get_settings().capacity_refresh_seconds
    with _capacity_lock:
        counts = _capacity.get(engine)
        if counts and counts.day == day and time.monotonic() - counts.fetched < refresh:
            return counts.per_node
    rows = session.execute(
        select(Fulfilment.node, func.count())
        .where(Fulfilment.created_at >= day)
        .group_by(Fulfilment.node)
    )
    per_node: dict[str, int] = {node: int(n) for node, n in rows}
    with _capacity_lock:
        _capacity[engine] = _Counts(day, time.monotonic(), per_node)
    return per_node


def _count_new(session: Session, now: datetime, nodes: Sequence[str]) -> None:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with _capacity_lock:
        counts = _capacity.get(engine)
        if counts is not None and counts.day == _business_day_start(now):
            for node in nodes:
                counts.per_node[node] = counts.per_node.get(node, 0) + 1
