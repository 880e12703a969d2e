"""The search decides item-level offers that share no line largest first; prices do not move."""

from __future__ import annotations

from unittest import mock

from hypothesis import given, settings

from tests.promotions.test_pricing_properties import ENOUGH, carts
from yipan.promotions.domain.cart import Cart, PricedCart
from yipan.promotions.domain.effects import (
    Binding,
    Effect,
    MemberPriceEffect,
    PercentEffect,
    ThresholdEffect,
)
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import Kind, Layer, Step
from yipan.promotions.domain.search import decision_order

LINES = 4


def percent(promotion_id: str, lines: tuple[int, ...], bound: int) -> Effect:
    binding = Binding(Source.PROMOTION, promotion_id, Kind.PERCENT_OFF, Layer.ITEM, lines, LINES)
    effect = PercentEffect(binding, 10, None)
    effect.bound = bound
    return effect


def test_larger_offers_come_first_unless_an_earlier_one_shares_a_line() -> None:
    member_price = MemberPriceEffect(
        Binding(Source.PROMOTION, "m", Kind.MEMBER_PRICE, Layer.MEMBER_PRICE, (0,), LINES), (1,)
    )
    threshold = ThresholdEffect(
        Binding(Source.PROMOTION, "t", Kind.THRESHOLD_REDUCTION, Layer.ORDER, (0, 1, 2, 3), LINES),
        (Step(100, 10),),
        repeat=False,
        cap=None,
    )
    small_on_0 = percent("a", (0,), 5)
    large_on_0_1 = percent("b", (0, 1), 900)
    middle_on_2 = percent("c", (2,), 300)
    largest_on_3 = percent("d", (3,), 1_000)
    in_application_order = [
        member_price,
        small_on_0,
        large_on_0_1,
        middle_on_2,
        largest_on_3,
        threshold,
    ]
    given = list(in_application_order)

    decided = decision_order(in_application_order)

    # "b" takes more than "c" but shares line 0 with "a", which applies before it.
    assert [e.source_id for e in decided] == ["m", "d", "c", "a", "b", "t"]
    assert in_application_order == given


def deciding_in_application_order(cart: Cart) -> PricedCart:
    with mock.patch("yipan.promotions.domain.search.decision_order", lambda promotions: promotions):
        return price_cart(cart, max_steps=ENOUGH)


@settings(max_examples=150, deadline=None)
@given(carts(max_promotions=8, max_coupons=3))
def test_the_order_offers_are_decided_in_changes_no_price(cart: Cart) -> None:
    reordered = price_cart(cart, max_steps=ENOUGH)
    in_order = deciding_in_application_order(cart)
    assert reordered.search_complete
    assert in_order.search_complete
    assert reordered.payable_fen == in_order.payable_fen
    applied = {(a.source, a.source_id) for a in reordered.applied}
    if applied == {(a.source, a.source_id) for a in in_order.applied}:
        # The same offers: the same shares, line by line, listed in application order.
        assert reordered == in_order
