from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tests import factories
from yipan.cli.main import app
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_db_check_agrees_after_upgrade(database: Engine) -> None:
    result = runner.invoke(app, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_reconcile_proves_the_ledger_and_reports_drift(database: Engine) -> None:
    factories.sku(database, "TEE")
    factories.node(database, "ST-1")
    factories.receive(database, "TEE", "ST-1", 12)
    clean = runner.invoke(app, ["inventory", "reconcile"])
    assert clean.exit_code == 0, clean.output
    assert "1 stock levels checked, 0 drift" in clean.output

    with database.begin() as conn:  # someone edits stock behind the ledger's back
        conn.execute(text("UPDATE inventory_stock_levels SET on_hand = 15"))
    drifted = runner.invoke(app, ["inventory", "reconcile"])
    assert drifted.exit_code == 1
    assert "TEE" in drifted.output
    assert "1 of 1 levels drifted" in drifted.output


def test_events_can_be_delivered_from_the_command_line(database: Engine) -> None:
    factories.node(database, "ST-1")
    result = runner.invoke(app, ["events", "deliver"])
    assert result.exit_code == 0, result.output
    assert "delivered 1" in result.output
