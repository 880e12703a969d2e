"""The demo's backtest table: the demo (with its year of orders) forecast 28 days ahead, and the
chosen models pooled against SeasonalNaive overall and per region."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from yipan.demo import build_demo
from yipan.insights.service import forecasts
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import make_engine, unit_of_work

CLOCK = FixedClock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fc') / 'demo.db'}")
    try:
        build_demo(engine, seed=7, scale=0.03, clock=CLOCK)
        yield engine
    finally:
        engine.dispose()


def test_on_the_demo_the_chosen_models_beat_seasonal_naive(demo: Engine) -> None:
    with unit_of_work(demo) as session:
        run = forecasts.run_forecast(session, horizon=28, clock=CLOCK)
    with unit_of_work(demo, readonly=True) as session:
        table = forecasts.backtest_table(session, run_id=run.id)
    print(f"\nbacktest of the demo, run {run.id} as of {run.as_of}:")
    for row in (table.overall, *table.by_region, *table.by_model):
        print(
            f"  {row.key:<20} {row.series:>4} series  chosen {row.wape}  naive {row.baseline_wape}"
        )
    assert table.overall.backtested > 50
    assert table.overall.wape is not None
    assert table.overall.baseline_wape is not None
    assert table.overall.wape < table.overall.baseline_wape
    for row in table.by_model:
        if row.key != "SeasonalNaive" and row.wape is not None and row.baseline_wape is not None:
            assert row.wape < row.baseline_wape, row  # chosen only where it beat naive
    assert sum(r.series for r in table.by_region) == table.overall.series
