"""The store desk over HTTP, on SQLite and PostgreSQL: the pickups due at a store (mark ready,
hand over against the customer's code) and returns taken at the store, with their scope and CSRF
checks. Orders are placed and moved through the orders API, as the channels and the WMS do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import BEIJING, JEANS, TEE, line, order, stock
from yipan.auth.domain import Role
from yipan.auth.service import audit, sessions
from yipan.console.i18n import LANG_COOKIE
from yipan.kernel.db import unit_of_work
from yipan.orders.service import queries

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("boss2", Role.STORE_MANAGER, "ST-SH-2"),
]


STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("boss2", Role.STORE_MANAGER, "ST-SH-2"),
]


@dataclass
class Desk:
    """The console on a fresh database, and a way to be signed in as one of its users."""

    engine: Engine
    client: TestClient
    tokens: dict[str, str]

    def as_(self, username: str) -> TestClient:
        self.client.cookies.clear()
        self.client.cookies.set(
            sessions.SESSION_COOKIE, self.tokens[username], domain="testserver.local"
        )
        self.client.cookies.set(LANG_COOKIE, "en", domain="testserver.local")
        return self.client

    def csrf(self, username: str) -> str:
        return sessions.csrf_token_for(self.tokens[username])

    def api(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = self.client.post(f"/api/v1{path}", json=body)
        assert response.status_code == status, response.text
        return dict(response.json())


@pytest.fixture
def desk(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        yield signed_in


def pickup(desk: Staff, external_id: str, store: str = "ST-SH-1") -> tuple[int, int]:
    """A mini-program order picked up at `store`: (order id, fulfilment id)."""
    body = order(
        external_id,
        [line(method="pickup", pickup_node=store)],
        channel="miniapp",
        customer={"member_id": "M-7"},
    )
    placed = desk.api("/orders", body, status=201)["order"]
    (f,) = placed["fulfilments"]
    return placed["id"], f["id"]


def ready(desk: Staff, fulfilment_id: int) -> str:
    """Mark a pickup ready through the API; the customer's code (a replay hands it out again)."""
    code = desk.api(f"/fulfilments/{fulfilment_id}/mark_ready", {})["pickup_code"]
    assert isinstance(code, str)
    return code


def state_of(engine: Engine, fulfilment_id: int) -> str:
    with unit_of_work(engine, readonly=True) as session:
        return queries.get_fulfilment(session, fulfilment_id).state


def delivered_online_order(desk: Staff) -> dict[str, Any]:
    body = order(
        "TM-9",
        [line(qty=3, line_discount_fen=300), line(JEANS, price=39900)],
        address=BEIJING,
        order_discount_fen=1000,
    )
    placed = desk.api("/orders", body, status=201)["order"]
    (parcel,) = placed["fulfilments"]
    for action in ("start_picking", "pack", "ship", "deliver"):
        desk.api(f"/fulfilments/{parcel['id']}/{action}", {"actor": "wms"})
    return placed


def return_form(html: str) -> dict[str, str]:
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key is not None, html
    return {"idempotency_key": key.group(1)}


def test_the_desk_lists_the_stores_pickups_due(desk: Staff) -> None:
    order_id, allocated = pickup(desk, "MP-1")
    _, waiting = pickup(desk, "MP-2")
    ready(desk, waiting)
    _, elsewhere = pickup(desk, "MP-3", store="ST-SH-2")
    page = desk.as_("guide1").get("/console/desk")
    assert page.status_code == 200
    assert f'data-testid="pickup-{allocated}"' in page.text
    assert f'data-testid="ready-{allocated}"' in page.text
    assert f'data-testid="hand-over-{waiting}"' in page.text
    assert f'data-testid="ready-{waiting}"' not in page.text
    assert f'data-testid="pickup-{elsewhere}"' not in page.text
    assert f"/console/orders/{order_id}" in page.text
    assert "M-7" in page.text
    assert TEE in page.text


def test_hq_chooses_a_store_and_others_see_no_desk_but_their_own(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    hq = desk.as_("hq")
    assert 'data-testid="desk-choose-store"' in hq.get("/console/desk").text
    assert f'data-testid="pickup-{f}"' in hq.get("/console/desk?store=ST-SH-1").text
    assert desk.as_("boss2").get("/console/desk?store=ST-SH-1").status_code == 404
    assert f'data-testid="pickup-{f}"' not in desk.as_("boss2").get("/console/desk").text


def test_mark_ready_moves_the_pickup_on_and_says_so(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    form = {"store": "ST-SH-1", "csrf_token": desk.csrf("guide1")}
    done = desk.as_("guide1").post(f"/console/desk/pickups/{f}/ready", data=form)
    assert done.status_code == 200  # after the redirect
    assert "Marked ready" in done.text
    assert state_of(desk.engine, f) == "ready_for_pickup"
    assert f'data-testid="hand-over-{f}"' in done.text


def test_the_desks_writes_are_in_the_audit_log_under_the_signed_in_user(desk: Staff) -> None:
    _, f = pickup(desk, "MP-AUDIT")
    form = {"store": "ST-SH-1", "csrf_token": desk.csrf("guide1")}
    assert desk.as_("guide1").post(f"/console/desk/pickups/{f}/ready", data=form).status_code == 200
    with unit_of_work(desk.engine, readonly=True) as session:
        entries = audit.list_audit(session, actor="guide1")
    writes = [e for e in entries if e.action.startswith("POST ")]  # not the login
    assert [(e.action, e.target, e.details["status"], e.actor_role) for e in writes] == [
        (
            "POST /console/desk/pickups/{fulfilment_id}/ready",
            f"/console/desk/pickups/{f}/ready",
            303,  # the form's answer: back to the desk
            "store_guide",
        )
    ]


def test_a_wrong_code_is_refused_with_the_attempts_left(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    code = ready(desk, f)
    wrong = "000000" if code != "000000" else "111111"
    form = {"store": "ST-SH-1", "code": wrong, "csrf_token": desk.csrf("guide1")}
    refused = desk.as_("guide1").post(f"/console/desk/pickups/{f}/hand-over", data=form)
    assert refused.status_code == 409
    assert "4 attempts left" in refused.text
    assert "the pickup code does not match" in refused.text
    again = desk.client.post(f"/console/desk/pickups/{f}/hand-over", data=form)
    assert "3 attempts left" in again.text
    assert state_of(desk.engine, f) == "ready_for_pickup"
    assert stock(desk.engine, TEE, "ST-SH-1") == (5, 1)  # still held, not handed over


def test_the_right_code_hands_over_and_commits_the_stock(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    code = ready(desk, f)
    typed = f"{code[:3]} {code[3:]}"  # spaced, as people read it out
    form = {"store": "ST-SH-1", "code": typed, "csrf_token": desk.csrf("boss1")}
    done = desk.as_("boss1").post(f"/console/desk/pickups/{f}/hand-over", data=form)
    assert done.status_code == 200
    assert "the goods were handed over" in done.text
    assert f'data-testid="pickup-{f}"' not in done.text
    assert state_of(desk.engine, f) == "picked_up"
    assert stock(desk.engine, TEE, "ST-SH-1") == (4, 0)


def test_full_width_digits_are_accepted_as_the_code(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    code = ready(desk, f)
    full_width = code.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    form = {"store": "ST-SH-1", "code": full_width, "csrf_token": desk.csrf("guide1")}
    done = desk.as_("guide1").post(f"/console/desk/pickups/{f}/hand-over", data=form)
    assert done.status_code == 200
    assert state_of(desk.engine, f) == "picked_up"


def test_another_stores_manager_cannot_act_on_the_pickup(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    code = ready(desk, f)
    boss2 = desk.as_("boss2")
    as_theirs = {"store": "ST-SH-1", "code": code, "csrf_token": desk.csrf("boss2")}
    assert boss2.post(f"/console/desk/pickups/{f}/hand-over", data=as_theirs).status_code == 404
    as_own = {**as_theirs, "store": "ST-SH-2"}
    assert boss2.post(f"/console/desk/pickups/{f}/hand-over", data=as_own).status_code == 404
    assert state_of(desk.engine, f) == "ready_for_pickup"


def test_a_form_without_the_sessions_token_is_refused(desk: Staff) -> None:
    _, f = pickup(desk, "MP-1")
    guide = desk.as_("guide1")
    for token in ("", desk.csrf("boss1")):
        form = {"store": "ST-SH-1", "csrf_token": token}
        refused = guide.post(f"/console/desk/pickups/{f}/ready", data=form)
        assert refused.status_code == 403
        assert "The form has expired" in refused.text
    assert state_of(desk.engine, f) == "allocated"


def test_a_delivered_online_order_is_returned_at_the_store(desk: Staff) -> None:
    placed = delivered_online_order(desk)
    tee = placed["lines"][0]
    guide = desk.as_("guide1")
    shown = guide.get("/console/desk", params={"order": str(placed["id"])})
    assert shown.status_code == 200
    assert 'data-testid="returnable-1"' in shown.text
    assert 'data-testid="returnable-2"' in shown.text
    form = {
        "store": "ST-SH-1",
        "order_id": str(placed["id"]),
        "line_no": "1",
        "quantity": "3",
        "condition": "resellable",
        "reason": "wrong size",
        "csrf_token": desk.csrf("guide1"),
        **return_form(shown.text),
    }
    done = guide.post("/console/desk/returns", data=form)
    assert done.status_code == 200
    paid = tee["paid_fen"]
    assert f"refund ¥{paid // 100:,}.{paid % 100:02d}" in done.text
    assert stock(desk.engine, TEE, "ST-SH-1") == (8, 0)  # 5 on the shelf and the 3 back
    with unit_of_work(desk.engine, readonly=True) as session:
        after = queries.get_order(session, placed["id"])
    assert (after.lines[0].returned_quantity, after.lines[0].refunded_fen) == (3, paid)
    # The same form sent again takes nothing back twice.
    assert guide.post("/console/desk/returns", data=form).status_code == 200
    assert stock(desk.engine, TEE, "ST-SH-1") == (8, 0)


def test_returning_more_than_reached_the_customer_is_refused(desk: Staff) -> None:
    placed = delivered_online_order(desk)
    guide = desk.as_("guide1")
    shown = guide.get("/console/desk", params={"order": str(placed["id"])})
    form = {
        "store": "ST-SH-1",
        "order_id": str(placed["id"]),
        "line_no": "1",
        "quantity": "4",
        "condition": "resellable",
        "reason": "wrong size",
        "csrf_token": desk.csrf("guide1"),
        **return_form(shown.text),
    }
    refused = guide.post("/console/desk/returns", data=form)
    assert refused.status_code == 409
    assert "3 reached the customer and 0 came back already, so 4 cannot be returned" in (
        refused.text
    )
    no_reason = guide.post("/console/desk/returns", data={**form, "quantity": "1", "reason": ""})
    assert no_reason.status_code == 422
    assert "Give the reason" in no_reason.text
    unknown = guide.get("/console/desk", params={"order": "999999"})
    assert unknown.status_code == 404
    assert "There is no order 999999" in unknown.text
    assert stock(desk.engine, TEE, "ST-SH-1") == (5, 0)
    with unit_of_work(desk.engine, readonly=True) as session:
        assert queries.get_order(session, placed["id"]).lines[0].returned_quantity == 0


def test_a_return_without_the_sessions_token_is_refused(desk: Staff) -> None:
    placed = delivered_online_order(desk)
    form = {
        "store": "ST-SH-1",
        "order_id": str(placed["id"]),
        "line_no": "1",
        "quantity": "1",
        "reason": "wrong size",
        "idempotency_key": "k-1",
    }
    refused = desk.as_("guide1").post("/console/desk/returns", data=form)
    assert refused.status_code == 403
    assert stock(desk.engine, TEE, "ST-SH-1") == (5, 0)
