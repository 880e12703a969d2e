"""Issue 4's checkout story over HTTP, on both backends: an order from Yipan's own mini-program is
priced by the price policy, a 满减 promotion and a coupon; it earns points; it comes back in a
store, and the refund, the points and the coupon follow what each line really paid."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from tests.members.test_points_stories import deliver, new_member, points_of
from tests.orders import world
from tests.orders.world import BEIJING, JEANS, TEE, line, stock
from tests.promotions.stored import MANJIAN, TEN_OFF
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.members.models import Member
from yipan.members.service.store import parse_id

LIST_TOTAL = 2 * 9900 + 39900
DISCOUNTS = 5000 + 1000  # 满 300 减 50, and the 10-yuan coupon on top


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def with_a_coupon(client: TestClient, member: str) -> str:
    ok(client.post("/api/v1/promotions", json=MANJIAN), 201)
    ok(client.post("/api/v1/coupon-templates", json=TEN_OFF), 201)
    issued = ok(
        client.post(
            "/api/v1/coupon-templates/ten-off/issue",
            json={"issue_key": "welcome", "member_ids": [member]},
        ),
        201,
    )
    code: str = issued["coupons"][0]["code"]
    return code


def miniapp_order(external_id: str, member: str, coupon: str, total_fen: int) -> dict[str, Any]:
    return {
        "channel": "miniapp",
        "external_id": external_id,
        "lines": [line(TEE, qty=2), line(JEANS, price=39900)],
        "customer": {"member_id": member},
        "address": BEIJING,
        "coupon_codes": [coupon],
        "total_fen": total_fen,
    }


def jeans_order(
    external_id: str, member: str, *, points: int = 0, shipping_fen: int = 0
) -> dict[str, Any]:
    """A mini-program order for the jeans (¥399), `points` fen of it paid with points."""
    return {
        "channel": "miniapp",
        "external_id": external_id,
        "lines": [line(JEANS, price=39900)],
        "customer": {"member_id": member},
        "address": BEIJING,
        "points_used": points,
        "shipping_fen": shipping_fen,
        "total_fen": 39900 - points + shipping_fen,
    }


def deliver_all(client: TestClient, order: dict[str, Any]) -> None:
    for parcel in order["fulfilments"]:
        for action in ("start_picking", "pack", "ship", "deliver"):
            ok(client.post(f"/api/v1/fulfilments/{parcel['id']}/{action}", json={"actor": "wms"}))


def take_back(
    client: TestClient, order_id: int, key: str, line_no: int, qty: int
) -> dict[str, Any]:
    body = {
        "order_id": order_id,
        "node": "ST-SH-1",
        "channel": "pos",
        "idempotency_key": key,
        "lines": [{"line_no": line_no, "quantity": qty}],
    }
    taken: dict[str, Any] = ok(client.post("/api/v1/returns", json=body), 201)
    return taken


def give_back(client: TestClient, order_id: int, key: str, line_no: int, qty: int) -> int:
    refund: int = take_back(client, order_id, key, line_no, qty)["refund_fen"]
    return refund


def promotion_used(client: TestClient) -> tuple[int, int]:
    promotion = ok(client.get(f"/api/v1/promotions/{MANJIAN['code']}"))
    return promotion["used_fen"], promotion["used_count"]


def returned_entries(client: TestClient, order_id: int) -> list[dict[str, Any]]:
    trail = ok(client.get(f"/api/v1/orders/{order_id}/events"))
    return [entry["details"] for entry in trail if entry["type"] == "returned"]


def coupon_status(client: TestClient, code: str) -> str:
    status: str = ok(client.get(f"/api/v1/coupons/{code}"))["status"]
    return status


def test_an_online_order_with_a_promotion_and_a_coupon_is_returned_in_a_store(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-77", "13800138077")
        coupon = with_a_coupon(client, member)

        # The checkout page showed a stale total: refused with the fresh one, nothing used.
        stale = client.post("/api/v1/orders", json=miniapp_order("MP-1", member, coupon, 59700))
        assert (stale.status_code, stale.json()["code"]) == (409, "QUOTE_CHANGED")
        assert stale.json()["details"]["payable_fen"] == LIST_TOTAL - DISCOUNTS
        assert coupon_status(client, coupon) == "issued"

        body = miniapp_order("MP-1", member, coupon, LIST_TOTAL - DISCOUNTS)
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        tees, jeans = placed["lines"]
        assert tees["line_discount_fen"] + jeans["line_discount_fen"] == DISCOUNTS
        assert tees["paid_fen"] + jeans["paid_fen"] == LIST_TOTAL - DISCOUNTS
        assert coupon_status(client, coupon) == "redeemed"
        replay = ok(client.post("/api/v1/orders", json=body))  # answered, not priced again
        assert replay["order"]["id"] == placed["id"]

        deliver_all(client, placed)
        deliver(engine)
        earned = points_of(client, member)["balance"]
        assert earned == (LIST_TOTAL - DISCOUNTS) // 100

        # The jeans come back at a store: their share of both discounts stays with them, and
        # their share of the 满减 goes back into its budget.
        used = promotion_used(client)
        refund = give_back(client, placed["id"], "RET-J", 2, 1)
        assert refund == jeans["paid_fen"]
        (returned,) = returned_entries(client, placed["id"])
        assert returned["discount_restored_fen"] == jeans["line_discount_fen"]
        back = returned["promotion_budget_restored_fen"]
        assert 0 < back < jeans["line_discount_fen"]  # the coupon's share is not the budget's
        assert promotion_used(client) == (used[0] - back, used[1])  # the use is still taken
        deliver(engine)
        paid = LIST_TOTAL - DISCOUNTS
        assert points_of(client, member)["balance"] == earned - earned * refund // paid
        assert coupon_status(client, coupon) == "redeemed"  # part of the order was kept

        refund += give_back(client, placed["id"], "RET-T", 1, 2)
        deliver(engine)
        assert refund == paid  # every fen paid, and not one more
        assert points_of(client, member)["balance"] == 0
        assert coupon_status(client, coupon) == "issued"  # the whole order came back
        assert promotion_used(client) == (0, 0)
        assert stock(engine, TEE, "ST-SH-1") == (7, 0)


def test_with_coupons_kept_on_return_a_fully_returned_order_keeps_its_coupon_used(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "restore_coupons_on_full_return", False)
    with world.client(engine) as client:
        member = new_member(client, "card-78", "13800138078")
        coupon = with_a_coupon(client, member)
        body = miniapp_order("MP-2", member, coupon, LIST_TOTAL - DISCOUNTS)
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        deliver_all(client, placed)
        give_back(client, placed["id"], "RET-A", 1, 2)
        give_back(client, placed["id"], "RET-B", 2, 1)
        assert coupon_status(client, coupon) == "redeemed"


def test_own_channels_refuse_prices_and_discounts_the_policy_does_not_give(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        cheap = {
            "channel": "miniapp",
            "external_id": "MP-3",
            "lines": [line(JEANS, price=29900)],
            "address": BEIJING,
            "total_fen": 29900,
        }
        refused = client.post("/api/v1/orders", json=cheap)
        assert (refused.status_code, refused.json()["code"]) == (409, "PRICE_CHANGED")
        assert refused.json()["details"]["lines"] == [
            {"line_no": 1, "sku": JEANS, "sent_fen": 29900, "price_fen": 39900}
        ]
        discounted = {
            **cheap,
            "lines": [line(JEANS, price=39900, line_discount_fen=100)],
            "total_fen": 39800,
        }
        refused = client.post("/api/v1/orders", json=discounted)
        assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_ORDER")
        assert "coupon_codes" in refused.json()["message"]

        # A marketplace has charged its customer already: its price is kept, its coupons are
        # its own business.
        tmall = {**cheap, "channel": "tmall", "external_id": "TM-3"}
        assert ok(client.post("/api/v1/orders", json=tmall), 201)["order"]["total_fen"] == 29900
        with_coupon = {**tmall, "external_id": "TM-4", "coupon_codes": ["ANY"]}
        refused = client.post("/api/v1/orders", json=with_coupon)
        assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_ORDER")
        assert client.get("/api/v1/orders", params={"channel": "miniapp"}).json() == []


def test_a_tier_that_ships_free_is_charged_no_shipping_on_own_channels(engine: Engine) -> None:
    with world.client(engine) as client:
        gold = new_member(client, "card-79", "13800138079")
        plain = new_member(client, "card-80", "13800138080")
        with unit_of_work(engine) as session:  # how a member became gold: tests/members
            session.execute(update(Member).where(Member.id == parse_id(gold)).values(tier="gold"))
        cart = {"channel": "miniapp", "lines": [{"line_no": 1, "sku": JEANS, "quantity": 1}]}
        for member, free in ((gold, True), (plain, False)):
            quoted = ok(
                client.post("/api/v1/pricing/quote", json={**cart, "member": {"id": member}})
            )
            assert quoted["free_shipping"] is free

        refused = client.post("/api/v1/orders", json=jeans_order("MP-79", gold, shipping_fen=1000))
        assert (refused.status_code, refused.json()["code"]) == (409, "SHIPPING_IS_FREE")
        assert refused.json()["details"] == {"member_id": gold, "shipping_fen": 1000}
        assert client.get("/api/v1/orders", params={"channel": "miniapp"}).json() == []
        free = ok(client.post("/api/v1/orders", json=jeans_order("MP-79", gold)), 201)["order"]
        assert (free["shipping_fen"], free["total_fen"]) == (0, 39900)
        charged = ok(
            client.post("/api/v1/orders", json=jeans_order("MP-80", plain, shipping_fen=1000)), 201
        )
        assert charged["order"]["shipping_fen"] == 1000


def test_cancelling_gives_back_the_budgets_at_once_and_the_coupon_when_nothing_is_left(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-81", "13800138081")
        coupon = with_a_coupon(client, member)
        body = miniapp_order("MP-81", member, coupon, LIST_TOTAL - DISCOUNTS)
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        jeans = placed["lines"][1]
        used_fen, _ = promotion_used(client)

        cancel = {"reason": "changed her mind", "actor": "cs-1"}
        ok(client.post(f"/api/v1/orders/{placed['id']}/lines/2/cancel", json=cancel))
        assert coupon_status(client, coupon) == "redeemed"  # the tees are still coming
        after_jeans = promotion_used(client)
        assert after_jeans[1] == 1  # the use comes back with the last unit
        assert 0 < used_fen - after_jeans[0] < jeans["line_discount_fen"]  # the 满减's share

        ok(client.post(f"/api/v1/orders/{placed['id']}/lines/1/cancel", json=cancel))
        assert coupon_status(client, coupon) == "issued"  # nothing was bought after all
        assert promotion_used(client) == (0, 0)
        trail = ok(client.get(f"/api/v1/orders/{placed['id']}/events"))
        restored = [e["details"] for e in trail if e["type"] == "discounts_restored"]
        assert [r["line_nos"] for r in restored] == [[2], [1]]
        assert sum(r["discount_restored_fen"] for r in restored) == DISCOUNTS
        assert restored[1]["coupons_restored"] == [coupon]

        again = ok(client.post("/api/v1/orders", json={**body, "external_id": "MP-82"}), 201)
        ok(client.post(f"/api/v1/orders/{again['order']['id']}/cancel", json=cancel))
        assert coupon_status(client, coupon) == "issued"  # the whole order at once, the same
        assert promotion_used(client) == (0, 0)


def grant(client: TestClient, member: str, points: int) -> None:
    body = {"points": points, "reason": "welcome gift", "who": "cs-1", "reference": f"G-{member}"}
    ok(client.post(f"/api/v1/members/{member}/points/adjustments", json=body), 201)


def test_points_pay_part_of_an_online_order_and_come_back_with_the_goods(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-83", "13800138083")
        coupon = with_a_coupon(client, member)
        grant(client, member, 5000)
        payable = LIST_TOTAL - DISCOUNTS

        # Points the customer does not have, or a total that forgot them: nothing is taken.
        greedy = {**miniapp_order("MP-83", member, coupon, payable - 6000), "points_used": 6000}
        refused = client.post("/api/v1/orders", json=greedy)
        assert (refused.status_code, refused.json()["code"]) == (409, "INSUFFICIENT_POINTS")
        forgot = {**miniapp_order("MP-83", member, coupon, payable), "points_used": 3000}
        refused = client.post("/api/v1/orders", json=forgot)
        assert (refused.status_code, refused.json()["code"]) == (409, "QUOTE_CHANGED")
        assert points_of(client, member)["balance"] == 5000
        assert coupon_status(client, coupon) == "issued"

        body = {**miniapp_order("MP-83", member, coupon, payable - 3000), "points_used": 3000}
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        assert (placed["points_used"], placed["points_fen"]) == (3000, 3000)
        assert placed["total_fen"] == payable - 3000  # paid in money
        tees, jeans = placed["lines"]
        assert tees["points_fen"] + jeans["points_fen"] == 3000
        assert tees["points_used"] + jeans["points_used"] == 3000
        assert tees["paid_fen"] + jeans["paid_fen"] == payable - 3000
        for ln in (tees, jeans):
            cost = ln["unit_price_fen"] * ln["quantity"] - ln["line_discount_fen"]
            assert ln["paid_fen"] == cost - ln["points_fen"] >= 0
        ledger = points_of(client, member)
        assert ledger["balance"] == 2000
        assert (ledger["entries"][0]["kind"], ledger["entries"][0]["channel"]) == (
            "redeem",
            "miniapp",
        )

        deliver_all(client, placed)
        deliver(engine)
        earned = (payable - 3000) // 100  # money earns; the points paid earn nothing
        assert points_of(client, member)["balance"] == 2000 + earned

        back = take_back(client, placed["id"], "RET-83", 2, 1)
        assert back["refund_fen"] == jeans["paid_fen"]  # the money paid for them, in money
        assert back["points_restored"] == jeans["points_used"]  # the points, as points
        deliver(engine)
        reversed_earning = earned * jeans["paid_fen"] // (payable - 3000)
        assert points_of(client, member)["balance"] == (
            2000 + earned + jeans["points_used"] - reversed_earning
        )


def test_points_that_paid_for_cancelled_goods_come_back_and_marketplaces_take_none(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-84", "13800138084")
        grant(client, member, 1000)
        body = jeans_order("MP-84", member, points=1000)
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        assert points_of(client, member)["balance"] == 0
        cancel = {"reason": "out of stock by phone", "actor": "cs-1"}
        ok(client.post(f"/api/v1/orders/{placed['id']}/cancel", json=cancel))
        assert points_of(client, member)["balance"] == 1000

        # A line cancelled, then the rest of the order: each line's points come back once.
        two = {
            **body,
            "external_id": "MP-86",
            "lines": [line(JEANS, price=39900), line(TEE, price=9900)],
            "total_fen": 39900 + 9900 - 1000,
        }
        placed = ok(client.post("/api/v1/orders", json=two), 201)["order"]
        ok(client.post(f"/api/v1/orders/{placed['id']}/lines/2/cancel", json=cancel))
        tee_points = placed["lines"][1]["points_used"]
        assert points_of(client, member)["balance"] == tee_points > 0
        ok(client.post(f"/api/v1/orders/{placed['id']}/cancel", json=cancel))
        assert points_of(client, member)["balance"] == 1000

        tmall = {**body, "channel": "tmall", "external_id": "TM-84"}
        refused = client.post("/api/v1/orders", json=tmall)
        assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_ORDER")
        anonymous = {**body, "external_id": "MP-85", "customer": None}
        refused = client.post("/api/v1/orders", json=anonymous)
        assert (refused.status_code, refused.json()["code"]) == (422, "INVALID_ORDER")
        assert points_of(client, member)["balance"] == 1000


def test_goods_paid_with_points_come_back_after_the_member_was_erased(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-87", "13800138087")
        grant(client, member, 1000)
        body = jeans_order("MP-87", member, points=1000)
        placed = ok(client.post("/api/v1/orders", json=body), 201)["order"]
        deliver_all(client, placed)
        deliver(engine)  # the sale earned points too
        assert points_of(client, member)["balance"] == (39900 - 1000) // 100
        assert client.post(f"/api/v1/members/{member}/erase").status_code == 200
        back = take_back(client, placed["id"], "RET-87", 1, 1)
        # The money comes back; the points have nobody to go back to.
        assert (back["refund_fen"], back["points_restored"]) == (39900 - 1000, 0)
