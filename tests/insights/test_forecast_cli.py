"""`yipan forecast …` against a SQLite file: run (with its progress bar), backtest, replenish,
and refusals with exit code 1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.insights import test_forecast_service as world
from yipan.cli.main import app
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    world.build(engine, now=datetime.now(UTC))
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_run_backtest_and_replenish(database: Engine) -> None:
    ran = runner.invoke(app, ["forecast", "run", "--horizon", "14"])
    assert ran.exit_code == 0, ran.output
    assert "3 series (2 regular, 1 intermittent" in ran.output
    assert "Backtest of run 1" in ran.output
    shown = runner.invoke(app, ["forecast", "backtest"])
    assert shown.exit_code == 0, shown.output
    assert world.JIANGSU in shown.output
    replenished = runner.invoke(app, ["forecast", "replenish", "--apply"])
    assert replenished.exit_code == 0, replenished.output
    assert "3 reorder points set" in replenished.output


def test_refusals_exit_with_1(database: Engine) -> None:
    unknown = runner.invoke(app, ["forecast", "run", "--sku", "NOPE"])
    assert unknown.exit_code == 1
    assert "UNKNOWN_SKU" in unknown.output
    bad = runner.invoke(app, ["forecast", "run", "--horizon", "0"])
    assert bad.exit_code == 1
    assert "horizon" in bad.output
    assert runner.invoke(app, ["forecast", "backtest"]).exit_code == 1  # nothing run yet
