"""Forecasts over HTTP: run one, read a SKU × node's forecast and the backtest table; who may
do what; bad input answered clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import api_key, bearer, sign_in
from tests.insights import test_forecast_service as world
from yipan.app import create_app
from yipan.auth.domain import Role

URL = "/api/v1/insights/forecasts"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    world.build(engine, now=datetime.now(UTC))  # the API forecasts up to yesterday
    return sign_in(TestClient(create_app(engine, background=False)))


def _as(
    client: TestClient, role: Role, kind: str | None = None, value: str | None = None
) -> dict[str, str]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return bearer(api_key(engine, role, scope_kind=kind, scope_value=value))  # type: ignore[arg-type]


def test_run_then_read_a_forecast_and_the_backtest(client: TestClient) -> None:
    made = client.post(URL, json={"horizon_days": 14})
    assert made.status_code == 201, made.text
    run = made.json()
    assert (run["series"], run["regular"], run["intermittent"]) == (3, 2, 1)
    assert run["wape"] < run["baseline_wape"]
    assert client.get(f"{URL}/runs/latest").json()["id"] == run["id"]

    tee = client.get(f"{URL}/TEE/ST-1").json()
    assert tee["family"] == "regular"
    assert len(tee["daily"]) == len(tee["days"]) == 14
    assert tee["chosen_wape"] < tee["naive_wape"]
    cap = client.get(f"{URL}/CAP/WH-1").json()
    assert cap["family"] == "intermittent"

    table = client.get(f"{URL}/backtest").json()
    assert table["run_id"] == run["id"]
    assert table["overall"]["series"] == 3
    assert {r["key"] for r in table["by_region"]} == {world.SHANGHAI, world.JIANGSU}


def test_bad_input_is_answered_clearly(client: TestClient) -> None:
    for horizon in (0, -3):
        refused = client.post(URL, json={"horizon_days": horizon})
        assert refused.status_code == 422
    unknown_sku = client.post(URL, json={"skus": ["NOPE"]})
    assert (unknown_sku.status_code, unknown_sku.json()["code"]) == (404, "UNKNOWN_SKU")
    unknown_node = client.post(URL, json={"nodes": ["NOWHERE"]})
    assert (unknown_node.status_code, unknown_node.json()["code"]) == (404, "UNKNOWN_NODE")
    empty = client.post(URL, json={"skus": ["CAP"], "nodes": ["ST-1"]})
    assert (empty.status_code, empty.json()["code"]) == (422, "NO_SALES_HISTORY")
    assert "nothing was sold" in empty.json()["message"]
    assert client.get(f"{URL}/TEE/ST-1").json()["code"] == "NO_FORECAST"
    assert client.get(f"{URL}/NOPE/ST-1").status_code == 404
    assert client.get(f"{URL}/TEE/NOWHERE").status_code == 404
    assert client.get(f"{URL}/backtest").status_code == 404  # no run yet


def test_guides_read_but_do_not_run_and_regions_see_their_own(client: TestClient) -> None:
    guide = _as(client, Role.STORE_GUIDE, "store", "ST-1")
    assert client.post(URL, json={}, headers=guide).status_code == 403
    assert client.post(URL, json={}, headers=_as(client, Role.PLANNER)).status_code == 201
    assert client.get(f"{URL}/TEE/ST-1", headers=guide).status_code == 200
    assert client.get(f"{URL}/CAP/WH-1", headers=guide).status_code == 404  # another node
    jiangsu = _as(client, Role.REGION_MANAGER, "region", world.JIANGSU)
    table = client.get(f"{URL}/backtest", headers=jiangsu).json()
    assert [r["key"] for r in table["by_region"]] == [world.JIANGSU]
    # A region's run covers its own nodes only.
    own = client.post(URL, json={}, headers=jiangsu)
    assert own.status_code == 201
    assert own.json()["series"] == 1
    assert client.post(URL, json={"nodes": ["ST-1"]}, headers=jiangsu).status_code == 403
