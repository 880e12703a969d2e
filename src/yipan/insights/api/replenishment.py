"""HTTP routes for replenishment: suggested purchase and DC → store orders from the latest
forecasts, and reorder points set from them (so low-stock alerts use them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.domain.replenishment import MAX_SERVICE_LEVEL, MIN_SERVICE_LEVEL
from yipan.insights.service import replenishment as rs
from yipan.inventory.service import nodes
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(
    prefix="/api/v1/insights/replenishment", tags=["replenishment"], responses=ERROR_RESPONSES
)

Reader = Annotated[Principal, Depends(require("inventory.read"))]
Planner = Annotated[Principal, Depends(require("insights.plan"))]
ServiceLevel = Annotated[
    float | None,
    Query(
        ge=MIN_SERVICE_LEVEL,
        le=MAX_SERVICE_LEVEL,
        description="cycle service level; default YIPAN_REPLENISH_SERVICE_LEVEL (0.95)",
    ),
]
Codes = Annotated[list[str] | None, Query(max_length=500)]


class LineOut(BaseModel):
    sku: str
    node: str
    node_type: str
    region: str
    kind: str = Field(description="purchase (from a supplier) or replenishment (from a DC)")
    source: str = Field(description="the supplier (the product's brand) or the source node")
    daily_mean: float
    error_sd: float | None
    lead_days: float
    safety_stock: int
    reorder_point: int
    order_up_to: int
    on_hand: int
    reserved: int
    inbound: int
    position: int = Field(description="on hand − reserved + inbound")
    quantity: int = Field(description="units to order now (0: above the reorder point)")


class OrderOut(BaseModel):
    kind: str
    source: str
    units: int
    lines: list[LineOut]


class SuggestionsOut(BaseModel):
    service_level: float
    review_days: float
    line_count: int
    lines: list[LineOut]
    purchase_orders: list[OrderOut]
    replenishment_orders: list[OrderOut]


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_level: float | None = Field(None, ge=MIN_SERVICE_LEVEL, le=MAX_SERVICE_LEVEL)
    skus: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000
    )
    nodes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000
    )


class ChangeOut(BaseModel):
    sku: str
    node: str
    reorder_point_before: int
    reorder_point: int


class AppliedOut(BaseModel):
    changed: int
    changes: list[ChangeOut]


def _line(line: rs.Line) -> LineOut:
    return LineOut(**vars(line))


def _order(order: rs.Order) -> OrderOut:
    return OrderOut(
        kind=order.kind,
        source=order.source,
        units=order.units,
        lines=[_line(x) for x in order.lines],
    )


@router.get("")
def get_suggestions(
    engine: EngineDep,
    who: Reader,
    service_level: ServiceLevel = None,
    sku: Codes = None,
    node: Codes = None,
    ordering_only: Annotated[bool, Query(description="only lines that order now")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> SuggestionsOut:
    """Reorder point and order-up-to level of every SKU × node with a forecast, and the orders
    they suggest now: purchase orders to suppliers (warehouses, DCs) and replenishment orders
    from the nearest DC to stores, grouped by supplier or source. Lines are paged; orders not."""
    with unit_of_work(engine, readonly=True) as session:
        visible = nodes.codes_in_scope(session, who.scope)
        plan = rs.suggest(
            session, service_level=service_level, skus=sku, nodes=node, visible=visible
        )
    lines = [x for x in plan.lines if x.quantity > 0] if ordering_only else plan.lines
    return SuggestionsOut(
        service_level=plan.service_level,
        review_days=plan.review_days,
        line_count=len(lines),
        lines=[_line(x) for x in lines[offset : offset + limit]],
        purchase_orders=[_order(o) for o in plan.purchase_orders],
        replenishment_orders=[_order(o) for o in plan.replenishment_orders],
    )


@router.post("/reorder-points")
def apply_reorder_points(apply_in: ApplyIn, engine: EngineDep, who: Planner) -> AppliedOut:
    """Set the reorder point of every forecast SKU × node (or the given ones) to the suggested
    one, through inventory's stock policy: low-stock alerts then fire on it."""
    with unit_of_work(engine) as session:
        visible = nodes.codes_in_scope(session, who.scope)
        changes = rs.apply_reorder_points(
            session,
            service_level=apply_in.service_level,
            skus=apply_in.skus,
            nodes=apply_in.nodes,
            visible=visible,
        )
    return AppliedOut(changed=len(changes), changes=[ChangeOut(**vars(c)) for c in changes])
