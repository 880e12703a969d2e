"""What past orders redeemed, written set at a time: readable as live redemptions, counters in
step with the ledger, and refused whole when it names what does not exist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from tests.promotions.stored import LIVE_DROP, MANJIAN
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.promotions.domain.history import HistoricOffer, HistoricRedemption
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.errors import CouponNotValid, UnknownPromotion
from yipan.promotions.models import Redemption
from yipan.promotions.schemas import CouponTemplateIn, IssueToMembersIn, PromotionIn
from yipan.promotions.service import coupons, definitions, history, redemptions

AT = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)
MEMBER = "M0000000001"


def _setup(engine: Engine) -> str:
    """The 满减 promotion, the live-drop template and one coupon of it for MEMBER; its code."""
    with unit_of_work(engine) as session:
        definitions.save_promotion(session, PromotionIn.model_validate(MANJIAN))
        definitions.save_coupon_template(session, CouponTemplateIn.model_validate(LIVE_DROP))
        issued = coupons.issue_to_members(
            session,
            LIVE_DROP["code"],
            IssueToMembersIn(issue_key="june", member_ids=[MEMBER]),
            clock=FakeClock(AT),
        )
    return issued.coupons[0].code


def _redemption(
    member: str | None = MEMBER, promotion: str = MANJIAN["code"]
) -> HistoricRedemption:
    return HistoricRedemption(
        order_ref="order:miniapp:MP-1",
        channel="miniapp",
        member_id=member,
        at=AT,
        lines=((1, "TEE", 2, 40_000), (2, "JEANS", 1, 15_000)),  # list totals
        offers=(
            HistoricOffer(
                Source.PROMOTION,
                promotion,
                "threshold_reduction",
                "order",
                ((1, 3_636), (2, 1_364)),
            ),
            HistoricOffer(
                Source.COUPON, LIVE_DROP["code"], "threshold_off", "coupon", ((1, 1_400), (2, 600))
            ),
        ),
    )


def test_past_redemptions_read_back_as_live_ones_and_the_counters_agree(engine: Engine) -> None:
    code = _setup(engine)

    with unit_of_work(engine) as session:
        done = history.record_history(session, [_redemption()])

    assert (done.redemptions, done.coupons_redeemed) == (1, 1)
    assert done.promotions == {MANJIAN["code"]: (1, 5_000)}
    with unit_of_work(engine, readonly=True) as session:
        found = redemptions.get_redemption(session, "order:miniapp:MP-1")
        assert found.quote.list_total_fen == 55_000
        assert found.quote.discount_fen == 7_000
        assert found.quote.payable_fen == 48_000
        assert [(a.source, a.id, a.discount_fen) for a in found.quote.applied] == [
            ("promotion", MANJIAN["code"], 5_000),
            ("coupon", code, 2_000),
        ]
        assert [line.payable_fen for line in found.quote.lines] == [
            40_000 - 3_636 - 1_400,
            15_000 - 1_364 - 600,
        ]
        used = coupons.get_coupon(session, code)
        assert (used.status, used.redeemed_order_ref, used.redeemed_at) == (
            "redeemed",
            "order:miniapp:MP-1",
            AT,
        )
        promotion = definitions.get_promotion(session, MANJIAN["code"])
        assert (promotion.used_count, promotion.used_fen) == (1, 5_000)


def test_an_unknown_promotion_or_a_coupon_the_member_does_not_hold_writes_nothing(
    engine: Engine,
) -> None:
    _setup(engine)

    with pytest.raises(UnknownPromotion), unit_of_work(engine) as session:
        history.record_history(session, [_redemption(promotion="no-such-promotion")])
    with pytest.raises(CouponNotValid), unit_of_work(engine) as session:
        history.record_history(session, [_redemption(member="M0000000002")])
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Redemption)) == 0
        assert definitions.get_promotion(session, MANJIAN["code"]).used_count == 0
