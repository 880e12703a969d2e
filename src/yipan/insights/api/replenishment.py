"""HTTP routes for replenishment: suggested purchase and DC → store orders from the latest
forecasts, and reorder points set from them (so low-stock alerts use them). The lines, orders and
changes are the service's own dataclasses, answered as they are."""

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


class SuggestionsOut(BaseModel):
    service_level: float
    review_days: float
    line_count: int
    lines: list[rs.ReplenishmentLine]
    purchase_orders: list[rs.SuggestedOrder]
    replenishment_orders: list[rs.SuggestedOrder]


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_level: float | None = Field(None, ge=MIN_SERVICE_LEVEL, le=MAX_SERVICE_LEVEL)
    skus: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000
    )
    nodes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000
    )


class AppliedOut(BaseModel):
    changed: int
    changes: list[rs.PolicyChange]


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
        lines=lines[offset : offset + limit],
        purchase_orders=plan.purchase_orders,
        replenishment_orders=plan.replenishment_orders,
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
    return AppliedOut(changed=len(changes), changes=changes)
