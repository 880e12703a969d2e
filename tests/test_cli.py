from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tests import factories
from yipan.cli.main import app
from yipan.events import service as events
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
    # Recorded by a process that was not told the deployment's relay: pending until delivered.
    events.deliver_through(None)
    factories.node(database, "ST-1")
    result = runner.invoke(app, ["events", "deliver"])
    assert result.exit_code == 0, result.output
    assert "delivered 1" in result.output


def test_an_offline_till_uploads_its_receipts_twice_without_harm(
    database: Engine, tmp_path: Path
) -> None:
    import json

    from tests.orders import world

    world.build(database)
    receipts = [
        {
            "channel": "pos",
            "receipt_id": f"T1-{n}",
            "store": "ST-SH-1",
            "lines": [{"sku": world.TEE, "quantity": 1, "unit_price_fen": 9900}],
            "total_fen": 9900,
            "sold_at": "2026-11-22T09:00:00+08:00",
        }
        for n in range(3)
    ]
    bad = {**receipts[0], "receipt_id": "T1-bad", "total_fen": 1}
    file = tmp_path / "till.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in [*receipts, bad, "not json"]) + "\n")

    first = runner.invoke(app, ["orders", "upload-receipts", str(file)])
    assert first.exit_code == 1, first.output
    assert "3 new, 0 already uploaded, 2 refused" in first.output
    assert "SUMS_DO_NOT_ADD_UP" in first.output
    again = runner.invoke(app, ["orders", "upload-receipts", str(file)])
    assert "0 new, 3 already uploaded, 2 refused" in again.output
    assert world.stock(database, world.TEE, "ST-SH-1") == (2, 0)


def test_uncollected_pickups_can_be_expired_from_the_command_line(database: Engine) -> None:
    from tests.orders import world
    from yipan.kernel.db import unit_of_work
    from yipan.orders.domain.fulfilment import Action
    from yipan.orders.schemas import ActionIn, OrderIn
    from yipan.orders.service import capture, lifecycle

    world.build(database)
    body = world.order("P-1", [world.line(method="pickup", pickup_node="ST-SH-1")])
    with unit_of_work(database) as session:
        placed = capture.place_order(session, OrderIn.model_validate(body)).order
    with unit_of_work(database) as session:
        lifecycle.advance(session, placed.fulfilments[0].id, Action.MARK_READY, ActionIn())
    assert world.stock(database, world.TEE, "ST-SH-1") == (5, 1)
    result = runner.invoke(app, ["orders", "expire-pickups", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert "1 pickups expired after 0 days" in result.output
    assert world.stock(database, world.TEE, "ST-SH-1") == (5, 0)
