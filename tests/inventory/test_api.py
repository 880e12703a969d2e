from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests import factories
from tests.access import sign_in
from yipan.app import create_app
from yipan.inventory.models import Movement, Reservation
from yipan.kernel.db import unit_of_work


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    factories.sku(engine, "TEE")
    factories.node(engine, "ST-1", lat=31.23, lon=121.47)
    factories.node(engine, "ST-2", lat=31.30, lon=121.50)
    factories.node(
        engine, "WH-SD", type="warehouse", lat=36.07, lon=120.38, province="山东省", city="青岛市"
    )
    factories.receive(engine, "TEE", "ST-1", 10)
    factories.receive(engine, "TEE", "WH-SD", 500)
    with TestClient(create_app(engine, background=False)) as client:
        yield sign_in(client)


def writes(engine: Engine) -> tuple[int, int]:
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(select(func.count()).select_from(Movement)) or 0,
            session.scalar(select(func.count()).select_from(Reservation)) or 0,
        )


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["message"]
    return body  # type: ignore[no-any-return]


def test_reserve_release_and_commit_over_http(client: TestClient, engine: Engine) -> None:
    lines = [{"sku": "TEE", "node": "ST-1", "quantity": 2}]
    created = client.post("/api/v1/reservations", json={"reference": "order:1", "lines": lines})
    assert created.status_code == 201
    assert created.json()[0]["status"] == "active"
    assert client.get("/api/v1/stock/TEE/ST-1").json()["atp"] == 8
    committed = client.post("/api/v1/reservations/order:1/commit")
    assert committed.json()[0]["status"] == "committed"
    level = client.get("/api/v1/stock/TEE/ST-1").json()
    assert (level["on_hand"], level["reserved"]) == (8, 0)
    page = client.get("/api/v1/stock/TEE/ST-1/ledger").json()
    assert [m["kind"] for m in page["items"]] == ["reservation_commit", "receipt"]


def test_bad_input_gets_a_clear_4xx_and_writes_nothing(client: TestClient, engine: Engine) -> None:
    before = writes(engine)
    line = {"sku": "TEE", "node": "ST-1", "quantity": 1}
    cases = [
        ({"reference": "r", "lines": [{**line, "sku": "NOPE"}]}, 404, "UNKNOWN_SKU"),
        ({"reference": "r", "lines": [{**line, "node": "NOPE"}]}, 404, "UNKNOWN_NODE"),
        ({"reference": "r", "lines": [{**line, "quantity": 0}]}, 422, "VALIDATION_ERROR"),
        ({"reference": "r", "lines": [{**line, "quantity": -3}]}, 422, "VALIDATION_ERROR"),
        ({"reference": "r", "lines": []}, 422, "VALIDATION_ERROR"),
        ({"reference": "r", "lines": [{**line, "quantity": 11}]}, 409, "INSUFFICIENT_STOCK"),
        ({"lines": [line]}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        assert_error(client.post("/api/v1/reservations", json=body), status, code)
    malformed = client.post(
        "/api/v1/reservations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(malformed, 422, "VALIDATION_ERROR")
    assert_error(
        client.post("/api/v1/movements/batch", json={"not": "a list"}), 422, "VALIDATION_ERROR"
    )
    assert_error(
        client.post(
            "/api/v1/movements", json={"sku": "TEE", "node": "ST-1", "kind": "sale", "quantity": 50}
        ),
        409,
        "STOCK_WOULD_GO_NEGATIVE",
    )
    assert_error(client.get("/api/v1/stock/NOPE/ST-1"), 404, "UNKNOWN_SKU")
    assert_error(client.get("/api/v1/atp/TEE/near?lat=91&lon=121"), 422, "VALIDATION_ERROR")
    assert_error(client.get("/api/v1/no-such-route"), 404, "NOT_FOUND")
    assert writes(engine) == before


def test_a_partially_bad_batch_reports_rows_and_keeps_the_good(client: TestClient) -> None:
    batch = [
        {"sku": "TEE", "node": "ST-1", "kind": "sale", "quantity": 1, "idempotency_key": "a"},
        {"sku": "NOPE", "node": "ST-1", "kind": "sale", "quantity": 1, "idempotency_key": "b"},
        {"sku": "TEE", "node": "ST-1", "kind": "sale", "quantity": "two", "idempotency_key": "c"},
    ]
    result = client.post("/api/v1/movements/batch", json=batch).json()
    assert (result["accepted"], result["rejected"]) == (1, 2)
    assert [(e["index"], e["code"]) for e in result["errors"]] == [
        (1, "UNKNOWN_SKU"),
        (2, "INVALID_ROW"),
    ]
    replay = client.post("/api/v1/movements/batch", json=[{**batch[0], "quantity": 2}]).json()
    assert replay["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert client.get("/api/v1/stock/TEE/ST-1").json()["on_hand"] == 9


def test_atp_near_a_point_is_sorted_by_distance(client: TestClient) -> None:
    policy = {"safety_stock": 0, "reorder_point": 2}
    assert client.put("/api/v1/stock/TEE/ST-2/policy", json=policy).json()["atp"] == 0
    near = client.get(
        "/api/v1/atp/TEE/near", params={"lat": 31.25, "lon": 121.48, "radius_km": 50}
    ).json()
    assert [n["node"] for n in near["nodes"]] == ["ST-1", "ST-2"]
    assert near["nodes"][0]["distance_km"] < near["nodes"][1]["distance_km"]
    assert near["total_atp"] == 10
    in_stock = client.get(
        "/api/v1/atp/TEE/near",
        params={"lat": 31.25, "lon": 121.48, "radius_km": 50, "in_stock_only": True},
    ).json()
    assert [n["node"] for n in in_stock["nodes"]] == ["ST-1"]
    far = client.get(
        "/api/v1/atp/TEE/near", params={"lat": 31.25, "lon": 121.48, "radius_km": 600}
    ).json()
    assert [n["node"] for n in far["nodes"]][-1] == "WH-SD"


def test_atp_across_the_pool_by_region_and_per_channel(client: TestClient) -> None:
    pool = client.get("/api/v1/atp/TEE").json()
    assert pool["total_atp"] == 510
    assert pool["nodes"][0]["node"] == "WH-SD"
    regions = client.get("/api/v1/atp/TEE/regions").json()
    assert {r["region"]: r["atp"] for r in regions} == {"山东省": 500, "上海市": 10}
    assert (
        client.put(
            "/api/v1/channel-buffers",
            json={"channel": "douyin", "node_type": "warehouse", "mode": "units", "value": 100},
        ).status_code
        == 200
    )
    seen = client.get("/api/v1/atp/TEE", params={"channel": "douyin"}).json()
    assert seen["total_atp"] == 410
    assert_error(
        client.put(
            "/api/v1/channel-buffers",
            json={"channel": "douyin", "node_type": "warehouse", "mode": "percent", "value": 120},
        ),
        422,
        "INVALID_BUFFER",
    )


def test_nodes_can_be_registered_and_listed(client: TestClient) -> None:
    node = {
        "code": "DC-EAST",
        "name": "East DC",
        "type": "dc",
        "province": "浙江省",
        "city": "杭州市",
        "latitude": 30.27,
        "longitude": 120.15,
        "can_ship": True,
        "daily_capacity": 20000,
    }
    assert client.put("/api/v1/nodes/DC-EAST", json=node).status_code == 200
    assert client.get("/api/v1/nodes/DC-EAST").json()["daily_capacity"] == 20000
    assert [n["code"] for n in client.get("/api/v1/nodes", params={"type": "dc"}).json()] == [
        "DC-EAST"
    ]
    assert_error(client.put("/api/v1/nodes/OTHER", json=node), 422, "INVALID_NODE")
    assert_error(
        client.put("/api/v1/nodes/DC-EAST", json={**node, "latitude": 200}), 422, "VALIDATION_ERROR"
    )
