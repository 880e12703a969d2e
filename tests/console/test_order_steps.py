"""The order page's fulfilment steps as buttons: taken by staff who may write orders on a
fulfilment their scope covers, refused in plain words otherwise, nothing kept when refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import LUJIAZUI, line, order
from yipan.auth.domain import Role
from yipan.kernel.db import unit_of_work
from yipan.orders.service import queries

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("boss3", Role.STORE_MANAGER, "ST-SH-3"),
    ("ads", Role.MARKETER, None),
]


@pytest.fixture
def staff(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        yield signed_in


def _place(staff: Staff, body: dict[str, object]) -> tuple[int, int, str]:
    """(order id, its one fulfilment's id, the node doing it)."""
    placed = staff.api("/orders", body, status=201)["order"]
    (f,) = placed["fulfilments"]
    return placed["id"], f["id"], f["node"]


def _state(engine: Engine, fulfilment_id: int) -> str:
    with unit_of_work(engine, readonly=True) as session:
        return queries.get_fulfilment(session, fulfilment_id).state


def _step(
    staff: Staff, who: str, order_id: int, fid: int, action: str, **form: str
) -> tuple[TestClient, object]:
    client = staff.as_(who)
    data = {"csrf_token": staff.csrf(who), **form}
    response = client.post(
        f"/console/orders/{order_id}/fulfilments/{fid}/{action}", data=data, follow_redirects=False
    )
    return client, response


def _notice(html: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', html, re.S)
    assert found, "the page has no notice"
    return found.group(1)


def test_hq_takes_a_shipment_from_allocated_to_delivered_with_the_buttons(staff: Staff) -> None:
    order_id, fid, _node = _place(staff, order("TM-1", [line()], address=LUJIAZUI))
    page = staff.as_("hq").get(f"/console/orders/{order_id}")
    assert f'action="/console/orders/{order_id}/fulfilments/{fid}/start_picking"' in page.text

    for action, state in (
        ("start_picking", "picking"),
        ("pack", "packed"),
        ("ship", "shipped"),
        ("deliver", "delivered"),
    ):
        client, response = _step(staff, "hq", order_id, fid, action)
        assert response.status_code == 303, response.text  # type: ignore[attr-defined]
        location = response.headers["location"]  # type: ignore[attr-defined]
        assert location == f"/console/orders/{order_id}?done={action}"
        assert _state(staff.engine, fid) == state
        shown = client.get(location)
        assert _notice(shown.text).startswith("Done:")

    with unit_of_work(staff.engine, readonly=True) as session:
        events = queries.order_events(session, order_id)
    steps = [e for e in events if e.fulfilment_id == fid and e.to_state]
    assert [e.to_state for e in steps][-4:] == ["picking", "packed", "shipped", "delivered"]
    assert {e.actor for e in steps[-4:]} == {"hq"}
    assert {e.terminal for e in steps[-4:]} == {"console"}
    # Delivered is the end: no step is offered any more.
    final = staff.as_("hq").get(f"/console/orders/{order_id}").text
    assert f"/fulfilments/{fid}/" not in final


def test_a_pickup_is_handed_over_against_its_code_and_a_wrong_code_counts(staff: Staff) -> None:
    body = order(
        "MP-1",
        [line(method="pickup", pickup_node="ST-SH-1")],
        channel="miniapp",
        customer={"member_id": "M-7"},
    )
    order_id, fid, node = _place(staff, body)
    assert node == "ST-SH-1"
    _, ready = _step(staff, "boss1", order_id, fid, "mark_ready")
    assert ready.status_code == 303  # type: ignore[attr-defined]
    code = staff.api(f"/fulfilments/{fid}/mark_ready", {})["pickup_code"]  # a replay: the code

    _, missing = _step(staff, "boss1", order_id, fid, "hand_over", code=" ")
    assert missing.status_code == 422  # type: ignore[attr-defined]
    wrong = "0" if code != "0" else "1"
    _, refused = _step(staff, "boss1", order_id, fid, "hand_over", code=wrong)
    assert refused.status_code >= 400  # type: ignore[attr-defined]
    assert "left" in _notice(refused.text)  # type: ignore[attr-defined]
    assert _state(staff.engine, fid) == "ready_for_pickup"
    with unit_of_work(staff.engine, readonly=True) as session:
        events = queries.order_events(session, order_id)
    assert any(e.fulfilment_id == fid and "code" in e.type for e in events)

    _, given = _step(staff, "boss1", order_id, fid, "hand_over", code=code)
    assert given.status_code == 303  # type: ignore[attr-defined]
    assert _state(staff.engine, fid) == "picked_up"


def test_an_illegal_or_unknown_step_is_refused_in_plain_words_and_nothing_changes(
    staff: Staff,
) -> None:
    order_id, fid, _ = _place(staff, order("TM-2", [line()], address=LUJIAZUI))
    _, illegal = _step(staff, "hq", order_id, fid, "deliver")
    assert illegal.status_code == 409  # type: ignore[attr-defined]
    assert _notice(illegal.text).startswith("Refused:")  # type: ignore[attr-defined]
    _, unknown = _step(staff, "hq", order_id, fid, "teleport")
    assert unknown.status_code == 404  # type: ignore[attr-defined]
    assert "teleport" in _notice(unknown.text)  # type: ignore[attr-defined]
    other_id, other_fid, _ = _place(staff, order("TM-3", [line()], address=LUJIAZUI))
    _, mismatched = _step(staff, "hq", order_id, other_fid, "start_picking")
    assert mismatched.status_code == 404  # type: ignore[attr-defined]
    for bad in ("abc", "0", "99999999999999999999"):
        nonsense = staff.as_("hq").post(
            f"/console/orders/{order_id}/fulfilments/{bad}/start_picking",
            data={"csrf_token": staff.csrf("hq")},
            follow_redirects=False,
        )
        assert nonsense.status_code == 404
    assert _state(staff.engine, fid) == "allocated"
    assert _state(staff.engine, other_fid) == "allocated"
    assert other_id != order_id


def test_only_staff_who_may_write_orders_in_their_scope_act(staff: Staff) -> None:
    order_id, fid, node = _place(
        staff,
        order("MP-2", [line(method="pickup", pickup_node="ST-SH-1")], channel="miniapp"),
    )
    assert node == "ST-SH-1"
    # A marketer reads orders but takes no steps: no buttons, and a forged post is a 403.
    page = staff.as_("ads").get(f"/console/orders/{order_id}")
    assert page.status_code == 200
    assert "/fulfilments/" not in page.text
    _, marketer = _step(staff, "ads", order_id, fid, "mark_ready")
    assert marketer.status_code == 403  # type: ignore[attr-defined]
    # Another store's manager does not see the order at all.
    _, other_store = _step(staff, "boss3", order_id, fid, "mark_ready")
    assert other_store.status_code == 404  # type: ignore[attr-defined]
    # A form without the session's token changes nothing.
    client = staff.as_("boss1")
    forged = client.post(
        f"/console/orders/{order_id}/fulfilments/{fid}/mark_ready",
        data={"csrf_token": "not-the-token"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _state(staff.engine, fid) == "allocated"
