"""Replenishment suggestions from the latest demand forecasts, and reorder points set from them.

Per SKU × node with a stored forecast (`forecasts.latest_demand`): the reorder point and
order-up-to level of `domain.replenishment.policy` (mean daily forecast, the backtest's daily
error, the node's lead time, a review period, a service level), the inventory position (on hand
− reserved + open transfers on their way in), and the units to order.

Where the goods come from:
- a **warehouse or DC** buys from the SKU's supplier. The catalogue has no supplier yet, so the
  product's brand stands for it (`unassigned` without one) — purchase orders are grouped by it;
- a **store** (or distributor store) is replenished from the nearest active DC (else warehouse);
  those orders are grouped by that source. With no DC or warehouse at all it buys like a DC.

Lead times are per node type and configurable (`YIPAN_REPLENISH_*`: 3 days for stores from a DC,
14 days for warehouses and DCs from a supplier) — there is no supplier or lane data to take
them from.

`apply_reorder_points` writes each reorder point through inventory's `set_stock_policy` (keeping
the node's safety stock), so low-stock alerts fire on the forecast's reorder point from then on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.models import Product, Sku
from yipan.insights.domain import replenishment as rp
from yipan.insights.domain.kpis import STORE_TYPES
from yipan.insights.service import forecasts
from yipan.inventory.domain import TransferStatus, haversine_km
from yipan.inventory.models import Node, StockLevel, Transfer, TransferLine
from yipan.inventory.service import nodes as node_service
from yipan.kernel.clock import Clock
from yipan.kernel.errors import InvalidInput

UNASSIGNED = "unassigned"
PURCHASE, REPLENISHMENT = "purchase", "replenishment"


class ReplenishSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIPAN_REPLENISH_", extra="ignore")

    lead_days_store: float = 3.0  # DC → store
    lead_days_warehouse: float = 14.0  # supplier → warehouse
    lead_days_dc: float = 14.0  # supplier → DC
    review_days: float = 7.0
    service_level: float = 0.95
    pack_size: int = 1

    def lead_days(self, node_type: str) -> float:
        if node_type in STORE_TYPES:
            return self.lead_days_store
        return self.lead_days_dc if node_type == "dc" else self.lead_days_warehouse


class InvalidServiceLevel(InvalidInput):
    code = "INVALID_SERVICE_LEVEL"


@dataclass(frozen=True)
class ReplenishmentLine:
    sku: str
    node: str
    node_type: str
    region: str
    kind: str  # purchase (from a supplier) or replenishment (from a DC)
    source: str  # the supplier, or the DC / warehouse code
    daily_mean: float
    error_sd: float | None
    lead_days: float
    safety_stock: int
    reorder_point: int
    order_up_to: int
    on_hand: int
    reserved: int
    inbound: int
    position: int  # on hand − reserved + inbound
    quantity: int  # units to order now (0: above the reorder point)


@dataclass(frozen=True)
class SuggestedOrder:
    kind: str
    source: str
    units: int
    lines: list[ReplenishmentLine]


@dataclass(frozen=True)
class Suggestions:
    service_level: float
    review_days: float
    lines: list[ReplenishmentLine]  # every SKU × node with a forecast, ordering or not
    purchase_orders: list[SuggestedOrder]  # to suppliers, for warehouses and DCs
    replenishment_orders: list[SuggestedOrder]  # from DCs to stores


@dataclass(frozen=True)
class _Node:
    id: int
    code: str
    type: str
    province: str
    latitude: float
    longitude: float


def suggest(
    session: Session,
    *,
    service_level: float | None = None,
    skus: Sequence[str] | None = None,
    nodes: Sequence[str] | None = None,
    visible: Sequence[str] | None = None,
    settings: ReplenishSettings | None = None,
) -> Suggestions:
    """Policy and order suggestion of every SKU × node with a forecast (at `nodes` ∩ `visible`)."""
    conf = settings or ReplenishSettings()
    level = conf.service_level if service_level is None else service_level
    try:
        rp.z_value(level)
    except ValueError as exc:
        raise InvalidServiceLevel(str(exc), service_level=level) from None
    sku_ids = sorted(catalog.sku_ids(session, skus).values()) if skus else None
    wanted = set(node_service.node_ids(session, nodes).values()) if nodes else None
    all_nodes = {
        n.id: n
        for n in (
            _Node(r.id, r.code, r.type, r.province, r.latitude, r.longitude)
            for r in session.execute(
                select(
                    Node.id, Node.code, Node.type, Node.province, Node.latitude, Node.longitude
                ).where(Node.active.is_(True))
            )
        )
    }
    seen = set(visible) if visible is not None else None
    demand = {
        pair: d
        for pair, d in forecasts.latest_demand(session, sku_ids=sku_ids).items()
        if pair[1] in all_nodes
        and (wanted is None or pair[1] in wanted)
        and (seen is None or all_nodes[pair[1]].code in seen)
    }
    pairs = sorted(demand)
    touched = sorted({s for s, _ in pairs})
    stock = _stock(session, touched)
    inbound = _inbound(session, touched)
    codes, suppliers = _skus(session, touched)
    sources = _sources(list(all_nodes.values()))

    lines: list[ReplenishmentLine] = []
    for sku_id, node_id in pairs:
        node = all_nodes[node_id]
        d = demand[(sku_id, node_id)]
        lead = conf.lead_days(node.type)
        rule = rp.policy(
            d.daily_mean,
            d.error_sd,
            lead_days=lead,
            review_days=conf.review_days,
            service_level=level,
        )
        on_hand, reserved = stock.get((sku_id, node_id), (0, 0))
        coming = inbound.get((sku_id, node_id), 0)
        pos = rp.position(on_hand, reserved, coming)
        source = sources.get(node_id)
        kind = REPLENISHMENT if source is not None else PURCHASE
        lines.append(
            ReplenishmentLine(
                sku=codes[sku_id],
                node=node.code,
                node_type=node.type,
                region=node.province,
                kind=kind,
                source=source if source is not None else suppliers[sku_id],
                daily_mean=round(d.daily_mean, 4),
                error_sd=d.error_sd,
                lead_days=lead,
                safety_stock=rule.safety_stock,
                reorder_point=rule.reorder_point,
                order_up_to=rule.order_up_to,
                on_hand=on_hand,
                reserved=reserved,
                inbound=coming,
                position=pos,
                quantity=rp.order_quantity(pos, rule, conf.pack_size),
            )
        )
    return Suggestions(
        service_level=level,
        review_days=conf.review_days,
        lines=lines,
        purchase_orders=_group(lines, PURCHASE),
        replenishment_orders=_group(lines, REPLENISHMENT),
    )


def _group(lines: list[ReplenishmentLine], kind: str) -> list[SuggestedOrder]:
    by_source: dict[str, list[ReplenishmentLine]] = defaultdict(list)
    for line in lines:
        if line.kind == kind and line.quantity > 0:
            by_source[line.source].append(line)
    return [
        SuggestedOrder(kind, source, sum(x.quantity for x in by_source[source]), by_source[source])
        for source in sorted(by_source)
    ]


@dataclass(frozen=True)
class PolicyChange:
    sku: str
    node: str
    reorder_point_before: int
    reorder_point: int


def apply_reorder_points(
    session: Session,
    *,
    service_level: float | None = None,
    skus: Sequence[str] | None = None,
    nodes: Sequence[str] | None = None,
    visible: Sequence[str] | None = None,
    settings: ReplenishSettings | None = None,
    clock: Clock | None = None,
) -> list[PolicyChange]:
    """Set each forecast SKU × node's reorder point to the suggested one (through inventory's
    service, keeping its safety stock); returns what changed."""
    plan = suggest(
        session,
        service_level=service_level,
        skus=skus,
        nodes=nodes,
        visible=visible,
        settings=settings,
    )
    current = {
        (s, n): (ss, rop)
        for s, n, ss, rop in session.execute(
            select(Sku.code, Node.code, StockLevel.safety_stock, StockLevel.reorder_point)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .join(Node, Node.id == StockLevel.node_id)
            .where(Sku.code.in_(sorted({line.sku for line in plan.lines})))
        )
    }
    changes: list[PolicyChange] = []
    for line in plan.lines:
        safety, before = current.get((line.sku, line.node), (0, 0))
        if before == line.reorder_point:
            continue
        node_service.set_stock_policy(
            session,
            sku=line.sku,
            node=line.node,
            safety_stock=safety,
            reorder_point=line.reorder_point,
            clock=clock,
        )
        changes.append(PolicyChange(line.sku, line.node, before, line.reorder_point))
    return changes


def _stock(session: Session, sku_ids: Sequence[int]) -> dict[tuple[int, int], tuple[int, int]]:
    if not sku_ids:
        return {}
    rows = session.execute(
        select(
            StockLevel.sku_id, StockLevel.node_id, StockLevel.on_hand, StockLevel.reserved
        ).where(StockLevel.sku_id.in_(sku_ids))
    )
    return {(s, n): (q, r) for s, n, q, r in rows}


def _inbound(session: Session, sku_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """Units on their way to each node in open transfers (requested or shipped, not received)."""
    if not sku_ids:
        return {}
    open_units = case(
        (Transfer.status == TransferStatus.REQUESTED.value, TransferLine.quantity_requested),
        else_=TransferLine.quantity_shipped
        - TransferLine.quantity_received
        - TransferLine.quantity_damaged,
    )
    rows = session.execute(
        select(TransferLine.sku_id, Transfer.dest_node_id, func.sum(open_units))
        .join(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(
            Transfer.status.in_((TransferStatus.REQUESTED.value, TransferStatus.SHIPPED.value)),
            TransferLine.sku_id.in_(sku_ids),
        )
        .group_by(TransferLine.sku_id, Transfer.dest_node_id)
    )
    return {(s, n): int(q or 0) for s, n, q in rows}


def _skus(session: Session, sku_ids: Sequence[int]) -> tuple[dict[int, str], dict[int, str]]:
    """SKU codes, and each SKU's supplier (its product's brand; `unassigned` without one)."""
    if not sku_ids:
        return {}, {}
    rows = session.execute(
        select(Sku.id, Sku.code, Product.brand)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(sku_ids))
    ).all()
    return {i: c for i, c, _ in rows}, {i: (b or UNASSIGNED) for i, _, b in rows}


def _sources(all_nodes: list[_Node]) -> dict[int, str]:
    """Each store's source: the nearest active DC, else the nearest warehouse."""
    dcs = [n for n in all_nodes if n.type == "dc"]
    hubs = dcs or [n for n in all_nodes if n.type == "warehouse"]
    out: dict[int, str] = {}
    if not hubs:
        return out
    for n in all_nodes:
        if n.type in STORE_TYPES:
            nearest = min(
                hubs,
                key=lambda h: (
                    haversine_km(n.latitude, n.longitude, h.latitude, h.longitude),
                    h.code,
                ),
            )
            out[n.id] = nearest.code
    return out
