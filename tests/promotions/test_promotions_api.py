"""Promotions, coupons, quotes, redemptions and returns through the HTTP API, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import sign_in
from tests.promotions.stored import (
    LIVE_DROP,
    MANJIAN,
    TEN_OFF,
    cart,
    count,
    ledger_balance,
    line,
    promotion_use,
    written,
)
from yipan.app import create_app
from yipan.events.models import OutboxEvent
from yipan.kernel.config import get_settings
from yipan.promotions.models import CouponRow, PromotionRow


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, background=False)) as client:
        yield sign_in(client)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    body: dict[str, Any] = response.json()
    return body


def issue(client: TestClient, template: str, *members: str, key: str = "k1") -> list[str]:
    body = {"issue_key": key, "member_ids": list(members)}
    issued = client.post(f"/api/v1/coupon-templates/{template}/issue", json=body).json()
    return [c["code"] for c in issued["coupons"]]


def applied(quote: dict[str, Any]) -> dict[str, int]:
    return {a["id"]: a["discount_fen"] for a in quote["applied"]}


def reasons(quote: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["reason"] for r in quote["rejected"]}


# --- definitions ------------------------------------------------------------------------------


def test_a_promotion_is_created_once_replayed_harmlessly_and_changed_only_by_put(
    client: TestClient, engine: Engine
) -> None:
    created = ok(client.post("/api/v1/promotions", json=MANJIAN), 201)
    assert (created["status"], created["used_fen"]) == ("active", 0)
    ok(client.post("/api/v1/promotions", json=MANJIAN), 200)
    assert count(engine, OutboxEvent) == 1
    other = {**MANJIAN, "name": "满300减60"}
    refused(client.post("/api/v1/promotions", json=other), 409, "CODE_TAKEN")
    changed = ok(client.put(f"/api/v1/promotions/{MANJIAN['code']}", json=other))
    assert changed["name"] == "满300减60"
    assert count(engine, OutboxEvent) == 2
    assert [p["code"] for p in ok(client.get("/api/v1/promotions"))] == [MANJIAN["code"]]
    refused(client.get("/api/v1/promotions/nope"), 404, "UNKNOWN_PROMOTION")
    refused(client.put("/api/v1/promotions/other", json=MANJIAN), 422, "CODE_MISMATCH")


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "threshold_reduction", "steps": [{"threshold_fen": 5000, "reduction_fen": 5000}]},
        {"kind": "percent_off", "percent": 150},
        {"kind": "buy_x_get_y", "buy": 0, "get": 1},
    ],
)
def test_an_invalid_definition_is_refused_with_422_and_writes_nothing(
    client: TestClient, engine: Engine, rule: dict[str, Any]
) -> None:
    refused(
        client.post("/api/v1/promotions", json={**MANJIAN, "rule": rule}), 422, "INVALID_PROMOTION"
    )
    assert (count(engine, PromotionRow), count(engine, OutboxEvent)) == (0, 0)


def test_a_template_issues_once_per_member_and_key_and_within_its_budget(
    client: TestClient, engine: Engine
) -> None:
    ok(client.post("/api/v1/coupon-templates", json={**TEN_OFF, "max_issued": 3}), 201)
    first = ok(
        client.post(
            "/api/v1/coupon-templates/ten-off/issue",
            json={"issue_key": "welcome", "member_ids": ["m-1", "m-2"]},
        ),
        201,
    )
    assert first["created"] == 2
    again = ok(
        client.post(
            "/api/v1/coupon-templates/ten-off/issue",
            json={"issue_key": "welcome", "member_ids": ["m-2", "m-1"]},
        )
    )
    assert again["created"] == 0
    assert {c["code"] for c in again["coupons"]} == {c["code"] for c in first["coupons"]}
    over = client.post(
        "/api/v1/coupon-templates/ten-off/issue",
        json={"issue_key": "second-wave", "member_ids": ["m-1", "m-3"]},
    )
    refused(over, 409, "ISSUE_BUDGET_EXHAUSTED")
    assert count(engine, CouponRow) == 2
    assert ok(client.get("/api/v1/coupon-templates/ten-off"))["issued_count"] == 2
    coupon = ok(client.get(f"/api/v1/coupons/{first['coupons'][0]['code'].lower()}"))
    assert (coupon["owner_member_id"], coupon["status"]) == ("m-1", "issued")


def test_bearer_codes_are_distinct_and_the_same_key_gives_the_same_codes(
    client: TestClient,
) -> None:
    ok(client.post("/api/v1/coupon-templates", json=LIVE_DROP), 201)
    url = "/api/v1/coupon-templates/live-618/bearer-codes"
    drop = ok(client.post(url, json={"issue_key": "stream-1", "count": 50}), 201)
    codes = [c["code"] for c in drop["coupons"]]
    assert len(set(codes)) == 50
    assert all(c["owner_member_id"] is None for c in drop["coupons"])
    replay = ok(client.post(url, json={"issue_key": "stream-1", "count": 50}))
    assert [c["code"] for c in replay["coupons"]] == codes
    refused(
        client.post(url, json={"issue_key": "stream-1", "count": 60}), 409, "ISSUE_REPLAY_MISMATCH"
    )


# --- quotes -----------------------------------------------------------------------------------


def test_a_threshold_reduction_and_a_coupon_both_apply_with_exact_line_shares(
    client: TestClient,
) -> None:
    ok(client.post("/api/v1/promotions", json=MANJIAN), 201)
    ok(client.post("/api/v1/coupon-templates", json=TEN_OFF), 201)
    [code] = issue(client, "ten-off", "m-1")
    body = cart(line(1, "TEE", 2, 9900), line(2, "JEANS", 1, 13301), member="m-1", coupons=(code,))

    quote = ok(client.post("/api/v1/pricing/quote", json=body))

    assert applied(quote) == {MANJIAN["code"]: 5000, code: 1000}
    assert quote["list_total_fen"] == 2 * 9900 + 13301
    assert quote["discount_fen"] == 6000
    assert quote["payable_fen"] == quote["list_total_fen"] - 6000
    for offer in quote["applied"]:
        assert sum(s["discount_fen"] for s in offer["shares"]) == offer["discount_fen"]
    for priced in quote["lines"]:
        taken = sum(d["discount_fen"] for d in priced["discounts"])
        assert priced["payable_fen"] == priced["list_total_fen"] - taken
    assert sum(ln["payable_fen"] for ln in quote["lines"]) == quote["payable_fen"]


def test_a_quote_explains_a_coupon_it_cannot_use(client: TestClient) -> None:
    ok(client.post("/api/v1/coupon-templates", json=LIVE_DROP), 201)
    [code] = issue(client, "live-618", "m-1")
    quote = ok(
        client.post(
            "/api/v1/pricing/quote",
            json=cart(line(1, "TEE", 1, 5000), member="m-1", coupons=(code,)),
        )
    )
    assert reasons(quote)[code] == "THRESHOLD_NOT_MET"
    someone_else = cart(line(1, "TEE", 2, 9900), member="m-2", coupons=(code,))
    assert reasons(ok(client.post("/api/v1/pricing/quote", json=someone_else)))[code] == "NOT_OWNER"


def test_a_paused_promotion_disappears_from_quotes_at_once(client: TestClient) -> None:
    ok(client.post("/api/v1/promotions", json=MANJIAN), 201)
    body = cart(line(1, "TEE", 4, 9900))
    assert MANJIAN["code"] in applied(ok(client.post("/api/v1/pricing/quote", json=body)))
    assert ok(client.post(f"/api/v1/promotions/{MANJIAN['code']}/pause"))["status"] == "paused"
    paused = ok(client.post("/api/v1/pricing/quote", json=body))
    assert paused["applied"] == []
    assert paused["discount_fen"] == 0
    assert ok(client.get("/api/v1/promotions?status=paused"))[0]["code"] == MANJIAN["code"]
    ok(client.post(f"/api/v1/promotions/{MANJIAN['code']}/resume"))
    assert MANJIAN["code"] in applied(ok(client.post("/api/v1/pricing/quote", json=body)))


# --- redemption -------------------------------------------------------------------------------


def test_a_live_stream_code_is_redeemed_at_the_till_once_and_refused_anywhere_after(
    client: TestClient, engine: Engine
) -> None:
    ok(client.post("/api/v1/coupon-templates", json=LIVE_DROP), 201)
    drop = client.post(
        "/api/v1/coupon-templates/live-618/bearer-codes", json={"issue_key": "s1", "count": 3}
    ).json()
    code = drop["coupons"][0]["code"]
    till = {
        "order_ref": "POS-ST1-0001",
        "channel": "pos",
        "store": "ST-1",
        "order_total_fen": 12800,
    }

    short = client.post(f"/api/v1/coupons/{code}/redeem", json={**till, "order_total_fen": 9000})
    assert refused(short, 409, "COUPON_NOT_APPLICABLE")["details"]["reason"] == "THRESHOLD_NOT_MET"
    redeemed = ok(client.post(f"/api/v1/coupons/{code}/redeem", json=till), 201)
    assert (redeemed["quote"]["discount_fen"], redeemed["quote"]["payable_fen"]) == (2000, 10800)
    replay = ok(client.post(f"/api/v1/coupons/{code}/redeem", json=till))
    assert replay["quote"] == redeemed["quote"]
    stored = ok(client.get(f"/api/v1/coupons/{code}"))
    assert (stored["status"], stored["redeemed_order_ref"], stored["redeemed_channel"]) == (
        "redeemed",
        "POS-ST1-0001",
        "pos",
    )
    before = written(engine)

    second_till = client.post(f"/api/v1/coupons/{code}/redeem", json={**till, "order_ref": "POS-2"})
    refused(second_till, 409, "COUPON_ALREADY_USED")
    online = {**cart(line(1, "TEE", 2, 9900), member="m-9", coupons=(code,)), "order_ref": "WEB-1"}
    refused(client.post("/api/v1/pricing/redemptions", json=online), 409, "COUPON_ALREADY_USED")
    assert written(engine) == before


def test_coupon_refusals_say_why_and_write_nothing(client: TestClient, engine: Engine) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    ok(client.post("/api/v1/coupon-templates", json=TEN_OFF), 201)
    ok(
        client.post(
            "/api/v1/coupon-templates",
            json={**LIVE_DROP, "code": "future", "valid_from": later.isoformat()},
        ),
        201,
    )
    [mine] = issue(client, "ten-off", "m-1")
    [future] = issue(client, "future", "m-1")
    till = {"order_ref": "POS-1", "channel": "pos", "member_id": "m-1", "order_total_fen": 20000}
    before = written(engine)

    refused(client.post("/api/v1/coupons/NOPE/redeem", json=till), 404, "UNKNOWN_COUPON")
    not_yet = refused(
        client.post(f"/api/v1/coupons/{future}/redeem", json=till), 409, "COUPON_NOT_VALID"
    )
    assert datetime.fromisoformat(not_yet["details"]["valid_from"]) == later
    theirs = {**till, "member_id": "m-2"}
    refused(client.post(f"/api/v1/coupons/{mine}/redeem", json=theirs), 409, "NOT_YOUR_COUPON")
    refused(
        client.post(f"/api/v1/coupons/{mine}/redeem", json={**till, "member_id": None}),
        409,
        "NOT_YOUR_COUPON",
    )
    unknown_in_quote = cart(line(1, "TEE", 1, 9900), coupons=("NOPE",))
    refused(client.post("/api/v1/pricing/quote", json=unknown_in_quote), 404, "UNKNOWN_COUPON")
    assert written(engine) == before


def test_a_redemption_is_taken_once_per_order_and_a_changed_replay_is_refused(
    client: TestClient, engine: Engine
) -> None:
    ok(client.post("/api/v1/promotions", json={**MANJIAN, "budget_uses": 10}), 201)
    body = {**cart(line(1, "TEE", 4, 9900), member="m-1"), "order_ref": "WEB-1"}
    first = ok(client.post("/api/v1/pricing/redemptions", json=body), 201)
    assert ok(client.post("/api/v1/pricing/redemptions", json=body)) == {**first, "created": False}
    assert promotion_use(engine, MANJIAN["code"]) == (5000, 1)
    changed = {**body, "lines": [line(1, "TEE", 5, 9900)]}
    refused(
        client.post("/api/v1/pricing/redemptions", json=changed), 409, "REDEMPTION_REPLAY_MISMATCH"
    )
    moved = {**body, "order_ref": "WEB-2", "expected_payable_fen": 1}
    refused(client.post("/api/v1/pricing/redemptions", json=moved), 409, "QUOTE_CHANGED")
    assert promotion_use(engine, MANJIAN["code"]) == (5000, 1)
    assert ok(client.get("/api/v1/pricing/redemptions/WEB-1"))["quote"] == first["quote"]


def test_a_spent_budget_stops_the_promotion(client: TestClient, engine: Engine) -> None:
    ok(client.post("/api/v1/promotions", json={**MANJIAN, "budget_fen": 8000}), 201)
    body = cart(line(1, "TEE", 4, 9900), member="m-1")
    first = ok(client.post("/api/v1/pricing/redemptions", json={**body, "order_ref": "A"}), 201)
    assert first["quote"]["discount_fen"] == 5000
    second = ok(client.post("/api/v1/pricing/redemptions", json={**body, "order_ref": "B"}), 201)
    assert second["quote"]["discount_fen"] == 3000  # what was left of the budget
    third = ok(client.post("/api/v1/pricing/quote", json=body))
    assert reasons(third)[MANJIAN["code"]] == "BUDGET_EXHAUSTED"
    assert promotion_use(engine, MANJIAN["code"]) == (8000, 2)


def test_a_member_gets_a_limited_promotion_only_as_often_as_allowed(client: TestClient) -> None:
    ok(client.post("/api/v1/promotions", json={**MANJIAN, "per_member_limit": 1}), 201)
    body = cart(line(1, "TEE", 4, 9900), member="m-1")
    ok(client.post("/api/v1/pricing/redemptions", json={**body, "order_ref": "A"}), 201)
    assert reasons(ok(client.post("/api/v1/pricing/quote", json=body)))[MANJIAN["code"]] == (
        "MEMBER_LIMIT_REACHED"
    )
    other = cart(line(1, "TEE", 4, 9900), member="m-2")
    assert MANJIAN["code"] in applied(ok(client.post("/api/v1/pricing/quote", json=other)))
    anonymous = cart(line(1, "TEE", 4, 9900))
    assert reasons(ok(client.post("/api/v1/pricing/quote", json=anonymous)))[MANJIAN["code"]] == (
        "MEMBER_LIMIT_REACHED"
    )


# --- returns ----------------------------------------------------------------------------------


def test_returns_give_budget_back_in_proportion_and_the_coupon_only_on_a_full_return(
    client: TestClient, engine: Engine
) -> None:
    ok(client.post("/api/v1/promotions", json={**MANJIAN, "budget_fen": 100000}), 201)
    ok(client.post("/api/v1/coupon-templates", json=TEN_OFF), 201)
    [code] = issue(client, "ten-off", "m-1")
    body = cart(line(1, "TEE", 2, 9900), line(2, "JEANS", 1, 19900), member="m-1", coupons=(code,))
    redeemed = ok(
        client.post("/api/v1/pricing/redemptions", json={**body, "order_ref": "WEB-7"}), 201
    )
    [manjian] = [a for a in redeemed["quote"]["applied"] if a["id"] == MANJIAN["code"]]
    line_1_share = next(s["discount_fen"] for s in manjian["shares"] if s["line_no"] == 1)
    assert promotion_use(engine, MANJIAN["code"]) == (5000, 1)
    url = "/api/v1/pricing/redemptions/WEB-7/returns"

    partial = ok(client.post(url, json={"returned": [{"line_no": 1, "quantity": 1}]}))
    assert (partial["full_return"], partial["coupons_restored"]) == (False, [])
    used_fen, used_count = promotion_use(engine, MANJIAN["code"])
    assert (used_fen, used_count) == (5000 - line_1_share // 2, 1)  # one of two units back
    assert (
        ok(client.post(url, json={"returned": [{"line_no": 1, "quantity": 1}]}))["restored_fen"]
        == 0
    )
    assert ok(client.get(f"/api/v1/coupons/{code}"))["status"] == "redeemed"

    full = ok(
        client.post(
            url, json={"returned": [{"line_no": 1, "quantity": 2}, {"line_no": 2, "quantity": 1}]}
        )
    )
    assert (full["full_return"], full["coupons_restored"]) == (True, [code])
    assert promotion_use(engine, MANJIAN["code"]) == (0, 0)
    assert ledger_balance(engine, MANJIAN["code"]) == (0, 0)
    assert ok(client.get(f"/api/v1/coupons/{code}"))["status"] == "issued"
    refused(
        client.post(url, json={"returned": [{"line_no": 3, "quantity": 1}]}), 422, "INVALID_RETURN"
    )
    refused(
        client.post("/api/v1/pricing/redemptions/NOPE/returns", json={"returned": []}),
        404,
        "UNKNOWN_REDEMPTION",
    )


def test_without_the_policy_a_full_return_keeps_the_coupon_used(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "restore_coupons_on_full_return", False)
    ok(client.post("/api/v1/coupon-templates", json=TEN_OFF), 201)
    [code] = issue(client, "ten-off", "m-1")
    body = cart(line(1, "TEE", 1, 9900), member="m-1", coupons=(code,))
    ok(client.post("/api/v1/pricing/redemptions", json={**body, "order_ref": "W"}), 201)
    full = ok(
        client.post(
            "/api/v1/pricing/redemptions/W/returns",
            json={"returned": [{"line_no": 1, "quantity": 1}]},
        )
    )
    assert (full["full_return"], full["coupons_restored"]) == (True, [])
    assert ok(client.get(f"/api/v1/coupons/{code}"))["status"] == "redeemed"
