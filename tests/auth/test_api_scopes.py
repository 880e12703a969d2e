"""The API answers only known callers, within their role and their data scope, and every write
lands in the audit log.

The world: two Shanghai stores (ST-SH-1, ST-SH-2), a Kunshan warehouse in 上海市 too and a Beijing
warehouse in 北京市. A member buys at ST-SH-2 only; the store manager of ST-SH-1 must not see that
member, their order, or take a till sale for the other store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import api_key, bearer
from tests.orders import world
from tests.orders.world import JEANS, LUJIAZUI, TEE, line, order
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.auth.service import audit
from yipan.kernel.db import unit_of_work

PHONE = "13900001111"


@dataclass
class Callers:
    client: TestClient
    hq: dict[str, str]
    sh1_manager: dict[str, str]
    sh2_manager: dict[str, str]
    sh1_guide: dict[str, str]
    shanghai: dict[str, str]
    beijing: dict[str, str]
    member_id: str
    order_id: int

    def get(self, who: dict[str, str], path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=who, params=params)

    def post(self, who: dict[str, str], path: str, body: Any = None) -> Any:
        return self.client.post(f"/api/v1{path}", headers=who, json=body)


@pytest.fixture
def callers(engine: Engine) -> Iterator[Callers]:
    world.build(engine)

    def key(role: Role, kind: str | None = None, value: str | None = None) -> dict[str, str]:
        return bearer(api_key(engine, role, scope_kind=kind, scope_value=value))  # type: ignore[arg-type]

    with TestClient(create_app(engine, background=False)) as client:
        hq = key(Role.HQ_ADMIN)
        ingested = client.post(
            "/api/v1/members/records",
            headers=hq,
            json={
                "records": [
                    {
                        "source": "pos",
                        "record_id": "card-1",
                        "name": "周敏",
                        "identities": [{"kind": "phone", "value": PHONE}],
                    }
                ]
            },
        )
        assert ingested.status_code == 200, ingested.text
        member_id = ingested.json()["results"][0]["member_id"]
        # Bought at ST-SH-2's counter: a pickup there, by this member.
        placed = client.post(
            "/api/v1/orders",
            headers=hq,
            json=order(
                "SCOPE-1",
                [line(TEE, method="pickup", pickup_node="ST-SH-2")],
                channel="miniapp",
                store="ST-SH-2",
                customer={"member_id": member_id},
            ),
        )
        assert placed.status_code == 201, placed.text
        yield Callers(
            client=client,
            hq=hq,
            sh1_manager=key(Role.STORE_MANAGER, "store", "ST-SH-1"),
            sh2_manager=key(Role.STORE_MANAGER, "store", "ST-SH-2"),
            sh1_guide=key(Role.STORE_GUIDE, "store", "ST-SH-1"),
            shanghai=key(Role.REGION_MANAGER, "region", "上海市"),
            beijing=key(Role.REGION_MANAGER, "region", "北京市"),
            member_id=member_id,
            order_id=placed.json()["order"]["id"],
        )


def test_without_credentials_every_route_but_login_answers_401(engine: Engine) -> None:
    world.build(engine)
    with TestClient(create_app(engine, background=False)) as client:
        for method, path in [
            ("GET", "/api/v1/orders"),
            ("GET", "/api/v1/skus"),
            ("GET", "/api/v1/nodes"),
            ("GET", "/api/v1/members?phone=13900001111"),
            ("POST", "/api/v1/orders"),
            ("GET", "/api/v1/events"),
            ("GET", "/api/v1/promotions"),
        ]:
            response = client.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "NOT_AUTHENTICATED"
        bad = client.get("/api/v1/orders", headers=bearer("yk_not-a-key"))
        assert (bad.status_code, bad.json()["code"]) == (401, "INVALID_API_KEY")


def test_a_store_manager_cannot_read_another_stores_order(callers: Callers) -> None:
    c = callers
    own = c.get(c.sh2_manager, f"/orders/{c.order_id}")
    assert own.status_code == 200
    assert own.json()["store"] == "ST-SH-2"

    for path in (f"/orders/{c.order_id}", f"/orders/{c.order_id}/events"):
        other = c.get(c.sh1_manager, path)
        # Exactly what an order that does not exist answers: nothing to learn from it.
        assert other.status_code == 404
        assert other.json()["code"] == "UNKNOWN_ORDER"
    assert [o["id"] for o in c.get(c.sh1_manager, "/orders").json()] == []
    assert [o["id"] for o in c.get(c.sh2_manager, "/orders").json()] == [c.order_id]
    # The region sees its stores' orders; another region does not.
    assert c.get(c.shanghai, f"/orders/{c.order_id}").status_code == 200
    assert c.get(c.beijing, f"/orders/{c.order_id}").status_code == 404
    assert [o["id"] for o in c.get(c.hq, "/orders").json()] == [c.order_id]


def test_a_store_manager_cannot_cancel_or_fulfil_another_stores_order(callers: Callers) -> None:
    c = callers
    [fulfilment] = c.get(c.hq, f"/orders/{c.order_id}").json()["fulfilments"]
    cancel = c.post(c.sh1_manager, f"/orders/{c.order_id}/cancel", {"reason": "not ours"})
    assert cancel.status_code == 404
    ready = c.post(c.sh1_manager, f"/fulfilments/{fulfilment['id']}/mark_ready", {})
    assert ready.status_code == 404
    assert c.get(c.hq, f"/orders/{c.order_id}").json()["state"] == "open"
    # The store's own manager may.
    assert (
        c.post(c.sh2_manager, f"/fulfilments/{fulfilment['id']}/mark_ready", {}).status_code == 200
    )
    # A store's queue is its own, whatever node is asked for.
    queue = c.get(c.sh1_manager, "/fulfilments", node="ST-SH-2").json()
    assert queue == []


def test_a_store_manager_cannot_read_another_stores_member(callers: Callers) -> None:
    c = callers
    for path in (f"/members/{c.member_id}", f"/members/{c.member_id}/360"):
        refused = c.get(c.sh1_manager, path)
        assert refused.status_code == 404, path
        assert refused.json()["code"] == "UNKNOWN_MEMBER"
    points = c.get(c.sh1_manager, f"/members/{c.member_id}/points")
    assert points.status_code == 404
    assert c.get(c.sh1_manager, "/members", phone=PHONE).json() == []

    # The store where the member bought sees them, through the order.
    assert c.get(c.sh2_manager, f"/members/{c.member_id}/360").status_code == 200
    found = c.get(c.sh2_manager, "/members", phone=PHONE).json()
    assert [m["id"] for m in found] == [c.member_id]


def test_roles_are_checked_before_anything_is_done(callers: Callers) -> None:
    c = callers
    export = c.get(c.sh2_manager, f"/members/{c.member_id}/export")
    assert (export.status_code, export.json()["code"]) == (403, "FORBIDDEN")
    erase = c.post(c.sh2_manager, f"/members/{c.member_id}/erase")
    assert erase.status_code == 403
    assert c.get(c.hq, f"/members/{c.member_id}").json()["name"] != ""
    promo = c.post(c.sh1_guide, "/promotions", {"code": "X"})
    assert promo.status_code == 403
    transfer = {
        "source": "WH-KS",
        "destination": "ST-SH-1",
        "lines": [{"sku": JEANS, "quantity": 1}],
    }
    assert c.post(c.sh1_guide, "/transfers", transfer).status_code == 403
    assert c.get(c.sh1_manager, "/events").status_code == 403


def test_a_stores_till_key_records_sales_at_its_own_store_only(callers: Callers) -> None:
    c = callers
    receipt = {
        "channel": "pos",
        "receipt_id": "R-SCOPE-1",
        "store": "ST-SH-2",
        "lines": [{"sku": TEE, "quantity": 1, "unit_price_fen": 9900}],
        "total_fen": 9900,
        "sold_at": "2026-11-20T10:15:00+08:00",
    }
    other = c.post(c.sh1_manager, "/pos/receipts", receipt)
    assert (other.status_code, other.json()["code"]) == (403, "OUT_OF_SCOPE")
    assert c.get(c.hq, "/orders", channel="pos").json() == []
    own = c.post(c.sh1_manager, "/pos/receipts", {**receipt, "store": "ST-SH-1"})
    assert own.status_code == 201, own.text
    # Stock moves at one's own store only.
    movement = {
        "sku": TEE,
        "node": "ST-SH-2",
        "kind": "adjustment",
        "quantity": -1,
        "reference": "count-1",
        "idempotency_key": "count-1",
    }
    moved = c.post(c.sh1_manager, "/movements", movement)
    assert (moved.status_code, moved.json()["code"]) == (403, "OUT_OF_SCOPE")


def test_a_transfer_is_shipped_by_its_source_and_received_by_its_destination(
    callers: Callers,
) -> None:
    c = callers
    body = {
        "code": "TR-SCOPE",
        "source": "ST-SH-1",
        "destination": "ST-SH-2",
        "lines": [{"sku": JEANS, "quantity": 1}],
    }
    assert c.post(c.beijing, "/transfers", body).status_code == 403
    assert c.post(c.sh2_manager, "/transfers", body).status_code == 201
    assert c.post(c.sh2_manager, "/transfers/TR-SCOPE/ship").status_code == 403
    assert c.post(c.sh1_manager, "/transfers/TR-SCOPE/ship").status_code == 200
    assert c.post(c.sh1_manager, "/transfers/TR-SCOPE/receive").status_code == 403
    assert c.post(c.sh2_manager, "/transfers/TR-SCOPE/receive").status_code == 200


def test_every_write_is_in_the_audit_log_with_who_what_and_the_answer(
    callers: Callers, engine: Engine
) -> None:
    c = callers
    refused = c.post(c.sh1_manager, f"/orders/{c.order_id}/cancel", {"reason": "x"})
    assert refused.status_code == 404
    placed = c.post(
        c.sh1_manager,
        "/orders",
        order("AUDIT-1", [line(TEE)], channel="tmall", store="ST-SH-1", address=LUJIAZUI),
    )
    assert placed.status_code == 201, placed.text
    c.get(c.sh1_manager, "/orders")  # reads are not writes: not audited

    with unit_of_work(engine, readonly=True) as session:
        entries = audit.list_audit(session, limit=500)
    by_store = [e for e in entries if e.actor_name and e.actor_role == "store_manager"]
    assert [(e.action, e.target, e.details["status"]) for e in reversed(by_store)] == [
        (
            "POST /api/v1/orders/{order_id}/cancel",
            f"/api/v1/orders/{c.order_id}/cancel",
            404,
        ),
        ("POST /api/v1/orders", "/api/v1/orders", 201),
    ]
    assert all(e.actor_kind == "api_key" and e.source_ip for e in by_store)
    # HQ reads the log over the API; store staff may not.
    assert c.get(c.hq, "/auth/audit", action="POST /api/v1/orders").status_code == 200
    assert c.get(c.sh1_manager, "/auth/audit").status_code == 403


def test_a_revoked_key_is_refused_at_once_despite_the_memory_of_checked_keys(
    callers: Callers, engine: Engine
) -> None:
    c = callers
    raw = api_key(engine, Role.INTEGRATOR)
    assert c.get(bearer(raw), "/skus").status_code == 200  # now remembered as checked
    [key] = [k for k in c.get(c.hq, "/auth/api-keys").json() if raw.startswith(k["prefix"])]
    assert c.post(c.hq, f"/auth/api-keys/{key['id']}/revoke").status_code == 200
    refused = c.get(bearer(raw), "/skus")
    assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_API_KEY")


def test_phones_are_whole_only_for_roles_that_may_see_personal_data(callers: Callers) -> None:
    c = callers

    def phones(who: dict[str, str]) -> list[str]:
        view = c.get(who, f"/members/{c.member_id}/360").json()
        return [i["value"] for i in view["identities"] if i["kind"] == "phone"]

    assert phones(c.hq) == [PHONE]
    assert phones(c.sh2_manager) == [PHONE]  # to call a customer of the store
    guide = bearer(
        api_key(
            c.client.app.state.engine, Role.STORE_GUIDE, scope_kind="store", scope_value="ST-SH-2"
        )
    )  # type: ignore[attr-defined]
    assert phones(guide) == ["139****1111"]
