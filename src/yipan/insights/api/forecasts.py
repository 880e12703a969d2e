"""HTTP routes for demand forecasts: run one, read a SKU × node's forecast, the backtest table."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.service import forecasts
from yipan.inventory.service import nodes
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(
    prefix="/api/v1/insights/forecasts", tags=["demand forecasts"], responses=ERROR_RESPONSES
)

Reader = Annotated[Principal, Depends(require("inventory.read"))]
Planner = Annotated[Principal, Depends(require("insights.plan"))]
Code = Annotated[str, Path(min_length=1, max_length=64)]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_days: StrictInt = Field(28, gt=0, le=366, description="days ahead, from as_of + 1")
    skus: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000, description="forecast only these SKUs"
    )
    nodes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, max_length=1000, description="forecast only at these nodes"
    )
    as_of: date | None = Field(None, description="last business day of history; default yesterday")


@router.post("", status_code=201)
def run_forecast(run_in: RunIn, engine: EngineDep, who: Planner) -> forecasts.RunOut:
    """Forecast every SKU × node that sold in the history window (or the given SKUs and nodes),
    choosing each series' model by a rolling-origin backtest against SeasonalNaive(7).

    Unknown SKUs or nodes answer 404; nothing sold for the selection answers 422
    NO_SALES_HISTORY. A store's or region's caller forecasts its own nodes only.
    """
    with unit_of_work(engine) as session:
        chosen = run_in.nodes
        visible = nodes.codes_in_scope(session, who.scope)
        if visible is not None:
            for node in chosen or []:
                nodes.check_in_scope(session, who.scope, node, "a forecast")
            chosen = chosen or visible
            if not chosen:
                raise forecasts.NoSalesHistory("your scope holds no nodes to forecast")
        return forecasts.run_forecast(
            session,
            horizon=run_in.horizon_days,
            skus=run_in.skus,
            nodes=chosen,
            as_of=run_in.as_of,
            created_by=who.name,
        )


@router.get("/runs/latest")
def latest_run(engine: EngineDep, who: Reader) -> forecasts.RunOut:
    """The newest forecast run's summary."""
    with unit_of_work(engine, readonly=True) as session:
        return forecasts.get_run(session)


@router.get("/backtest")
def backtest(
    engine: EngineDep,
    who: Reader,
    run: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="a run id; default the latest")
    ] = None,
) -> forecasts.BacktestTable:
    """Chosen models against SeasonalNaive(7) on the run's backtest: pooled WAPE overall, by
    region, by chosen model and by family, over the caller's nodes, each with the units forecast
    over the horizon."""
    with unit_of_work(engine, readonly=True) as session:
        visible = nodes.codes_in_scope(session, who.scope)
        return forecasts.backtest_table(session, run_id=run, visible=visible)


@router.get("/{sku}/{node}")
def get_forecast(sku: Code, node: Code, engine: EngineDep, who: Reader) -> forecasts.SeriesOut:
    """The latest forecast of a SKU at a node: its model, backtest errors (chosen and
    SeasonalNaive) and the daily values. A node outside the caller's scope answers 404."""
    with unit_of_work(engine, readonly=True) as session:
        visible = nodes.codes_in_scope(session, who.scope)
        if visible is not None and node not in visible:
            raise forecasts.NoForecast(f"no forecast of {sku} at {node}", sku=sku, node=node)
        return forecasts.latest_series(session, sku=sku, node=node)
