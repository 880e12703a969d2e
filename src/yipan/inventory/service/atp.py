"""Available to promise: at a node, across the pool, near a point, by region; per channel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import bindparam, false, or_, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.inventory.domain import ChannelBuffer as BufferRule
from yipan.inventory.domain import atp, bounding_box, haversine_km
from yipan.inventory.errors import InvalidNode
from yipan.inventory.models import Node, StockLevel
from yipan.inventory.schemas import NodeAtp, RegionAtp, SkuAtp
from yipan.inventory.service.nodes import buffer_rules
from yipan.kernel.db import fetch_plain

Capability = Literal["ship", "pickup", "local_delivery"]

_COLUMNS = (
    Node.code,
    Node.name,
    Node.type,
    Node.province,
    Node.city,
    Node.latitude,
    Node.longitude,
    Node.can_pickup,
    Node.can_ship,
    Node.can_local_delivery,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.safety_stock,
)


def _node_atp(row: Any, rules: dict[str, BufferRule], distance: float | None = None) -> NodeAtp:
    available = atp(row.on_hand, row.reserved, row.safety_stock)
    rule = rules.get(row.type)
    if rule is not None:
        available = rule.apply(available)
    return NodeAtp(
        node=row.code,
        name=row.name,
        type=row.type,
        province=row.province,
        city=row.city,
        atp=available,
        on_hand=row.on_hand,
        reserved=row.reserved,
        distance_km=None if distance is None else round(distance, 2),
        can_pickup=row.can_pickup,
        can_ship=row.can_ship,
        can_local_delivery=row.can_local_delivery,
    )


def _query(sku_id: int, capability: Capability | None) -> Any:
    stmt = (
        select(*_COLUMNS)
        .join(Node, Node.id == StockLevel.node_id)
        .where(StockLevel.sku_id == sku_id, Node.active.is_(True))
    )
    if capability is not None:
        stmt = stmt.where(getattr(Node, f"can_{capability}").is_(True))
    return stmt


def atp_for_sku(
    session: Session,
    sku: str,
    *,
    channel: str | None = None,
    capability: Capability | None = None,
    in_stock_only: bool = False,
) -> SkuAtp:
    """ATP of one SKU at every active node of the pool, largest first."""
    rules = buffer_rules(session, channel)
    rows = session.execute(_query(catalog.sku_id(session, sku), capability)).all()
    nodes = [_node_atp(r, rules) for r in rows]
    if in_stock_only:
        nodes = [n for n in nodes if n.atp > 0]
    nodes.sort(key=lambda n: (-n.atp, n.node))
    return SkuAtp(sku=sku, channel=channel, total_atp=sum(n.atp for n in nodes), nodes=nodes)


def atp_near(
    session: Session,
    sku: str,
    *,
    latitude: float,
    longitude: float,
    radius_km: float,
    channel: str | None = None,
    capability: Capability | None = None,
    in_stock_only: bool = False,
    limit: int = 50,
) -> SkuAtp:
    """ "Stock in stores near me": nodes within `radius_km` of a point, nearest first."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidNode(
            "latitude must be within ±90 and longitude within ±180",
            latitude=latitude,
            longitude=longitude,
        )
    if not 0 < radius_km <= 2000:
        raise InvalidNode("radius_km must be more than 0 and at most 2000", radius_km=radius_km)
    box = bounding_box(latitude, longitude, radius_km)
    rules = buffer_rules(session, channel)
    stmt = _query(catalog.sku_id(session, sku), capability).where(
        Node.latitude.between(box.min_lat, box.max_lat),
        Node.longitude.between(box.min_lon, box.max_lon),
    )
    found: list[NodeAtp] = []
    for row in session.execute(stmt):
        distance = haversine_km(latitude, longitude, row.latitude, row.longitude)
        if distance <= radius_km:
            node = _node_atp(row, rules, distance)
            if node.atp > 0 or not in_stock_only:
                found.append(node)
    found.sort(key=lambda n: (n.distance_km or 0.0, n.node))
    found = found[:limit]
    return SkuAtp(sku=sku, channel=channel, total_atp=sum(n.atp for n in found), nodes=found)


def atp_by_region(
    session: Session,
    sku: str,
    *,
    level: Literal["province", "city"] = "province",
    channel: str | None = None,
) -> list[RegionAtp]:
    """ATP of a SKU summed per province or city, with how many nodes hold any."""
    rules = buffer_rules(session, channel)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in session.execute(_query(catalog.sku_id(session, sku), None)):
        node = _node_atp(row, rules)
        region = row.province if level == "province" else f"{row.province}/{row.city}"
        t = totals[region]
        t[0] += 1
        t[1] += 1 if node.atp > 0 else 0
        t[2] += node.atp
        t[3] += node.on_hand
    return [
        RegionAtp(region=r, nodes=t[0], nodes_in_stock=t[1], atp=t[2], on_hand=t[3])
        for r, t in sorted(totals.items(), key=lambda kv: (-kv[1][2], kv[0]))
    ]


@dataclass(frozen=True)
class SourcingNode:
    """A node as order routing needs it: what it can do and its ATP per SKU code (below zero
    where the node is short of its safety stock)."""

    code: str
    type: str
    latitude: float
    longitude: float
    active: bool
    can_ship: bool
    can_pickup: bool
    can_local_delivery: bool
    local_delivery_radius_km: float
    daily_capacity: int
    atp: dict[str, int] = field(default_factory=dict)
    reorder_point: dict[str, int] = field(default_factory=dict)


_SOURCING_COLUMNS = (
    Node.code,
    Node.type,
    Node.latitude,
    Node.longitude,
    Node.active,
    Node.can_ship,
    Node.can_pickup,
    Node.can_local_delivery,
    Node.local_delivery_radius_km,
    Node.daily_capacity,
)


_LEVEL_COLUMNS = (
    StockLevel.sku_id,
    StockLevel.on_hand,
    StockLevel.reserved,
    StockLevel.safety_stock,
    StockLevel.reorder_point,
)
_N = len(_SOURCING_COLUMNS)
# Built once per capability set and number of values: an order reads the pool on every
# placement, and building the statement each time cost as much as running it.
_stocked: dict[tuple[frozenset[Capability] | None, int], Any] = {}
_named: dict[tuple[int, int], Any] = {}


def _in_numbered(column: Any, name: str, count: int) -> Any:
    """`column IN (:name_0, …, :name_{count-1})`.

    One statement per count, never an expanding parameter: on PostgreSQL psycopg prepares it
    and the server keeps a generic plan. `= ANY(:array)` would also be one statement, but its
    generic plan is costed for ten values where an order has one or two, so the server planned
    it afresh every time (~0.2 ms of database CPU an order); `kernel.db.among` (one array for
    any number of values) suits the bulk reads of many values, not this.
    """
    if count == 0:
        return false()
    return column.in_([bindparam(f"{name}_{i}") for i in range(count)])


def _numbered(name: str, values: Collection[Any]) -> dict[str, Any]:
    return {f"{name}_{i}": value for i, value in enumerate(values)}


def _stocked_statement(able_to: frozenset[Capability] | None, skus: int) -> Any:
    statement = _stocked.get((able_to, skus))
    if statement is None:
        statement = (
            select(*_SOURCING_COLUMNS, *_LEVEL_COLUMNS)
            .join(Node, Node.id == StockLevel.node_id)
            .where(
                _in_numbered(StockLevel.sku_id, "sku_ids", skus),
                Node.active.is_(True),
                StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock > 0,
            )
        )
        if able_to is not None:
            statement = statement.where(
                or_(*(getattr(Node, f"can_{c}").is_(True) for c in sorted(able_to)))
            )
        _stocked[able_to, skus] = statement
    return statement


def _named_statement(skus: int, codes: int) -> Any:
    statement = _named.get((skus, codes))
    if statement is None:
        statement = _named[skus, codes] = (
            select(*_SOURCING_COLUMNS, *_LEVEL_COLUMNS)
            .select_from(Node)
            .outerjoin(
                StockLevel,
                (StockLevel.node_id == Node.id) & _in_numbered(StockLevel.sku_id, "sku_ids", skus),
            )
            .where(_in_numbered(Node.code, "codes", codes))
        )
    return statement


def sourcing_nodes(
    session: Session,
    skus: Collection[str],
    *,
    channel: str | None = None,
    include: Collection[str] = (),
    able_to: Collection[Capability] | None = None,
) -> list[SourcingNode]:
    """Active nodes with ATP for any of `skus` as `channel` sees it, plus the nodes in `include`.

    `able_to` keeps only nodes with one of those capabilities: an order whose lines all ship has
    no use for the many stores that only sell over the counter.

    Nodes named in `include` (a pickup store, say) come back whatever their stock or state, so
    that routing can say why they cannot serve instead of silently leaving them out.
    """
    ids = catalog.sku_ids(session, skus)
    code_of = {v: k for k, v in ids.items()}
    rules = buffer_rules(session, channel)
    capable = None if able_to is None else frozenset(able_to)
    by_sku = _numbered("sku_ids", ids.values())
    statements = [(_stocked_statement(capable, len(ids)), by_sku)]
    if include:
        named = _named_statement(len(ids), len(include))
        statements.append((named, by_sku | _numbered("codes", include)))
    rows: list[Any] = []
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    for statement, params in statements:
        # On PostgreSQL plain rows straight from psycopg: SQLAlchemy's execution and result
        # layers cost more CPU than the query itself on this path, which every order runs.
        if on_postgresql:
            rows += fetch_plain(session, statement, params)
        else:
            rows += session.connection().execute(statement, params)
    found: dict[str, SourcingNode] = {}
    for row in rows:
        node = found.get(row[0])
        if node is None:
            node = found[row[0]] = SourcingNode(*row[:_N])
        sku_id, on_hand, reserved, safety, reorder = row[_N:]
        if sku_id is None:
            continue
        available = on_hand - reserved - safety  # below zero: short of its safety stock
        rule = rules.get(node.type)
        if rule is not None and available > 0:
            available = rule.apply(available)
        sku = code_of[sku_id]
        node.atp[sku] = available
        node.reorder_point[sku] = reorder
    return sorted(found.values(), key=lambda n: n.code)
