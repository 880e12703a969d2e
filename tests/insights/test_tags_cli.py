"""`yipan tags refresh` and `yipan tags show` on a SQLite file: two members who bought at the
tills of the order tests' world, one who never did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.insights import test_member_value_service as mv
from tests.orders import world
from yipan.cli.main import app
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import IdentityIn

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def test_refresh_tags_everyone_and_show_prints_one_member(database: Engine) -> None:
    world.build(database)
    ids = [
        mv.new_member(database, name, IdentityIn(kind=IdentityKind.PHONE, value=phone))
        for name, phone in (("a", "13600000001"), ("b", "13600000002"), ("c", "13600000003"))
    ]
    tee = [(world.TEE, 1, 9900)]
    mv.sell(database, [mv.receipt(ids[0], mv.at(d), tee) for d in (9, 3)])
    mv.sell(database, [mv.receipt(ids[1], mv.at(40), tee)])

    refreshed = runner.invoke(app, ["tags", "refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "2 members tagged" in refreshed.output
    assert "no lapse risk" in refreshed.output  # two buyers are too few for the model

    shown = runner.invoke(app, ["tags", "show", ids[0]])
    assert shown.exit_code == 0, shown.output
    assert "rfm_segment" in shown.output
    assert "in_store" in shown.output
    assert "ST-SH-3" in shown.output
    nothing = runner.invoke(app, ["tags", "show", ids[2]])
    assert "has no tags" in nothing.output
    unknown = runner.invoke(app, ["tags", "show", "M0999999999"])
    assert unknown.exit_code == 1
    assert "no member M0999999999" in unknown.output
