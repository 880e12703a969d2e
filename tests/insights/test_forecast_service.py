"""Demand forecasts from the ledger: families, censored stock-outs, model choice against
SeasonalNaive, what is stored, and bad input.

The shop (120 days of ledger, built through inventory's services):
- TEE at ST-1 (Shanghai): about 10 a day with a strong weekly pattern (weekends double) — regular.
- TEE at ST-2 (Shanghai): the same demand, but it sold out on day 30 and got nothing until day
  60: 30 days with nothing on hand and no sale, which are censored, not zero demand.
- CAP at WH-1 (Jiangsu): 1–3 units on about one day in six — intermittent.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests import factories
from yipan.catalog.errors import UnknownSku
from yipan.insights.domain import forecast as fc
from yipan.insights.models.forecasts import ForecastRun, ForecastSeries
from yipan.insights.service import forecasts, transfer_plans
from yipan.inventory.errors import UnknownNode
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import movements
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import unit_of_work

NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
DAYS = 120
WEEKLY = [8, 7, 7, 8, 10, 18, 16]  # Monday first
SETTINGS = forecasts.ForecastSettings(history_days=DAYS, horizon_days=14, backtest_windows=2)
SHANGHAI, JIANGSU = "上海市", "江苏省"


def build(engine: Engine, now: datetime = NOW) -> None:
    """The shop of the module docstring, its days counted back from `now`."""
    rng = random.Random(6)
    factories.sku(engine, "TEE", brand="Yipan Basics")
    factories.sku(engine, "CAP")
    factories.node(engine, "ST-1", lat=31.23, lon=121.47)
    factories.node(engine, "ST-2", lat=31.20, lon=121.40)
    factories.node(
        engine, "WH-1", type="warehouse", lat=32.06, lon=118.79, province=JIANGSU, city="南京市"
    )
    factories.node(engine, "DC-1", type="dc", lat=31.30, lon=121.10)
    rows: list[dict[str, Any]] = []

    def move(sku: str, node: str, kind: str, qty: int, days_ago: int) -> None:
        at = now - timedelta(days=days_ago, hours=1)
        rows.append({"sku": sku, "node": node, "kind": kind, "quantity": qty, "occurred_at": at})

    move("TEE", "ST-1", "receipt", 3000, DAYS + 5)
    move("TEE", "ST-2", "receipt", 330, DAYS + 5)
    move("TEE", "ST-2", "receipt", 1500, DAYS - 60)
    move("CAP", "WH-1", "receipt", 500, DAYS + 5)
    on_hand_2 = 330
    for back in range(DAYS, 0, -1):
        weekday = (now - timedelta(days=back, hours=1)).astimezone(_ZONE).weekday()
        for node in ("ST-1", "ST-2"):
            units = max(0, WEEKLY[weekday] + rng.randint(-2, 2))
            if node == "ST-2":
                if back > DAYS - 60 and on_hand_2 <= 0:
                    continue  # sold out, nothing to sell
                if back > DAYS - 60:
                    units = min(units, on_hand_2)
                    on_hand_2 -= units
            if units:
                move("TEE", node, "sale", units, back)
        if rng.random() < 1 / 6:
            move("CAP", "WH-1", "sale", rng.randint(1, 3), back)
    move("TEE", "ST-1", "return", 2, 3)
    with unit_of_work(engine) as session:
        result = movements.ingest_movements(
            session, [MovementIn(**r) for r in rows], require_keys=False, clock=FixedClock(now)
        )
    assert result.rejected == 0, result.errors


_ZONE = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")


@pytest.fixture
def shop(engine: Engine) -> Engine:
    build(engine)
    return engine


def _run(engine: Engine, **kwargs: Any) -> forecasts.RunOut:
    with unit_of_work(engine) as session:
        return forecasts.run_forecast(session, settings=SETTINGS, clock=FixedClock(NOW), **kwargs)


def _series(engine: Engine, sku: str, node: str) -> forecasts.SeriesOut:
    with unit_of_work(engine, readonly=True) as session:
        return forecasts.latest_series(session, sku=sku, node=node)


def test_each_series_gets_its_family_and_a_model_that_beats_seasonal_naive(shop: Engine) -> None:
    run = _run(shop, horizon=14)
    assert (run.series, run.regular, run.intermittent) == (3, 2, 1)
    assert run.as_of == date(2026, 5, 31)
    assert run.wape is not None
    assert run.baseline_wape is not None
    assert run.wape < run.baseline_wape

    tee = _series(shop, "TEE", "ST-1")
    assert tee.family == fc.REGULAR
    assert tee.model in ("SeasonalES", "SeasonalWA")
    assert tee.chosen_wape is not None
    assert tee.naive_wape is not None
    assert tee.chosen_wape < tee.naive_wape
    assert tee.chosen_mase is not None
    assert tee.naive_mase is not None
    assert tee.chosen_bias is not None
    # The weekly pattern carries into the forecast: Saturdays well over Tuesdays.
    by_day = dict(zip(tee.days, tee.daily, strict=True))
    assert len(tee.daily) == 14
    assert tee.days[0] == date(2026, 6, 1)
    saturdays = [v for d, v in by_day.items() if d.weekday() == 5]
    tuesdays = [v for d, v in by_day.items() if d.weekday() == 1]
    assert min(saturdays) > 1.5 * max(tuesdays)
    assert tee.daily_mean == pytest.approx(sum(WEEKLY) / 7, rel=0.15)

    cap = _series(shop, "CAP", "WH-1")
    assert cap.family == fc.INTERMITTENT
    assert cap.model in ("CrostonOptimized", "ADIDA", "IMAPA", "TSB")
    assert cap.chosen_wape is not None
    assert cap.naive_wape is not None
    assert cap.chosen_wape < cap.naive_wape
    assert cap.region == JIANGSU


def test_stock_out_days_are_censored_not_zero_demand(shop: Engine) -> None:
    _run(shop)
    sold_out = _series(shop, "TEE", "ST-2")
    assert 25 <= sold_out.censored_days <= 32
    assert _series(shop, "TEE", "ST-1").censored_days == 0
    # Had the stock-out been read as no demand, a month of zeros would pull the mean down.
    assert sold_out.daily_mean == pytest.approx(sum(WEEKLY) / 7, rel=0.15)


def test_a_run_and_its_series_are_stored(shop: Engine) -> None:
    first = _run(shop, horizon=7)
    second = _run(shop, horizon=14, skus=["TEE"], nodes=["ST-1"])
    assert second.id > first.id
    assert second.series == 1
    assert second.filters == {"skus": ["TEE"], "nodes": ["ST-1"]}
    with unit_of_work(shop, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 2
        assert session.scalar(select(func.count()).select_from(ForecastSeries)) == 4
        latest = forecasts.get_run(session)
    assert latest.id == second.id
    assert latest.horizon_days == 14
    assert len(_series(shop, "TEE", "ST-1").daily) == 14  # the newest run
    assert len(_series(shop, "CAP", "WH-1").daily) == 7


def test_the_backtest_table_pools_chosen_and_naive_by_region(shop: Engine) -> None:
    _run(shop)
    with unit_of_work(shop, readonly=True) as session:
        table = forecasts.backtest_table(session)
        jiangsu_only = forecasts.backtest_table(session, visible=["WH-1"])
    assert table.overall.series == 3
    assert table.overall.backtested == 3
    assert table.overall.wape is not None
    assert table.overall.baseline_wape is not None
    assert table.overall.wape < table.overall.baseline_wape
    assert {r.key: r.series for r in table.by_region} == {SHANGHAI: 2, JIANGSU: 1}
    with unit_of_work(shop, readonly=True) as session:
        cap = forecasts.latest_series(session, sku="CAP", node="WH-1")
    jiangsu = next(r for r in table.by_region if r.key == JIANGSU)
    assert jiangsu.forecast_total == pytest.approx(cap.total, abs=0.01)
    assert table.overall.forecast_total == pytest.approx(
        sum(r.forecast_total for r in table.by_region), abs=0.01
    )
    assert {r.key for r in table.by_family} == {fc.REGULAR, fc.INTERMITTENT}
    assert sum(r.series for r in table.by_model) == 3
    assert jiangsu_only.overall.series == 1
    assert [r.key for r in jiangsu_only.by_region] == [JIANGSU]


def test_bad_input_is_refused_clearly(shop: Engine) -> None:
    with pytest.raises(forecasts.InvalidForecastRequest, match="horizon"):
        _run(shop, horizon=0)
    with pytest.raises(UnknownSku):
        _run(shop, skus=["NOPE"])
    with pytest.raises(UnknownNode):
        _run(shop, nodes=["NOWHERE"])
    with pytest.raises(forecasts.NoSalesHistory, match="nothing was sold"):
        _run(shop, skus=["CAP"], nodes=["ST-1"])
    with pytest.raises(forecasts.InvalidForecastRequest, match="future"):
        _run(shop, as_of=date(2026, 7, 1))
    with pytest.raises(forecasts.InvalidForecastRequest, match="before"):
        _run(shop, as_of=date(1, 1, 1))
    with pytest.raises(forecasts.NoForecast):
        _series(shop, "TEE", "ST-1")  # nothing run yet
    with unit_of_work(shop, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 0


def test_history_before_the_window_is_not_read_as_a_stock_out(shop: Engine) -> None:
    with unit_of_work(shop, readonly=True) as session:
        history = forecasts.read_history(session, as_of=date(2026, 5, 31), days=30)
    # Every pair held stock when the 30 days began: observed from the first day.
    assert history.demand.start.tolist() == [0, 0, 0]
    assert history.demand.y.sum() > 0


def test_transfer_plans_can_take_their_demand_from_the_forecasts(shop: Engine) -> None:
    _run(shop, horizon=14)
    with unit_of_work(shop, readonly=True) as session:
        demand = forecasts.ForecastDemand().daily_demand(session, sku_ids=None, now=NOW)
        plan = transfer_plans.plan_transfers(
            session, demand=forecasts.ForecastDemand(), clock=FixedClock(NOW)
        )
    assert plan.demand == "forecast"
    daily = {
        (int(s), int(n)): float(u)
        for s, n, u in zip(demand.sku_ids, demand.node_ids, demand.units, strict=True)
    }
    assert len(daily) == 3
    assert all(u > 0 for u in daily.values())


def test_the_schedule_runs_once_a_period_whichever_process_comes_first(shop: Engine) -> None:
    every = 24.0
    with unit_of_work(shop, readonly=True) as session:
        assert forecasts.scheduled_run_due(session, every, FixedClock(NOW))  # never run yet
    _run(shop)
    soon, later = FixedClock(NOW + timedelta(hours=6)), FixedClock(NOW + timedelta(hours=13))
    with unit_of_work(shop, readonly=True) as session:
        assert not forecasts.scheduled_run_due(session, every, soon)
    with unit_of_work(shop, readonly=True) as session:
        assert forecasts.scheduled_run_due(session, every, later)
    if shop.dialect.name != "postgresql":
        return
    # Two processes' schedules fire together: the one holding the lock runs, the other skips.
    with unit_of_work(shop) as first, unit_of_work(shop) as second:
        assert forecasts.scheduled_run_due(first, every, later)
        assert not forecasts.scheduled_run_due(second, every, later)
    with unit_of_work(shop) as again:  # the lock went with the first transaction
        assert forecasts.scheduled_run_due(again, every, later)
