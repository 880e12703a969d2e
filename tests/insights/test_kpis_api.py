"""The KPI table over HTTP: the shop world's week (tests/insights/shop.py, placed at the real
now) as HQ, a region manager and a store's staff see it, and bad input answered clearly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import support
from tests.access import api_key, bearer
from tests.conftest import BACKENDS
from tests.insights import shop
from yipan.app import create_app
from yipan.auth.domain import Role

URL = "/api/v1/insights/kpis"


@pytest.fixture(scope="module", params=BACKENDS)
def client(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("kpi") / "kpi.db")
    else:
        url = support.fresh_postgres()
    engine = support.engine_for(url)
    try:
        shop.build(engine, datetime.now(UTC))  # the API's periods end with the real today
        yield TestClient(create_app(engine, background=False))
    finally:
        engine.dispose()


def _get(client: TestClient, role: Role, kind: str | None, value: str | None, **query: Any) -> Any:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    key = api_key(engine, role, scope_kind=kind, scope_value=value)  # type: ignore[arg-type]
    return client.get(URL, params=query, headers=bearer(key))


def test_hq_gets_every_kpi_of_the_week_by_channel(client: TestClient) -> None:
    answer = _get(client, Role.HQ_ADMIN, None, None, period="7d", by="channel")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["period"], body["by"], body["scope"], body["zone"]) == (
        "7d",
        "channel",
        "all",
        "Asia/Shanghai",
    )
    total = body["total"]
    assert (total["orders"], total["net_fen"], total["average_order_fen"]) == (6, 248000, 41333)
    assert total["online_to_offline"] == {"part": 2, "whole": 4, "ratio": 0.5}
    assert total["return_rate"] == {"part": 1, "whole": 11, "ratio": 0.0909}
    assert total["on_time_pickup"]["ratio"] == 1.0
    assert total["stock"]["stock_out"] == {"part": 1, "whole": 5, "ratio": 0.2}
    assert [r["key"] for r in body["rows"]] == ["pos", "guide", "tmall", "miniapp"]
    assert all(r["stock"] is None for r in body["rows"])


def test_a_region_manager_sees_their_province_by_store(client: TestClient) -> None:
    body = _get(client, Role.REGION_MANAGER, "region", "上海市", by="store").json()
    assert body["scope"] == "region:上海市"
    assert body["total"]["orders"] == 4
    assert [r["key"] for r in body["rows"]] == ["ST-SH-1", "ST-SH-2", "ST-SH-3"]
    # Naming another province answers as an unknown one.
    refused = _get(client, Role.REGION_MANAGER, "region", "上海市", region="北京市")
    assert (refused.status_code, refused.json()["code"]) == (404, "UNKNOWN_REGION")


def test_hq_narrows_to_a_region_and_a_store_sees_only_itself(client: TestClient) -> None:
    beijing = _get(client, Role.HQ_ADMIN, None, None, region="北京市", by="region").json()
    # G-1 was sold at ST-SH-1 and sent from the Beijing warehouse: Beijing sees it, but its row
    # counts the orders at home there (TM-2 and TM-3).
    assert (beijing["scope"], beijing["total"]["orders"]) == ("region:北京市", 3)
    assert [(r["key"], r["orders"]) for r in beijing["rows"]] == [("北京市", 2)]
    store = _get(client, Role.STORE_GUIDE, "store", "ST-SH-1", by="region").json()
    assert (store["scope"], store["total"]["orders"]) == ("store:ST-SH-1", 2)
    assert [r["key"] for r in store["rows"]] == ["上海市"]
    refused = _get(client, Role.STORE_GUIDE, "store", "ST-SH-1", region="上海市")
    assert refused.status_code == 404


def test_by_day_covers_every_business_day_of_the_period(client: TestClient) -> None:
    body = _get(client, Role.HQ_ADMIN, None, None, period="30d", by="day").json()
    assert len(body["rows"]) == 30
    assert (body["rows"][0]["key"], body["rows"][-1]["key"]) == (
        body["first_day"],
        body["last_day"],
    )
    assert sum(r["orders"] for r in body["rows"]) == body["total"]["orders"] == 7


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "week"}, "query.period"),
        ({"by": "sku"}, "query.by"),
        ({"region": "x" * 51}, "query.region"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    client: TestClient, query: dict[str, str], field: str
) -> None:
    answer = _get(client, Role.HQ_ADMIN, None, None, **query)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith(field)


def test_an_unknown_region_and_a_missing_caller_are_refused(client: TestClient) -> None:
    unknown = _get(client, Role.HQ_ADMIN, None, None, region="火星")
    assert (unknown.status_code, unknown.json()["details"]) == (404, {"region": "火星"})
    assert client.get(URL).status_code == 401
