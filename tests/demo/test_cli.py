"""`yipan demo` on the command line: progress, the story, the logins, a no-op second run,
--reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import support
from yipan.cli.main import app
from yipan.demo.logins import DEMO_LOGINS, DEMO_PASSWORD
from yipan.inventory.service import ledger
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work


@pytest.fixture
def database(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = support.fresh_sqlite(sqlite_template, tmp_path / "cli.db")
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_demo_builds_once_tells_the_story_and_rebuilds_on_reset(database: str) -> None:
    runner = CliRunner()

    first = runner.invoke(app, ["demo", "--scale", "0.03"])
    second = runner.invoke(app, ["demo", "--scale", "0.03"])
    reset = runner.invoke(app, ["demo", "--scale", "0.03", "--seed", "8", "--reset"])

    assert first.exit_code == 0, first.output
    assert "Demo data built" in first.output
    assert "AP-0001-WHT-L" in first.output
    assert "WH-SD-LY-01" in first.output
    assert "/api/v1/atp/AP-0001-WHT-L/near?lat=" in first.output
    # The year of history: members of three systems, orders, points, promotions, coupons.
    assert "members from" in first.output
    assert "merge review queue" in first.output
    assert "orders (" in first.output
    assert "returns" in first.output
    assert "points earned" in first.output
    assert "coupons issued" in first.output
    assert "/console/orders" in first.output
    assert "Demo logins" in first.output
    for login in DEMO_LOGINS:
        assert login.username in first.output
    assert DEMO_PASSWORD in first.output
    assert "ST-JS-NJ-001" in first.output
    assert "API key of the demo integration" in first.output
    assert "yk_" in first.output
    assert second.exit_code == 0, second.output
    assert "already in this database" in second.output
    assert "members from" in second.output  # the story of the build that is there
    assert "Demo data built" not in second.output
    assert "Demo logins" in second.output
    assert "cannot be shown again" in second.output
    assert reset.exit_code == 0, reset.output
    assert "Demo data built" in reset.output
    assert "(seed 8)" in reset.output
    engine = support.engine_for(database)
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
    engine.dispose()
