"""A quote (and so a checkout) is priced on Yipan's facts, not the client's: the catalogue's
category and price policy for what a line leaves out, and a Yipan member's own tier."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from tests.members.test_points_stories import new_member
from tests.orders import world
from tests.orders.world import JEANS, TEE
from yipan.kernel.db import unit_of_work
from yipan.members.models import Member
from yipan.members.service.store import parse_id

GOLD_JEANS = {
    "code": "gold-jeans",
    "name": "金卡牛仔价",
    "rule": {"kind": "member_price", "tier_prices": {"gold": 29900}},
    "scope": {"skus": [JEANS]},
}


def quote(client: TestClient, member: dict[str, Any] | None, *lines: dict[str, Any]) -> Any:
    body: dict[str, Any] = {"channel": "miniapp", "lines": list(lines)}
    if member is not None:
        body["member"] = member
    response = client.post("/api/v1/pricing/quote", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_lines_without_price_or_category_are_priced_by_the_catalogue(engine: Engine) -> None:
    with world.client(engine) as client:
        priced = quote(
            client,
            None,
            {"line_no": 1, "sku": TEE, "quantity": 2},
            {"line_no": 2, "sku": JEANS, "quantity": 1, "unit_price_fen": 35000},
        )
        assert [ln["list_total_fen"] for ln in priced["lines"]] == [2 * 9900, 35000]
        unknown = client.post(
            "/api/v1/pricing/quote",
            json={"channel": "miniapp", "lines": [{"line_no": 1, "sku": "NOPE", "quantity": 1}]},
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_SKU")


def test_a_yipan_member_is_priced_at_their_own_tier_whatever_the_client_claims(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        assert client.post("/api/v1/promotions", json=GOLD_JEANS).status_code == 201
        member = new_member(client, "card-90", "13800138090")
        jeans = {"line_no": 1, "sku": JEANS, "quantity": 1}

        claimed = quote(client, {"id": member, "tier": "gold"}, jeans)
        assert claimed["payable_fen"] == 39900  # a normal member, whatever the client says

        with unit_of_work(engine) as session:
            session.execute(update(Member).where(Member.id == parse_id(member)).values(tier="gold"))
        assert quote(client, {"id": member}, jeans)["payable_fen"] == 29900
        # A customer Yipan does not hold keeps the tier its channel vouches for.
        assert quote(client, {"id": "partner-7", "tier": "gold"}, jeans)["payable_fen"] == 29900
