"""Insights tables: demand forecast runs and, per SKU × node, the forecast and its backtest.

A run is one call of `run_forecast` (the CLI, the API or the daily job). Each of its series keeps
the chosen model, the backtest errors of that model and of SeasonalNaive(7) over the same days,
and the horizon's daily forecast as a JSON list (one number a day from the day after `as_of`).
The absolute errors and the actual units are kept as sums, so any set of series (a region, a
model, a family) gets its pooled WAPE exactly: Σ|error| / Σ actual.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime


class ForecastRun(Base):
    __tablename__ = "insights_forecast_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)  # the last business day of history
    horizon_days: Mapped[int]
    backtest_windows: Mapped[int]
    backtest_days: Mapped[int]  # days per window
    history_days: Mapped[int]
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    series: Mapped[int]
    regular: Mapped[int]
    intermittent: Mapped[int]
    no_demand: Mapped[int]
    naive_chosen: Mapped[int]
    backtest_actual: Mapped[float] = mapped_column(Float)
    chosen_abs_error: Mapped[float] = mapped_column(Float)
    naive_abs_error: Mapped[float] = mapped_column(Float)
    read_seconds: Mapped[float] = mapped_column(Float)
    fit_seconds: Mapped[float] = mapped_column(Float)
    total_seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class ForecastSeries(Base):
    __tablename__ = "insights_forecast_series"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("insights_forecast_runs.id"))
    sku_id: Mapped[int]
    node_id: Mapped[int]
    family: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(32))
    history_days: Mapped[int]
    censored_days: Mapped[int]
    backtest_actual: Mapped[float | None] = mapped_column(Float)
    chosen_abs_error: Mapped[float | None] = mapped_column(Float)
    chosen_wape: Mapped[float | None] = mapped_column(Float)
    chosen_mase: Mapped[float | None] = mapped_column(Float)
    chosen_bias: Mapped[float | None] = mapped_column(Float)
    error_sd: Mapped[float | None] = mapped_column(Float)  # of the chosen model's daily error
    naive_abs_error: Mapped[float | None] = mapped_column(Float)
    naive_wape: Mapped[float | None] = mapped_column(Float)
    naive_mase: Mapped[float | None] = mapped_column(Float)
    naive_bias: Mapped[float | None] = mapped_column(Float)
    daily_mean: Mapped[float] = mapped_column(Float)
    total: Mapped[float] = mapped_column(Float)
    daily: Mapped[list[float]] = mapped_column(JsonDoc, default=list)

    __table_args__ = (
        UniqueConstraint("run_id", "sku_id", "node_id"),
        # "the latest forecast of this SKU at this node"
        Index("ix_insights_forecast_series_sku_node", "sku_id", "node_id", "run_id"),
    )
