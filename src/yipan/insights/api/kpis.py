"""HTTP route for the KPI table: every KPI of docs/kpis.md for a period, for the caller's data
scope (optionally one province of it) and broken down by day, channel, region or store."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.domain.kpis import Breakdown, KpiRow, Share, StockFigures
from yipan.insights.domain.periods import DEFAULT_PERIOD, PeriodName
from yipan.insights.service import analytics, kpis
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1/insights/kpis", tags=["insights"], responses=ERROR_RESPONSES)

# The dashboard is every signed-in user's; the data scope narrows what they see.
Reader = Annotated[Principal, Depends(require("orders.read"))]


class ShareOut(BaseModel):
    part: int
    whole: int
    ratio: float | None = Field(description="part ÷ whole; null for a share of nothing")

    @classmethod
    def of(cls, share: Share) -> ShareOut:
        ratio = share.ratio
        return cls(
            part=share.part, whole=share.whole, ratio=None if ratio is None else round(ratio, 4)
        )


class StockOut(BaseModel):
    stock_out: ShareOut = Field(description="store SKU levels with ATP ≤ 0, now")
    units_issued: int = Field(description="units sold or committed to customers in the period")
    avg_on_hand: float = Field(description="time-weighted mean units on hand over the period")
    turnover: float | None = Field(description="units issued ÷ mean on hand")
    inventory_days: float | None = Field(description="days × mean on hand ÷ units issued")

    @classmethod
    def of(cls, stock: StockFigures) -> StockOut:
        return cls(
            stock_out=ShareOut.of(stock.stock_out),
            units_issued=stock.units_issued,
            avg_on_hand=stock.avg_on_hand,
            turnover=stock.turnover,
            inventory_days=stock.inventory_days,
        )


class KpiRowOut(BaseModel):
    key: str | None = Field(description="the day, channel, province or store; null for the total")
    orders: int
    net_fen: int
    units: int
    average_order_fen: int | None
    member_share: ShareOut
    repurchase: ShareOut
    omnichannel: ShareOut
    online_to_offline: ShareOut
    pickup: ShareOut
    return_rate: ShareOut
    fill_rate: ShareOut
    on_time_pickup: ShareOut
    floor_area_m2: int | None
    sales_per_m2_fen: int | None
    stock: StockOut | None = Field(description="null for a day or a channel")

    @classmethod
    def of(cls, row: KpiRow) -> KpiRowOut:
        return cls(
            key=row.key,
            orders=row.orders,
            net_fen=row.net_fen,
            units=row.units,
            average_order_fen=row.average_order_fen,
            member_share=ShareOut.of(row.member_share),
            repurchase=ShareOut.of(row.repurchase),
            omnichannel=ShareOut.of(row.omnichannel),
            online_to_offline=ShareOut.of(row.online_to_offline),
            pickup=ShareOut.of(row.pickup),
            return_rate=ShareOut.of(row.return_rate),
            fill_rate=ShareOut.of(row.fill_rate),
            on_time_pickup=ShareOut.of(row.on_time_pickup),
            floor_area_m2=row.floor_area_m2,
            sales_per_m2_fen=row.sales_per_m2_fen,
            stock=None if row.stock is None else StockOut.of(row.stock),
        )


class KpiTableOut(BaseModel):
    period: PeriodName
    first_day: date
    last_day: date
    zone: str
    scope: str = Field(description="all, region:<province> or store:<code>")
    by: Breakdown | None
    total: KpiRowOut
    rows: list[KpiRowOut]


@router.get("", response_model=KpiTableOut)
def kpi_table(
    engine: EngineDep,
    principal: Reader,
    period: Annotated[PeriodName, Query(description="today, 7d or 30d")] = DEFAULT_PERIOD,
    by: Annotated[Breakdown | None, Query(description="day, channel, region or store")] = None,
    region: Annotated[
        str | None, Query(max_length=50, description="narrow to one province of your scope")
    ] = None,
) -> KpiTableOut:
    with unit_of_work(engine, readonly=True) as session:
        scope = analytics.narrowed(session, principal.scope, region)
        table = analytics.kpi_table(session, kpis.current_period(period), scope, by)
    return KpiTableOut(
        period=table.period.name,
        first_day=table.period.first_day,
        last_day=table.period.last_day,
        zone=table.period.zone,
        scope="all" if scope.kind == "all" else f"{scope.kind}:{scope.value}",
        by=table.by,
        total=KpiRowOut.of(table.total),
        rows=[KpiRowOut.of(r) for r in table.rows],
    )
