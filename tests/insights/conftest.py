"""One shop world per backend for the whole module: the KPI tests only read it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests import support
from tests.conftest import BACKENDS
from tests.insights import shop
from yipan.orders.schemas import OrderOut


@dataclass(frozen=True)
class Shop:
    engine: Engine
    orders: dict[str, OrderOut]


@pytest.fixture(scope="module", params=BACKENDS)
def shop_world(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    if request.param == "sqlite":
        url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("shop") / "shop.db")
    else:
        url = support.fresh_postgres()
    engine = support.engine_for(url)
    try:
        yield Shop(engine, shop.build(engine))
    finally:
        engine.dispose()
