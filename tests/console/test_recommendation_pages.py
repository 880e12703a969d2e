"""Recommendations on the member 360 view, on SQLite and PostgreSQL: a guide sees what is bought
with the member's purchases, a member without purchases gets best sellers, and the list keeps to
what can be delivered.

Two members bought a tee and jeans at the ST-SH-3 till, one bought only a tee (today), one never
bought; the orders world holds both SKUs in its stores and warehouses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import JEANS, TEE
from yipan.auth.domain import Role
from yipan.insights.service import recommendations as recs
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.schemas import PosReceiptIn
from yipan.orders.service import capture

STAFF = [("hq", Role.HQ_ADMIN, None), ("guide3", Role.STORE_GUIDE, "ST-SH-3")]


def member(engine: Engine, name: str, phone: str) -> str:
    record = SourceRecordIn(
        source="pos", record_id=name, identities=[IdentityIn(kind=IdentityKind.PHONE, value=phone)]
    )
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def buy(engine: Engine, member_id: str, receipt: str, skus: list[str]) -> None:
    body = PosReceiptIn.model_validate(
        {
            "channel": "pos",
            "receipt_id": receipt,
            "store": "ST-SH-3",
            "lines": [{"sku": s, "quantity": 1, "unit_price_fen": 9900} for s in skus],
            "total_fen": 9900 * len(skus),
            "customer": {"member_id": member_id},
            "sold_at": datetime.now(UTC).isoformat(),
        }
    )
    with unit_of_work(engine) as session:
        capture.record_pos_receipt(session, body)


@pytest.fixture
def desk(engine: Engine) -> Iterator[tuple[Staff, dict[str, str]]]:
    recs.models.clear()
    with staff_console(engine, STAFF) as signed_in:
        ids = {
            name: member(engine, name, f"1390000000{n}")
            for n, name in enumerate(["pair1", "pair2", "tee_only", "newbie"])
        }
        buy(engine, ids["pair1"], "R-1", [TEE, JEANS])
        buy(engine, ids["pair2"], "R-2", [TEE, JEANS])
        buy(engine, ids["tee_only"], "R-3", [TEE])
        yield signed_in, ids
    recs.models.clear()


def test_a_guide_sees_what_goes_with_the_members_purchases(
    desk: tuple[Staff, dict[str, str]],
) -> None:
    staff, ids = desk
    page = staff.as_("guide3").get(f"/console/members/{ids['tee_only']}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="member-recommendations"' in html
    assert 'data-testid="recs-personal"' in html
    assert f'data-testid="rec-P-{JEANS}"' in html
    assert f'data-testid="rec-P-{TEE}"' not in html  # bought today, not a consumable
    assert "ST-SH-3, ST-SH-1" in html  # jeans in stock at the guide's store, then 5 km away


def test_a_member_without_purchases_gets_best_sellers(
    desk: tuple[Staff, dict[str, str]],
) -> None:
    staff, ids = desk
    html = staff.as_("hq").get(f"/console/members/{ids['newbie']}").text
    assert 'data-testid="recs-popular"' in html
    assert f'data-testid="rec-P-{TEE}"' in html  # three buyers: the best seller
    assert html.index(f"rec-P-{TEE}") < html.index(f"rec-P-{JEANS}")


def test_an_unknown_member_shows_no_recommendations(desk: tuple[Staff, dict[str, str]]) -> None:
    staff, _ = desk
    page = staff.as_("hq").get("/console/members/M0999999999")
    assert page.status_code == 404
    assert "member-recommendations" not in page.text
