"""Demand forecasts: read daily demand from the stock ledger, forecast it, store run and series.

**Demand** is the sales ledger: `sale` and `reservation_commit` movements (a till sale, an
order's held goods leaving) net of `return` movements, per SKU × node and business day (tenant
time zone). Only pairs with at least one such movement in the history window are forecast.

**Censoring**: the on-hand at the start of each day is worked back from the stock level now
(on-hand now − every movement since the window began, then day by day). A day that starts with
nothing on hand and sells nothing is censored — a stock-out, not a day without demand — and the
domain (`insights.domain.forecast`) imputes it for fitting and leaves it out of the backtest
errors. A day that sells out part-way stays observed (its sales are a lower bound of demand).

The history read is the last `history_days` business days up to `as_of` (yesterday by
default): at most one grouped row per pair and day, in one statement. The run and one row per
series are written in the caller's unit of work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import BigInteger, Integer, case, cast, func, insert, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from yipan.catalog import service as catalog
from yipan.insights.domain import forecast as fc
from yipan.insights.models.forecasts import ForecastRun, ForecastSeries
from yipan.insights.service.transfer_plans import DailyDemand
from yipan.inventory.domain import MovementKind
from yipan.inventory.models import Movement, Node, StockLevel
from yipan.inventory.service import nodes as node_service
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.errors import InvalidInput, NotFound

SOLD = (MovementKind.SALE.value, MovementKind.RESERVATION_COMMIT.value)
RETURNED = MovementKind.RETURN.value
DAY = 86400
EARLIEST = date(2000, 1, 1)  # no ledger is older; older dates are typing mistakes


class ForecastSettings(BaseSettings):
    """`YIPAN_FORECAST_*`: the scheduled run and the defaults of every run."""

    model_config = SettingsConfigDict(env_prefix="YIPAN_FORECAST_", extra="ignore")

    every_hours: float = 24.0  # the scheduled run; 0 switches it off
    horizon_days: int = 28
    history_days: int = 365
    backtest_windows: int = 2
    n_jobs: int = 1  # statsforecast worker processes


class NoSalesHistory(InvalidInput):
    code = "NO_SALES_HISTORY"


class InvalidForecastRequest(InvalidInput):
    code = "INVALID_FORECAST_REQUEST"


class NoForecast(NotFound):
    code = "NO_FORECAST"


@dataclass(frozen=True)
class History:
    sku_ids: np.ndarray
    node_ids: np.ndarray
    demand: fc.Demand
    first_day: date


@dataclass(frozen=True)
class RunOut:
    id: int
    as_of: date
    horizon_days: int
    backtest_windows: int
    backtest_days: int
    history_days: int
    series: int
    regular: int
    intermittent: int
    no_demand: int
    naive_chosen: int
    wape: float | None
    baseline_wape: float | None
    read_seconds: float
    fit_seconds: float
    total_seconds: float
    started_at: datetime
    created_by: str
    filters: dict[str, Any]


@dataclass(frozen=True)
class SeriesOut:
    run_id: int
    as_of: date
    sku: str
    node: str
    region: str
    family: str
    model: str
    history_days: int
    censored_days: int
    backtest_actual: float | None
    chosen_wape: float | None
    chosen_mase: float | None
    chosen_bias: float | None
    naive_wape: float | None
    naive_mase: float | None
    naive_bias: float | None
    error_sd: float | None
    daily_mean: float
    total: float
    days: list[date]
    daily: list[float]


@dataclass(frozen=True)
class BacktestRow:
    """Pooled backtest of a set of series: the chosen models against SeasonalNaive."""

    key: str
    series: int
    backtested: int
    naive_chosen: int
    actual: float
    wape: float | None
    baseline_wape: float | None
    forecast_total: float  # Σ of the series' forecasts over the horizon


@dataclass(frozen=True)
class BacktestTable:
    run_id: int
    as_of: date
    overall: BacktestRow
    by_region: list[BacktestRow]
    by_model: list[BacktestRow]
    by_family: list[BacktestRow]


def default_as_of(clock: Clock | None = None) -> date:
    """Yesterday in the tenant's time zone: the last whole business day."""
    zone = ZoneInfo(get_settings().timezone)
    return (clock or SystemClock()).now().astimezone(zone).date() - timedelta(days=1)


def _epoch(session: Session, column: InstrumentedAttribute[datetime]) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def read_history(
    session: Session,
    *,
    as_of: date,
    days: int,
    sku_ids: Sequence[int] | None = None,
    node_ids: Sequence[int] | None = None,
) -> History:
    """Daily demand and censoring of every pair that sold in the `days` days up to `as_of`."""
    zone = ZoneInfo(get_settings().timezone)
    first = as_of - timedelta(days=days - 1)
    begin = datetime.combine(first, dtime(), zone).astimezone(UTC)
    end = datetime.combine(as_of + timedelta(days=1), dtime(), zone).astimezone(UTC)
    offset = int(
        (datetime.combine(as_of, dtime(12), zone).utcoffset() or timedelta()).total_seconds()
    )
    day = ((_epoch(session, Movement.occurred_at) + offset) // DAY).label("day")
    sold = func.sum(case((Movement.kind.in_((*SOLD, RETURNED)), -Movement.quantity), else_=0))
    stmt = (
        select(Movement.sku_id, Movement.node_id, day, sold, func.sum(Movement.quantity))
        .where(Movement.occurred_at >= begin)
        .group_by(Movement.sku_id, Movement.node_id, day)
    )
    levels = select(StockLevel.sku_id, StockLevel.node_id, StockLevel.on_hand)
    if sku_ids is not None:
        stmt = stmt.where(Movement.sku_id.in_(sku_ids))
        levels = levels.where(StockLevel.sku_id.in_(sku_ids))
    if node_ids is not None:
        stmt = stmt.where(Movement.node_id.in_(node_ids))
        levels = levels.where(StockLevel.node_id.in_(node_ids))
    rows = np.array(session.execute(stmt).all(), dtype=np.int64).reshape(-1, 5)
    first_slot = int((begin.timestamp() + offset) // DAY)
    end_slot = int((end.timestamp() + offset) // DAY)
    in_window = (rows[:, 2] >= first_slot) & (rows[:, 2] < end_slot)
    selling = np.unique(rows[in_window & (rows[:, 3] != 0)][:, :2], axis=0)
    empty = fc.Demand(
        np.zeros((0, days)), np.zeros((0, days), dtype=np.bool_), np.zeros(0, dtype=np.int64)
    )
    if not len(selling):
        return History(np.zeros(0, np.int64), np.zeros(0, np.int64), empty, first)
    width = int(max(rows[:, 1].max(), selling[:, 1].max())) + 1
    keys = selling[:, 0] * width + selling[:, 1]  # sorted: unique rows come in (sku, node) order
    key_of = {int(k): i for i, k in enumerate(keys.tolist())}
    wanted = rows[:, 0] * width + rows[:, 1]
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    pair = np.where(keys[found] == wanted, found, -1)
    keep = pair >= 0
    rows, pair = rows[keep], pair[keep]
    n = len(selling)
    # Movements after the window (today so far) count for stock, not for demand.
    col = rows[:, 2] - first_slot
    y = np.zeros((n, days))
    moved = np.zeros((n, days + 1))
    inside = col < days
    np.add.at(y, (pair[inside], col[inside]), rows[inside, 3])
    np.add.at(moved, (pair, np.minimum(col, days)), rows[:, 4])
    on_hand_now = np.zeros(n)
    for s, nd, q in session.execute(levels):
        i = key_of.get(int(s) * width + int(nd)) if nd < width else None
        if i is not None:
            on_hand_now[i] = q
    opening = on_hand_now - moved.sum(axis=1)
    start_of_day = opening[:, None] + np.concatenate(
        [np.zeros((n, 1)), np.cumsum(moved[:, :days], axis=1)[:, :-1]], axis=1
    )
    touched = (moved[:, :days] != 0) | (y != 0)
    started = np.where(opening > 0, 0, np.argmax(touched | (start_of_day > 0), axis=1)).astype(
        np.int64
    )
    live = np.arange(days)[None, :] >= started[:, None]
    # Nothing on hand, nothing sold, nothing came in: a stock-out day.
    censored = (start_of_day <= 0) & (y <= 0) & (moved[:, :days] <= 0)
    observed = live & ~censored
    return History(
        sku_ids=selling[:, 0],
        node_ids=selling[:, 1],
        demand=fc.Demand(
            y=np.maximum(y, 0.0), observed=observed, start=started, first_weekday=first.weekday()
        ),
        first_day=first,
    )


def run_forecast(
    session: Session,
    *,
    horizon: int | None = None,
    skus: Sequence[str] | None = None,
    nodes: Sequence[str] | None = None,
    as_of: date | None = None,
    settings: ForecastSettings | None = None,
    created_by: str = "system",
    progress: Callable[[str, int], None] | None = None,
    clock: Clock | None = None,
) -> RunOut:
    """Forecast every SKU × node that sold in the history window (or those of `skus` and
    `nodes`), `horizon` days from the day after `as_of`; store the run and its series."""
    conf = settings or ForecastSettings()
    horizon = conf.horizon_days if horizon is None else horizon
    if horizon <= 0 or horizon > 366:
        raise InvalidForecastRequest(
            f"the horizon must be 1 to 366 days, got {horizon}", horizon=horizon
        )
    now = (clock or SystemClock()).now()
    as_of = as_of or default_as_of(clock)
    if as_of > now.astimezone(ZoneInfo(get_settings().timezone)).date():
        raise InvalidForecastRequest(f"as_of {as_of} is in the future", as_of=str(as_of))
    if as_of < EARLIEST:
        raise InvalidForecastRequest(f"as_of {as_of} is before {EARLIEST}", as_of=str(as_of))
    started = time.perf_counter()
    sku_ids = sorted(catalog.sku_ids(session, skus).values()) if skus else None
    node_ids = sorted(node_service.node_ids(session, nodes).values()) if nodes else None
    history = read_history(
        session, as_of=as_of, days=conf.history_days, sku_ids=sku_ids, node_ids=node_ids
    )
    filters = {k: sorted(v) for k, v in (("skus", skus), ("nodes", nodes)) if v}
    if not len(history.sku_ids):
        raise NoSalesHistory(
            f"nothing was sold in the {conf.history_days} days up to {as_of}"
            + (
                " for " + "; ".join(f"{k}: {', '.join(v)}" for k, v in filters.items())
                if filters
                else ""
            ),
            as_of=str(as_of),
            **filters,
        )
    read_seconds = time.perf_counter() - started
    settings_ = fc.Settings(
        horizon=horizon,
        windows=conf.backtest_windows,
        history_days=conf.history_days,
        n_jobs=conf.n_jobs,
    )
    fitted = time.perf_counter()
    results = fc.forecast_all(history.demand, settings_, progress=progress)
    fit_seconds = time.perf_counter() - fitted
    backtested = [r for r in results if r.chosen is not None and r.naive is not None]
    run = ForecastRun(
        as_of=as_of,
        horizon_days=horizon,
        backtest_windows=settings_.windows,
        backtest_days=settings_.backtest_horizon,
        history_days=settings_.history_days,
        filters=filters,
        series=len(results),
        regular=sum(r.family == fc.REGULAR for r in results),
        intermittent=sum(r.family == fc.INTERMITTENT for r in results),
        no_demand=sum(r.family == fc.NO_DEMAND for r in results),
        naive_chosen=sum(r.model == fc.NAIVE for r in backtested),
        backtest_actual=float(sum(r.backtest_actual or 0.0 for r in backtested)),
        chosen_abs_error=float(sum(r.chosen.abs_error for r in backtested if r.chosen)),
        naive_abs_error=float(sum(r.naive.abs_error for r in backtested if r.naive)),
        read_seconds=round(read_seconds, 3),
        fit_seconds=round(fit_seconds, 3),
        total_seconds=0.0,
        started_at=now,
        created_by=created_by[:100],
    )
    session.add(run)
    session.flush()
    rows = [
        _series_row(run.id, int(s), int(n), r)
        for s, n, r in zip(history.sku_ids, history.node_ids, results, strict=True)
    ]
    for lo in range(0, len(rows), 5000):
        session.execute(insert(ForecastSeries), rows[lo : lo + 5000])
    run.total_seconds = round(time.perf_counter() - started, 3)
    session.flush()
    return _run_out(run)


# Any number will do, as long as nothing else in the database takes the same advisory lock.
_SCHEDULE_LOCK = 0x59_4650_4643  # "YFPFC"


def scheduled_run_due(session: Session, every_hours: float, clock: Clock | None = None) -> bool:
    """Whether this process should run the scheduled forecast now. Every API process and worker
    keeps the schedule, started at about the same time: on PostgreSQL the first to take the
    advisory lock (held until its transaction ends, i.e. through the whole run) runs it and the
    others skip; and a run started less than half a period ago (by the schedule or by hand)
    makes the next one wait for the period after."""
    if session.get_bind().dialect.name == "postgresql":
        taken = session.scalar(select(func.pg_try_advisory_xact_lock(_SCHEDULE_LOCK)))
        if not taken:
            return False
    last: datetime | None = session.scalar(select(func.max(ForecastRun.started_at)))
    if last is None:
        return True
    now = (clock or SystemClock()).now()
    return now - last >= timedelta(hours=every_hours / 2)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _series_row(run_id: int, sku_id: int, node_id: int, r: fc.SeriesForecast) -> dict[str, Any]:
    daily = [round(float(v), 4) for v in r.daily]
    return {
        "run_id": run_id,
        "sku_id": sku_id,
        "node_id": node_id,
        "family": r.family,
        "model": r.model,
        "history_days": r.history_days,
        "censored_days": r.censored_days,
        "backtest_actual": _r(r.backtest_actual),
        "chosen_abs_error": _r(r.chosen.abs_error) if r.chosen else None,
        "chosen_wape": _r(r.chosen.wape) if r.chosen else None,
        "chosen_mase": _r(r.chosen.mase) if r.chosen else None,
        "chosen_bias": _r(r.chosen.bias) if r.chosen else None,
        "error_sd": _r(r.chosen.error_sd) if r.chosen else None,
        "naive_abs_error": _r(r.naive.abs_error) if r.naive else None,
        "naive_wape": _r(r.naive.wape) if r.naive else None,
        "naive_mase": _r(r.naive.mase) if r.naive else None,
        "naive_bias": _r(r.naive.bias) if r.naive else None,
        "daily_mean": round(float(np.mean(r.daily)), 4) if len(r.daily) else 0.0,
        "total": round(float(np.sum(r.daily)), 4),
        "daily": daily,
    }


def _run_out(run: ForecastRun) -> RunOut:
    return RunOut(
        id=run.id,
        as_of=run.as_of,
        horizon_days=run.horizon_days,
        backtest_windows=run.backtest_windows,
        backtest_days=run.backtest_days,
        history_days=run.history_days,
        series=run.series,
        regular=run.regular,
        intermittent=run.intermittent,
        no_demand=run.no_demand,
        naive_chosen=run.naive_chosen,
        wape=_r(fc.pooled_wape(run.chosen_abs_error, run.backtest_actual)),
        baseline_wape=_r(fc.pooled_wape(run.naive_abs_error, run.backtest_actual)),
        read_seconds=run.read_seconds,
        fit_seconds=run.fit_seconds,
        total_seconds=run.total_seconds,
        started_at=run.started_at,
        created_by=run.created_by,
        filters=dict(run.filters or {}),
    )


def get_run(session: Session, run_id: int | None = None) -> RunOut:
    """A run by id, or the latest."""
    stmt = select(ForecastRun)
    stmt = (
        stmt.where(ForecastRun.id == run_id)
        if run_id is not None
        else stmt.order_by(ForecastRun.id.desc()).limit(1)
    )
    run = session.scalar(stmt)
    if run is None:
        raise NoForecast(
            f"no forecast run {run_id}" if run_id is not None else "no forecast has been run yet",
            run=run_id,
        )
    return _run_out(run)


def latest_series(session: Session, *, sku: str, node: str) -> SeriesOut:
    """The latest stored forecast of a SKU at a node."""
    sku_id = catalog.sku_id(session, sku)
    node_id = node_service.node_id(session, node)
    row = session.execute(
        select(ForecastSeries, ForecastRun.as_of, Node.province)
        .join(ForecastRun, ForecastRun.id == ForecastSeries.run_id)
        .join(Node, Node.id == ForecastSeries.node_id)
        .where(ForecastSeries.sku_id == sku_id, ForecastSeries.node_id == node_id)
        .order_by(ForecastSeries.run_id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NoForecast(
            f"no forecast of {sku} at {node}: it has no sales history in a forecast run yet",
            sku=sku,
            node=node,
        )
    s, as_of, region = row
    return SeriesOut(
        run_id=s.run_id,
        as_of=as_of,
        sku=sku,
        node=node,
        region=region,
        family=s.family,
        model=s.model,
        history_days=s.history_days,
        censored_days=s.censored_days,
        backtest_actual=s.backtest_actual,
        chosen_wape=s.chosen_wape,
        chosen_mase=s.chosen_mase,
        chosen_bias=s.chosen_bias,
        naive_wape=s.naive_wape,
        naive_mase=s.naive_mase,
        naive_bias=s.naive_bias,
        error_sd=s.error_sd,
        daily_mean=s.daily_mean,
        total=s.total,
        days=[as_of + timedelta(days=d + 1) for d in range(len(s.daily))],
        daily=list(s.daily),
    )


@dataclass(frozen=True)
class LatestDemand:
    """Per SKU × node, the latest forecast's mean daily demand and its backtest error."""

    daily_mean: float
    error_sd: float | None
    horizon: int


def latest_demand(
    session: Session, *, sku_ids: Sequence[int] | None = None
) -> dict[tuple[int, int], LatestDemand]:
    """The newest forecast of every SKU × node that has one (one grouped statement + one read)."""
    newest = select(
        ForecastSeries.sku_id,
        ForecastSeries.node_id,
        func.max(ForecastSeries.run_id).label("run_id"),
    ).group_by(ForecastSeries.sku_id, ForecastSeries.node_id)
    if sku_ids is not None:
        newest = newest.where(ForecastSeries.sku_id.in_(sku_ids))
    sub = newest.subquery()
    rows = session.execute(
        select(
            ForecastSeries.sku_id,
            ForecastSeries.node_id,
            ForecastSeries.daily_mean,
            ForecastSeries.error_sd,
            ForecastRun.horizon_days,
        )
        .join(
            sub,
            (sub.c.sku_id == ForecastSeries.sku_id)
            & (sub.c.node_id == ForecastSeries.node_id)
            & (sub.c.run_id == ForecastSeries.run_id),
        )
        .join(ForecastRun, ForecastRun.id == ForecastSeries.run_id)
    )
    return {(s, n): LatestDemand(m, sd, h) for s, n, m, sd, h in rows}


@dataclass(frozen=True)
class ForecastDemand:
    """Transfer plans' `DemandSource` from the latest forecasts: each SKU × node's mean daily
    forecast (pairs without a forecast sell nothing)."""

    @property
    def name(self) -> str:
        return "forecast"

    def daily_demand(
        self, session: Session, *, sku_ids: Collection[int] | None, now: datetime
    ) -> DailyDemand:
        wanted = sorted(sku_ids) if sku_ids is not None else None
        latest = latest_demand(session, sku_ids=wanted)
        return DailyDemand.of({p: d.daily_mean for p, d in latest.items() if d.daily_mean > 0})


def backtest_table(
    session: Session, *, run_id: int | None = None, visible: Sequence[str] | None = None
) -> BacktestTable:
    """A run's backtest pooled overall, by region (province), by chosen model and by family,
    over the series at `visible` nodes (None: all)."""
    run = get_run(session, run_id)
    backtested = ForecastSeries.naive_abs_error.is_not(None)
    measures = (
        func.count(),
        func.sum(case((backtested, 1), else_=0)),
        func.sum(case((backtested & (ForecastSeries.model == fc.NAIVE), 1), else_=0)),
        func.coalesce(func.sum(ForecastSeries.backtest_actual), 0.0),
        func.coalesce(func.sum(ForecastSeries.chosen_abs_error), 0.0),
        func.coalesce(func.sum(ForecastSeries.naive_abs_error), 0.0),
        func.coalesce(func.sum(ForecastSeries.total), 0.0),
    )

    def grouped(key: Any) -> list[BacktestRow]:
        stmt = (
            select(key, *measures)
            .join(Node, Node.id == ForecastSeries.node_id)
            .where(ForecastSeries.run_id == run.id)
            .group_by(key)
            .order_by(key)
        )
        if visible is not None:
            stmt = stmt.where(Node.code.in_(list(visible)))
        return [_backtest_row(str(k), *rest) for k, *rest in session.execute(stmt)]

    overall = grouped(literal("all"))
    return BacktestTable(
        run_id=run.id,
        as_of=run.as_of,
        overall=overall[0] if overall else _backtest_row("all", 0, 0, 0, 0.0, 0.0, 0.0, 0.0),
        by_region=grouped(Node.province),
        by_model=grouped(ForecastSeries.model),
        by_family=grouped(ForecastSeries.family),
    )


def _backtest_row(
    key: str,
    series: int,
    backtested: int,
    naive: int,
    actual: float,
    chosen_error: float,
    naive_error: float,
    forecast_total: float,
) -> BacktestRow:
    return BacktestRow(
        key=key,
        series=int(series),
        backtested=int(backtested or 0),
        naive_chosen=int(naive or 0),
        actual=round(float(actual), 3),
        wape=_r(fc.pooled_wape(float(chosen_error), float(actual))),
        baseline_wape=_r(fc.pooled_wape(float(naive_error), float(actual))),
        forecast_total=round(float(forecast_total), 3),
    )
