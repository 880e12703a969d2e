"""Transfer plans over HTTP: the plan as a caller may see it, rules from the query string, and
applying moves within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.access import api_key, bearer, sign_in
from tests.insights import rebalance_world as world
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.inventory.models import Transfer
from yipan.kernel.db import unit_of_work

URL = "/api/v1/insights/transfer-plans"


@pytest.fixture
def chain(engine: Engine) -> Engine:
    # The API plans at the real now: count the sales back from it.
    world.build(engine, now=datetime.now(UTC))
    return engine


@pytest.fixture
def client(chain: Engine) -> TestClient:
    return sign_in(TestClient(create_app(chain, background=False)))


def _as(client: TestClient, role: Role, kind: str, value: str) -> dict[str, str]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return bearer(api_key(engine, role, scope_kind=kind, scope_value=value))  # type: ignore[arg-type]


def _transfers(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)


def test_hq_gets_the_whole_plan_with_each_move_explained(client: TestClient) -> None:
    body = client.get(URL).json()
    moves = {(m["sku"], m["source"], m["destination"], m["quantity"]) for m in body["moves"]}
    assert moves == {
        ("TEE", "WH-LY", "ST-NJ-1", 14),
        ("TEE", "WH-LY", "ST-NJ-2", 6),
        ("CAP", "WH-LY", "ST-NJ-2", 4),
    }
    first = next(m for m in body["moves"] if m["destination"] == "ST-NJ-1")
    assert first["choice"] == "only_in_reach"
    assert first["transfer_code"].startswith("RB-")
    assert f"{first['distance_km']:g} km" in first["explanation"]
    assert (body["move_count"], body["units_moved"], body["demand"]) == (3, 24, "ledger_28d")
    assert body["rules"]["surplus_days"] == 60


def test_rules_come_from_the_query_string_and_bad_ones_are_refused(client: TestClient) -> None:
    body = client.get(URL, params={"max_distance_km": 200}).json()
    assert body["moves"] == []
    assert {s["reason"] for s in body["shortfalls"]} == {"none_in_reach"}
    packed = client.get(URL, params={"pack_size": 5, "sku": "TEE"}).json()
    assert sorted(m["quantity"] for m in packed["moves"]) == [5, 10]
    refused = client.get(URL, params={"surplus_days": 7, "deficit_days": 14})
    assert refused.status_code == 422
    assert refused.json()["code"] == "INVALID_PLAN_RULES"
    assert client.get(URL, params={"sku": "NOPE"}).status_code == 404


def test_a_store_manager_sees_only_moves_touching_their_store(client: TestClient) -> None:
    headers = _as(client, Role.STORE_MANAGER, "store", "ST-NJ-1")
    body = client.get(URL, headers=headers).json()
    assert [(m["source"], m["destination"]) for m in body["moves"]] == [("WH-LY", "ST-NJ-1")]
    assert body["shortfalls"] == []


def test_a_region_sees_the_moves_into_its_province_from_across_the_border(
    client: TestClient,
) -> None:
    shanghai = client.get(URL, headers=_as(client, Role.REGION_MANAGER, "region", "上海市"))
    assert shanghai.json()["moves"] == []
    jiangsu = client.get(URL, headers=_as(client, Role.REGION_MANAGER, "region", "江苏省"))
    assert len(jiangsu.json()["moves"]) == 3


def test_applying_moves_twice_creates_each_transfer_once(client: TestClient, chain: Engine) -> None:
    moves = client.get(URL).json()["moves"]
    chosen = [
        {k: m[k] for k in ("basis", "sku", "source", "destination", "quantity")} for m in moves
    ]
    first = client.post(f"{URL}/apply", json={"moves": chosen})
    assert first.status_code == 201, first.text
    again = client.post(f"{URL}/apply", json={"moves": chosen})
    codes = [t["code"] for t in first.json()["transfers"]]
    assert codes == [t["code"] for t in again.json()["transfers"]]
    assert sorted(codes) == sorted(m["transfer_code"] for m in moves)
    assert _transfers(chain) == 3
    # What is on its way is no longer a deficit: the plan has nothing left to propose.
    assert client.get(URL).json()["moves"] == []


def test_a_store_cannot_apply_a_move_between_two_other_nodes(
    client: TestClient, chain: Engine
) -> None:
    moves = client.get(URL).json()["moves"]
    to_nj2 = next(m for m in moves if m["destination"] == "ST-NJ-2")
    move = {k: to_nj2[k] for k in ("basis", "sku", "source", "destination", "quantity")}
    other_store = _as(client, Role.STORE_MANAGER, "store", "ST-NJ-1")
    refused = client.post(f"{URL}/apply", json={"moves": [move]}, headers=other_store)
    assert refused.status_code == 403
    assert _transfers(chain) == 0
    own_store = _as(client, Role.STORE_MANAGER, "store", "ST-NJ-2")
    assert client.post(f"{URL}/apply", json={"moves": [move]}, headers=own_store).status_code == 201


def test_a_guide_may_read_the_plan_but_not_apply_it(client: TestClient) -> None:
    guide = _as(client, Role.STORE_GUIDE, "store", "ST-NJ-1")
    assert client.get(URL, headers=guide).status_code == 200
    move = {"basis": "ab", "sku": "TEE", "source": "WH-LY", "destination": "ST-NJ-1", "quantity": 2}
    assert client.post(f"{URL}/apply", json={"moves": [move]}, headers=guide).status_code == 403


def test_a_move_naming_a_node_by_whitespace_alone_is_refused_and_writes_nothing(
    client: TestClient, chain: Engine
) -> None:
    move = next(iter(client.get(URL).json()["moves"]))
    for blank in (" ", "\u0085", "\t"):
        sent = {k: move[k] for k in ("basis", "sku", "destination", "quantity")} | {"source": blank}
        refused = client.post(f"{URL}/apply", json={"moves": [sent]})
        assert refused.status_code == 422, refused.text
    assert _transfers(chain) == 0


def test_a_plan_needs_a_caller(chain: Engine) -> None:
    anonymous = TestClient(create_app(chain, background=False))
    assert anonymous.get(URL).status_code == 401
