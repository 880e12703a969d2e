"""Issue 4, "one points ledger": a member earns at a till and spends online, over HTTP, on both
backends. Points come from the orders' outbox events, delivered as the worker would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from tests.orders import world
from tests.orders.world import JEANS, TEE
from yipan.app import create_app
from yipan.events.models import OutboxEvent
from yipan.events.service import InProcessRelay, deliver_pending, recent_events
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.members.models import PointsBalance, PointsEntry
from yipan.wiring import event_registry


def deliver(engine: Engine) -> None:
    report = deliver_pending(engine, InProcessRelay(event_registry()))
    assert report.failed == report.dead == 0


def new_member(client: TestClient, record_id: str, phone: str) -> str:
    response = client.post(
        "/api/v1/members/records",
        json={
            "records": [
                {
                    "source": "pos",
                    "record_id": record_id,
                    "identities": [{"kind": "phone", "value": phone}],
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    member_id: str = response.json()["results"][0]["member_id"]
    return member_id


def receipt(receipt_id: str, member_id: str | None) -> dict[str, Any]:
    lines = [
        {"sku": TEE, "quantity": 2, "unit_price_fen": 9900, "line_discount_fen": 800},
        {"sku": JEANS, "quantity": 1, "unit_price_fen": 39900},
    ]
    body: dict[str, Any] = {
        "channel": "pos",
        "receipt_id": receipt_id,
        "store": "ST-SH-1",
        "terminal": "POS-1",
        "lines": lines,
        "order_discount_fen": 1000,
        "total_fen": 2 * 9900 - 800 + 39900 - 1000,
        "sold_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),  # returns still open
    }
    if member_id is not None:
        body["customer"] = {"member_id": member_id}
    return body


def buy_at_the_till(client: TestClient, engine: Engine, receipt_id: str, member: str) -> Any:
    response = client.post("/api/v1/pos/receipts", json=receipt(receipt_id, member))
    assert response.status_code == 201, response.text
    deliver(engine)
    return response.json()["order"]


def points_of(client: TestClient, member: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/members/{member}/points")
    assert response.status_code == 200, response.text
    return dict(response.json())


def ledger_footprint(engine: Engine) -> tuple[int, int, int]:
    """Ledger rows, the sum of the balances and outbox events: a refusal changes none."""
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(select(func.count()).select_from(PointsEntry)) or 0,
            session.scalar(select(func.coalesce(func.sum(PointsBalance.balance), 0))) or 0,
            session.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
        )


def test_a_member_earns_at_the_till_and_redeems_online_the_same_day(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-1", "13800138001")
        sale = buy_at_the_till(client, engine, "R-1", member)
        paid = sum(ln["paid_fen"] for ln in sale["lines"])
        earned = paid // 100  # one point per whole yuan paid, at the normal tier

        mine = points_of(client, member)
        assert (mine["balance"], mine["usable"]) == (earned, earned)
        (entry,) = mine["entries"]
        assert (entry["kind"], entry["points"], entry["channel"]) == ("earn", earned, "pos")
        assert entry["expires_at"] > entry["at"]

        spend = earned - earned % 100  # in whole yuan
        body = {"points": spend, "reference": "MINIAPP-ORDER-9", "channel": "miniapp"}
        redeemed = client.post(f"/api/v1/members/{member}/points/redeem", json=body)
        assert redeemed.status_code == 201, redeemed.text
        assert redeemed.json()["value_fen"] == spend  # 100 points are worth a yuan
        assert redeemed.json()["balance"] == earned - spend

        again = client.post(f"/api/v1/members/{member}/points/redeem", json=body)
        assert again.status_code == 200
        assert {**again.json(), "created": True} == redeemed.json()
        after = points_of(client, member)
        assert after["balance"] == earned - spend
        assert [e["kind"] for e in after["entries"]] == ["redeem", "earn"]
        assert after["entries"][0]["channel"] == "miniapp"

        view = client.get(f"/api/v1/members/{member}/360").json()
        assert view["points_balance"] == earned - spend
        with unit_of_work(engine, readonly=True) as session:
            names = [e["name"] for e in recent_events(session, limit=100)]
        assert {"members.PointsEarned", "members.PointsRedeemed"} <= set(names)


def test_redeeming_more_than_the_balance_is_refused_and_writes_nothing(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-2", "13800138002")
        buy_at_the_till(client, engine, "R-2", member)
        balance = points_of(client, member)["balance"]
        before = ledger_footprint(engine)
        too_much = balance - balance % 100 + 100
        refused = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": too_much, "reference": "TOO-MUCH"},
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "INSUFFICIENT_POINTS")
        assert refused.json()["details"]["available"] == balance
        assert ledger_footprint(engine) == before
        # The refused reference is not burnt: it can be used once there are points enough.
        fits = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": 100, "reference": "TOO-MUCH"},
        )
        assert fits.status_code == 201
        reused = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": 200, "reference": "TOO-MUCH"},
        )
        assert (reused.status_code, reused.json()["code"]) == (409, "POINTS_REFERENCE_REUSED")


def test_a_sale_delivered_twice_earns_once_and_a_non_member_sale_earns_nothing(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-3", "13800138003")
        buy_at_the_till(client, engine, "R-3", member)
        once = points_of(client, member)["balance"]
        with unit_of_work(engine) as session:  # the outbox hands both events over again
            session.execute(update(OutboxEvent).values(status="pending"))
        deliver(engine)
        assert points_of(client, member)["balance"] == once
        buy_at_the_till(client, engine, "R-4", "someone-elses-id")
        buy_at_the_till(client, engine, "R-5", "M0000009999")
        assert points_of(client, member)["balance"] == once
        with unit_of_work(engine, readonly=True) as session:
            assert session.scalar(select(func.count()).select_from(PointsEntry)) == 1


def take_return(
    client: TestClient, order_id: int, key: str, line_no: int, qty: int
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/returns",
        json={
            "order_id": order_id,
            "node": "ST-SH-1",
            "channel": "pos",
            "idempotency_key": key,
            "lines": [{"line_no": line_no, "quantity": qty}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def return_line(
    client: TestClient, engine: Engine, order_id: int, key: str, line_no: int, qty: int
) -> int:
    """The refund of returning `qty` of a line, once the return's events are delivered."""
    refund: int = take_return(client, order_id, key, line_no, qty)["refund_fen"]
    deliver(engine)
    return refund


def test_returning_a_till_sale_reverses_its_points_in_proportion(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-6", "13800138006")
        sale = buy_at_the_till(client, engine, "R-6", member)
        paid = sum(ln["paid_fen"] for ln in sale["lines"])
        earned = paid // 100

        refunded = return_line(client, engine, sale["id"], "RET-1", 1, 1)  # one of two tees
        assert points_of(client, member)["balance"] == earned - earned * refunded // paid
        refunded += return_line(client, engine, sale["id"], "RET-2", 1, 1)
        assert points_of(client, member)["balance"] == earned - earned * refunded // paid
        return_line(client, engine, sale["id"], "RET-3", 2, 1)  # and the jeans: all back
        mine = points_of(client, member)
        assert mine["balance"] == 0
        assert sum(e["points"] for e in mine["entries"]) == 0
        assert [e["kind"] for e in mine["entries"]].count("reverse") == 3


def test_a_return_after_the_points_were_spent_is_charged_to_the_refund(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-7", "13800138007")
        sale = buy_at_the_till(client, engine, "R-7", member)
        earned = sum(ln["paid_fen"] for ln in sale["lines"]) // 100
        spend = earned - earned % 100
        spent = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": spend, "reference": "SPEND-7"},
        )
        assert spent.status_code == 201
        jeans = next(ln for ln in sale["lines"] if ln["line_no"] == 2)
        taken = take_return(client, sale["id"], "RET-7", 2, 1)
        # Settled before the till is answered, not when the events are delivered later.
        assert points_of(client, member)["balance"] == 0  # what was left, and never below zero
        with unit_of_work(engine, readonly=True) as session:
            (reversed_,) = [
                e["payload"]
                for e in recent_events(session, limit=100)
                if e["name"] == "members.PointsReversed"
            ]
        assert reversed_["points_reversed"] == earned - spend
        short = reversed_["points_short"]
        assert short > 0
        # 100 points are worth a yuan: the spent points' value comes off the refund, whole.
        assert (reversed_["refund_deduction_fen"], reversed_["forgiven_fen"]) == (short, 0)
        assert taken["lines"][0]["refund_fen"] == jeans["paid_fen"]
        assert taken["points_deduction_fen"] == short
        assert taken["refund_fen"] == jeans["paid_fen"] - short
        assert client.get(f"/api/v1/returns/{taken['id']}").json() == taken
        deliver(engine)  # the ledger's handler of the return then finds it settled
        assert points_of(client, member)["balance"] == 0
        assert [e["kind"] for e in points_of(client, member)["entries"]].count("reverse") >= 1
        with unit_of_work(engine, readonly=True) as session:
            names = [e["name"] for e in recent_events(session, limit=100)]
        assert names.count("members.PointsReversed") == 1


def test_adjustments_need_a_reason_and_never_take_the_balance_below_zero(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-8", "13800138008")
        url = f"/api/v1/members/{member}/points/adjustments"
        goodwill = {"points": 300, "reason": "late delivery", "who": "cs-12", "reference": "CS-1"}
        first = client.post(url, json=goodwill)
        assert (first.status_code, first.json()["balance"]) == (201, 300)
        assert client.post(url, json=goodwill).status_code == 200
        before = ledger_footprint(engine)
        too_much = client.post(url, json={"points": -301, "reason": "fix", "who": "cs-12"})
        assert (too_much.status_code, too_much.json()["code"]) == (409, "INSUFFICIENT_POINTS")
        zero = client.post(url, json={"points": 0, "reason": "fix", "who": "cs-12"})
        assert zero.status_code == 422
        assert ledger_footprint(engine) == before
        taken = client.post(url, json={"points": -300, "reason": "duplicate", "who": "cs-12"})
        assert (taken.status_code, taken.json()["balance"]) == (201, 0)
        (latest, *_) = points_of(client, member)["entries"]
        assert (latest["kind"], latest["actor"], latest["reason"]) == (
            "adjust",
            "cs-12",
            "duplicate",
        )


def test_a_retailer_sets_its_own_points_rates_and_lot_life(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "points_earn_rate", "2:100")  # two points a yuan
    monkeypatch.setattr(settings, "points_redeem_rate", "50:100")  # 50 points for a yuan
    monkeypatch.setattr(settings, "points_expiry_months", 6)
    with world.client(engine) as client:
        policy = client.get("/api/v1/members/points-policy").json()
        assert policy == {
            "earn_points": 2,
            "earn_per_fen": 100,
            "redeem_points": 50,
            "redeem_value_fen": 100,
            "redeem_step": 1,
            "expiry_months": 6,
            "excluded_categories": [],
        }
        member = new_member(client, "card-9", "13800138009")
        sale = buy_at_the_till(client, engine, "R-9", member)
        earned = sum(ln["paid_fen"] for ln in sale["lines"]) * 2 // 100
        (entry,) = points_of(client, member)["entries"]
        assert entry["points"] == earned
        # Earned in month M of Shanghai time: gone at midnight starting month M + 7 there.
        at = datetime.fromisoformat(entry["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        months = at.year * 12 + at.month - 1 + 6 + 1
        ends = datetime(months // 12, months % 12 + 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert datetime.fromisoformat(entry["expires_at"]) == ends
        redeemed = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": 150, "reference": "MP-9", "channel": "mini-program"},
        )
        assert (redeemed.status_code, redeemed.json()["value_fen"]) == (201, 300)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("points_earn_rate", "1/100", "YIPAN_POINTS_EARN_RATE"),
        ("points_earn_rate", "1:0", "YIPAN_POINTS_EARN_RATE"),
        ("points_earn_rate", "-1:100", "YIPAN_POINTS_EARN_RATE"),
        ("points_redeem_rate", "0:100", "YIPAN_POINTS_REDEEM_RATE"),
        ("points_redeem_rate", "a hundred", "YIPAN_POINTS_REDEEM_RATE"),
        ("points_expiry_months", -1, "YIPAN_POINTS_EXPIRY_MONTHS"),
    ],
)
def test_points_settings_that_cannot_work_stop_the_server_at_start(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: object, named: str
) -> None:
    monkeypatch.setattr(get_settings(), setting, value)
    with pytest.raises(ValueError, match=named):
        create_app(background=False)


def test_the_360_view_shows_the_ledger_the_returns_and_the_tags_in_one_call(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-10", "13800138010")
        sale = buy_at_the_till(client, engine, "R-10", member)
        spent = client.post(
            f"/api/v1/members/{member}/points/redeem",
            json={"points": 100, "reference": "MP-10", "channel": "mini-program"},
        )
        assert spent.status_code == 201
        taken = take_return(client, sale["id"], "RET-10", 1, 1)  # one of the two tees
        deliver(engine)  # tags follow the sale and the return

        view = client.get(f"/api/v1/members/{member}/360").json()
        ledger = points_of(client, member)
        assert view["points_balance"] == ledger["balance"]
        assert view["points_entries"] == ledger["entries"]
        assert [e["kind"] for e in view["points_entries"]] == ["reverse", "redeem", "earn"]
        (returned,) = view["returns"]
        assert returned == {
            "id": taken["id"],
            "order_id": sale["id"],
            "node": "ST-SH-1",
            "channel": "pos",
            "refund_fen": taken["refund_fen"],
            "points_deduction_fen": 0,
            "created_at": taken["created_at"],
            "member_id": member,
        }
        tags = client.get(f"/api/v1/insights/members/{member}/tags").json()["tags"]
        assert view["tags"] == [{k: t[k] for k in ("kind", "value", "score")} for t in tags]
        assert {"kind": "channel", "value": "store"} in [
            {"kind": t["kind"], "value": t["value"]} for t in view["tags"]
        ]


def test_the_export_holds_everything_the_member_has_done_whole(engine: Engine) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-11", "13800138011")
        sale = buy_at_the_till(client, engine, "R-11", member)
        for n in range(3):  # more than a 360 view's page of the ledger would hold
            body = {"points": 1, "reference": f"MP-11-{n}", "channel": "mini-program"}
            assert client.post(f"/api/v1/members/{member}/points/redeem", json=body).is_success
        taken = take_return(client, sale["id"], "RET-11", 2, 1)
        deliver(engine)
        template = {
            "code": "THANKS-5",
            "name": "感谢券",
            "benefit": {"kind": "amount_off", "amount_fen": 500},
            "stacking": "with_promotions",
            "valid_days": 30,
        }
        assert client.post("/api/v1/coupon-templates", json=template).status_code == 201
        given = client.post(
            "/api/v1/coupon-templates/THANKS-5/issue",
            json={"issue_key": "thanks-11", "member_ids": [member]},
        )
        assert given.status_code == 201, given.text

        exported = client.get(f"/api/v1/members/{member}/export").json()
        view = client.get(f"/api/v1/members/{member}/360").json()
        assert [i["value"] for r in exported["records"] for i in r["identities"]] == ["13800138011"]
        assert [o["id"] for o in exported["orders"]] == [sale["id"]]
        assert [r["id"] for r in exported["returns"]] == [taken["id"]]
        ledger = points_of(client, member)["entries"]
        assert exported["points_entries"] == ledger
        assert [e["kind"] for e in ledger] == ["reverse", "redeem", "redeem", "redeem", "earn"]

        def without_clock(tier: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in tier.items() if k != "window_start"}  # "now" moved

        assert without_clock(exported["tier"]) == without_clock(view["tier"])
        assert [c["template"] for c in exported["coupons"]] == ["THANKS-5"]
        assert exported["coupons"] == view["coupons"]
        assert exported["tags"] == view["tags"] != []
