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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, func, insert, select, text
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels.schemas import ChannelOut
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import NodeType
from yipan.inventory.errors import InsufficientStock
from yipan.inventory.service import atp as inventory_atp
from yipan.inventory.service import nodes as inventory_nodes
from yipan.inventory.service import reservations
from yipan.kernel import jsontext
from yipan.kernel.config import get_settings
from yipan.kernel.db import fetch_plain
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
from yipan.orders.service import trail

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


@dataclass(frozen=True)
class Placement:
    """The order's "placed" trail entry and event, written with its first fulfilments."""

    actor: str | None
    terminal: str | None
    event: DomainEvent


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
    placement: Placement | None = None,
) -> Sourced:
    """Route and hold `lines`; record the decision (and the `placement`, for a new order).
    Raises when a line cannot be served, unless `partial`, when the lines no node can take come
    back in `Sourced.unfulfilled`.

    The holds are the last writes of an attempt, so the stock rows they lock stay locked only
    until the commit: under a flash sale that lock is what every buyer of the hot SKU queues on.
    """
    policy = policy_for(channel)
    skus = sorted({ln.sku for ln in lines})
    pickup_stores = {ln.pickup_node for ln in lines if ln.pickup_node}
    able_to = _capabilities_needed(lines)
    in_one_statement = not reservations.needs_line_by_line(session, channel.code)
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
        parcels = _parcels(lines, decisions, policy, now)
        decision = {
            "order_id": order_id,
            "trigger": trigger,
            "explanation": _explanation(attempt, decisions, lost, exclude),
            "created_at": now,
        }
        try:
            if in_one_statement:
                sourced = _allocate_and_hold(session, channel, parcels, decision, placement)
            else:
                with session.begin_nested():
                    sourced = _allocate_then_hold(session, channel, parcels, decision, placement)
        except InsufficientStock as refused:
            lost.append({"attempt": attempt, **refused.details})
            continue
        sourced.unfulfilled = unfulfilled
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


@dataclass(frozen=True)
class Parcel:
    """What one node hands over one way to one destination: a fulfilment to write."""

    node: str
    method: Method
    promised_by: datetime | None
    parts: list[tuple[LineToSource, int]]

    @property
    def kind(self) -> str:
        return KIND_FOR_METHOD[self.method.value].value

    def out(self, fulfilment_id: int) -> FulfilmentOut:
        kind = KIND_FOR_METHOD[self.method.value]
        return FulfilmentOut(
            id=fulfilment_id,
            node=self.node,
            kind=kind.value,
            method=self.method.value,
            state=State.ALLOCATED.value,
            allowed_actions=list(allowed_actions(kind, State.ALLOCATED)),
            promised_by=self.promised_by,
            ready_at=None,
            left_at=None,
            delivered_at=None,
            rejected_reason=None,
            lines=[
                FulfilmentLineOut(line_no=ln.line_no, sku=ln.sku, quantity=qty, status="held")
                for ln, qty in self.parts
            ],
        )


def _parcels(
    lines: Sequence[LineToSource],
    decisions: Sequence[RoutingDecision],
    policy: RoutingPolicy,
    now: datetime,
) -> list[Parcel]:
    """The fulfilments the decisions make: one per node, method and destination."""
    by_id = {str(ln.line_id): ln for ln in lines}
    parcels: dict[tuple[str, Method, tuple[float, float] | None], Parcel] = {}
    for decision in decisions:
        for a in decision.assignments:
            ln = by_id[a.line_id]
            dest = None
            if ln.address is not None and ln.method is not Method.PICKUP:
                dest = (float(ln.address["latitude"]), float(ln.address["longitude"]))
            parcel = parcels.get((a.node, ln.method, dest))
            if parcel is None:
                promised = None
                if ln.method in (Method.LOCAL_DELIVERY, Method.GROUP_LEADER):
                    promised = now + timedelta(hours=policy.local_promise_hours)
                parcel = parcels[(a.node, ln.method, dest)] = Parcel(
                    a.node, ln.method, promised, []
                )
            parcel.parts.append((ln, a.quantity))
    return list(parcels.values())


def _placed_note(
    placement: Placement, decision: dict[str, Any], sourced: Sourced
) -> dict[str, Any]:
    return {
        "order_id": decision["order_id"],
        "type": "placed",
        "at": decision["created_at"],
        "fulfilment_id": None,
        "from_state": None,
        "to_state": "open",
        "actor": placement.actor,
        "terminal": placement.terminal,
        "details": {"fulfilments": sourced.fulfilment_ids, "nodes": sourced.nodes},
    }


def _allocate_then_hold(
    session: Session,
    channel: ChannelOut,
    parcels: Sequence[Parcel],
    decision: dict[str, Any],
    placement: Placement | None,
) -> Sourced:
    """Every write of an attempt, one table at a time, the holds last (see `source`). A refused
    hold raises after the rest is written: the caller runs this inside a savepoint."""
    conn = session.connection()
    sourced = Sourced()
    holds: list[tuple[str, str, str, int]] = []
    for parcel in parcels:
        fid = conn.execute(
            insert(fulfilments_t).returning(fulfilments_t.c.id),
            {
                "order_id": decision["order_id"],
                "node": parcel.node,
                "kind": parcel.kind,
                "method": parcel.method.value,
                "state": State.ALLOCATED.value,
                "last_action": "allocate",
                "promised_by": parcel.promised_by,
                "created_at": decision["created_at"],
                "updated_at": decision["created_at"],
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
                for ln, qty in parcel.parts
            ],
        ).scalars()
        holds.extend(
            (reservation_reference(fl_id), ln.sku, parcel.node, qty)
            for fl_id, (ln, qty) in zip(list(line_ids), parcel.parts, strict=True)
        )
        sourced.fulfilments.append(parcel.out(fid))
    conn.execute(insert(decisions_t), decision)
    if placement is not None:
        trail.note_many(session, [_placed_note(placement, decision, sourced)])
        events.record(session, placement.event)
    reservations.hold_new(session, channel.code, holds)
    return sourced


_PARCELS = (
    "parcels AS (SELECT nextval(pg_get_serial_sequence('orders_fulfilments', 'id')) AS id, r.* "
    "FROM jsonb_to_recordset(CAST(:parcels AS jsonb)) "
    "AS r(no int, node text, kind text, method text, promised_by timestamptz)), "
    "parts AS (SELECT nextval(pg_get_serial_sequence('orders_fulfilment_lines', 'id')) AS id, "
    "parcels.id AS fulfilment_id, parcels.node, r.* "
    "FROM jsonb_to_recordset(CAST(:parts AS jsonb)) "
    "AS r(parcel int, line_id bigint, sku text, quantity int, sku_id int, node_id int) "
    "JOIN parcels ON parcels.no = r.parcel), "
    "wanted AS (SELECT 'fulfilment-line:' || id AS reference, sku_id, node_id, sku, node, "
    "quantity FROM parts), "
)
_WRITES = (
    ", written_fulfilments AS (INSERT INTO orders_fulfilments (id, order_id, node, kind, method, "
    "state, last_action, promised_by, created_at, updated_at) SELECT parcels.id, :order_id, "
    "parcels.node, parcels.kind, parcels.method, 'allocated', 'allocate', parcels.promised_by, "
    ":created_at, :created_at FROM parcels, verdict WHERE verdict.ok), "
    "written_lines AS (INSERT INTO orders_fulfilment_lines (id, fulfilment_id, line_id, sku, "
    "quantity, status) SELECT parts.id, parts.fulfilment_id, parts.line_id, parts.sku, "
    "parts.quantity, 'held' FROM parts, verdict WHERE verdict.ok), "
    "written_decision AS (INSERT INTO orders_routing_decisions (order_id, trigger, explanation, "
    "created_at) SELECT :order_id, :trigger, CAST(:explanation AS jsonb), :created_at "
    "FROM verdict WHERE verdict.ok)"
)
_PLACED = (
    ", written_note AS (INSERT INTO orders_order_events (order_id, type, to_state, actor, "
    "terminal, details, at) SELECT :order_id, 'placed', 'open', :actor, :terminal, "
    "jsonb_build_object('fulfilments', (SELECT jsonb_agg(id ORDER BY no) FROM parcels), "
    "'nodes', (SELECT jsonb_agg(node ORDER BY no) FROM parcels)), :created_at "
    "FROM verdict WHERE verdict.ok), "
    "written_event AS ("
    + events.outbox_insert_from(
        "SELECT :event_name AS name, :event_aggregate_type AS aggregate_type, "
        ":event_aggregate_id AS aggregate_id, CAST(:event_payload AS jsonb) AS payload, "
        "CAST(:created_at AS timestamptz) AS occurred_at, :event_status AS status "
        "FROM verdict WHERE verdict.ok"
    )
    + ")"
)
_RESULT = (
    " SELECT verdict.ok, (SELECT jsonb_agg(id ORDER BY no) FROM parcels) AS fulfilment_ids, "
    "(SELECT jsonb_agg(jsonb_build_object('sku_id', sku_id, 'node_id', node_id, "
    "'on_hand', on_hand, 'reserved', reserved, 'safety_stock', safety_stock, "
    "'reorder_point', reorder_point)) FROM held_levels) AS levels FROM verdict"
)
_ALLOCATE_AND_HOLD = {
    placed: text(
        "WITH "
        + _PARCELS
        + reservations.all_or_none_hold_ctes("wanted")
        + _WRITES
        + (_PLACED if placed else "")
        + _RESULT
    )
    for placed in (False, True)
}


def _allocate_and_hold(
    session: Session,
    channel: ChannelOut,
    parcels: Sequence[Parcel],
    decision: dict[str, Any],
    placement: Placement | None,
) -> Sourced:
    """Every write of an attempt in one PostgreSQL statement, all of it or, when a hold is
    refused, none of it — so no savepoint is needed to try again."""
    sku_ids = catalog.sku_ids(session, {ln.sku for p in parcels for ln, _ in p.parts})
    node_ids = inventory_nodes.node_ids(session, {p.node for p in parcels})
    params: dict[str, Any] = {
        **decision,
        "explanation": jsontext.dumps(decision["explanation"]),
        "parcels": jsontext.dumps(
            [
                {
                    "no": no,
                    "node": p.node,
                    "kind": p.kind,
                    "method": p.method.value,
                    "promised_by": None if p.promised_by is None else p.promised_by.isoformat(),
                }
                for no, p in enumerate(parcels)
            ]
        ),
        "parts": jsontext.dumps(
            [
                {
                    "parcel": no,
                    "line_id": ln.line_id,
                    "sku": ln.sku,
                    "quantity": qty,
                    "sku_id": sku_ids[ln.sku],
                    "node_id": node_ids[p.node],
                }
                for no, p in enumerate(parcels)
                for ln, qty in p.parts
            ]
        ),
        **reservations.hold_params(channel.code, decision["created_at"]),
    }
    if placement is not None:
        params |= {
            "actor": placement.actor,
            "terminal": placement.terminal,
            **events.event_params(placement.event),
        }
    (row,) = fetch_plain(session, _ALLOCATE_AND_HOLD[placement is not None], params)
    if not row.ok:
        raise reservations.refusal_of(
            session, [(ln.sku, p.node, qty) for p in parcels for ln, qty in p.parts]
        )
    events.recorded_in_statement(
        session, *(params[k] for k in ("hold_event_status", "event_status") if k in params)
    )
    levels = [SimpleNamespace(**level) for level in row.levels or []]
    held = [
        (sku_ids[ln.sku], node_ids[p.node], qty, ln.sku, p.node)
        for p in parcels
        for ln, qty in p.parts
    ]
    events.record_many(session, reservations.held_level_events(levels, held))
    return Sourced(
        fulfilments=[p.out(fid) for p, fid in zip(parcels, row.fulfilment_ids, strict=True)]
    )


def _explanation(
    attempt: int,
    decisions: Sequence[RoutingDecision],
    lost: list[dict[str, Any]],
    exclude: frozenset[str],
) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "lost_races": list(lost),
        "excluded_nodes": sorted(exclude),
        "groups": [explain_group(g) for d in decisions for g in d.explanation],
        "unfulfillable": [
            {"line_id": u.line_id, "reason": u.reason} for d in decisions for u in d.unfulfillable
        ],
    }


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
