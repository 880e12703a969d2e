"""Properties of price_cart over random carts, promotions and coupons.

Carts stay small enough for the search to finish (`search_complete`), where the answer is the
proven optimum; that is what makes "more offers never cost more" a fair demand.
"""

from __future__ import annotations

from dataclasses import replace
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.promotions.builders import NOW
from yipan.promotions.domain.cart import Cart, CartLine, Member, PricedCart
from yipan.promotions.domain.coupons import (
    AmountOff,
    Benefit,
    CappedPercentOff,
    Coupon,
    CouponTemplate,
    FreeItem,
    Stacking,
    ThresholdOff,
)
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import (
    BuyXGetY,
    MemberPrice,
    NForPrice,
    PercentOff,
    Promotion,
    PromotionIndex,
    Remaining,
    Rule,
    Step,
    ThresholdReduction,
)
from yipan.promotions.domain.scope import Scope

# Several seconds each: run first, so no worker is left with it at the end (tests/conftest.py).
pytestmark = pytest.mark.slow

SKUS = ("A", "B", "C", "D")
CATEGORY = {"A": "tea", "B": "tea", "C": "cups", "D": "snacks"}
ENOUGH = 1_000_000  # steps: far more than these carts need, so the search always completes

money = st.integers(0, 40_000)


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    kind = draw(st.sampled_from(["all", "skus", "categories"]))
    excluded = frozenset(draw(st.sets(st.sampled_from(SKUS), max_size=1)))
    if kind == "skus":
        return Scope(skus=frozenset(draw(st.sets(st.sampled_from(SKUS), min_size=1))))
    if kind == "categories":
        chosen = draw(st.sets(st.sampled_from(sorted(set(CATEGORY.values()))), min_size=1))
        return Scope(categories=frozenset(chosen), excluded_skus=excluded)
    return Scope(excluded_skus=excluded)


@st.composite
def steps(draw: st.DrawFn) -> tuple[Step, ...]:
    threshold = draw(st.integers(2, 60_000))
    reduction = draw(st.integers(1, threshold - 1))
    found = [Step(threshold, reduction)]
    if draw(st.booleans()):
        higher = draw(st.integers(threshold + 1, threshold * 3))
        found.append(Step(higher, draw(st.integers(reduction + 1, max(reduction + 1, higher - 1)))))
    return tuple(found)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    kind = draw(st.sampled_from(["threshold", "percent", "bxgy", "nfor", "member"]))
    if kind == "threshold":
        return ThresholdReduction(draw(steps()), repeat=draw(st.booleans()))
    if kind == "percent":
        return PercentOff(draw(st.integers(1, 99)))
    if kind == "bxgy":
        return BuyXGetY(draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    if kind == "nfor":
        return NForPrice(draw(st.integers(1, 4)), draw(st.integers(1, 30_000)))
    return MemberPrice(
        {"gold": draw(st.integers(1, 20_000)), "silver": draw(st.integers(1, 20_000))}
    )


@st.composite
def promotions(draw: st.DrawFn, promotion_id: str) -> Promotion:
    rule = draw(rules())
    scope = draw(scopes())
    if isinstance(rule, MemberPrice) and scope.is_all_goods:
        scope = Scope(skus=frozenset({"A"}))
    return Promotion(
        promotion_id,
        rule,
        scope,
        exclusion_group=draw(st.sampled_from([None, None, "g1", "g2"])),
        channels=draw(st.sampled_from([None, None, None, frozenset({"pos"})])),
    )


@st.composite
def benefits(draw: st.DrawFn) -> Benefit:
    kind = draw(st.sampled_from(["amount", "percent", "threshold", "free"]))
    if kind == "amount":
        return AmountOff(draw(st.integers(1, 5_000)))
    if kind == "percent":
        return CappedPercentOff(draw(st.integers(1, 99)), draw(st.none() | st.integers(1, 5_000)))
    if kind == "threshold":
        threshold = draw(st.integers(2, 40_000))
        return ThresholdOff(threshold, draw(st.integers(1, threshold - 1)))
    return FreeItem(draw(st.sampled_from(SKUS)), draw(st.integers(1, 2)))


@st.composite
def coupons(draw: st.DrawFn, coupon_id: str) -> Coupon:
    benefit = draw(benefits())
    template = CouponTemplate(
        f"t-{coupon_id}",
        benefit,
        Scope() if isinstance(benefit, FreeItem) else draw(scopes()),
        min_spend_fen=draw(st.sampled_from([0, 0, 5_000, 20_000])),
        stacking=draw(st.sampled_from(list(Stacking))),
    )
    return Coupon(coupon_id, template, owner_member_id=draw(st.sampled_from([None, "m1", "m2"])))


@st.composite
def carts(draw: st.DrawFn, max_promotions: int = 5, max_coupons: int = 3) -> Cart:
    lines = tuple(
        CartLine(no, sku, CATEGORY[sku], draw(st.integers(1, 4)), draw(money))
        for no, sku in enumerate(draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=5)), 1)
    )
    count = draw(st.integers(0, max_promotions))
    offered = [draw(promotions(f"p{i}")) for i in range(count)]
    remaining = {
        p.promotion_id: Remaining(discount_fen=draw(st.integers(0, 3_000)))
        for p in offered
        if draw(st.integers(0, 4)) == 0
    }
    return Cart(
        lines,
        draw(st.sampled_from(["pos", "mini_program"])),
        NOW,
        draw(st.sampled_from([None, Member("m1", "gold"), Member("m2", "silver")])),
        promotions=offered,
        coupons=[draw(coupons(f"c{i}")) for i in range(draw(st.integers(0, max_coupons)))],
        remaining=remaining,
    )


def listed(cart: Cart) -> list[Promotion]:
    assert not isinstance(cart.promotions, PromotionIndex)
    return list(cart.promotions)


def priced(cart: Cart) -> PricedCart:
    result = price_cart(cart, max_steps=ENOUGH)
    assert result.search_complete
    return result


@settings(max_examples=200, deadline=None)
@given(carts())
def test_no_total_or_line_is_ever_negative_and_lines_add_up_to_the_cart(cart: Cart) -> None:
    result = priced(cart)
    assert 0 <= result.payable_fen <= result.list_total_fen
    assert result.discount_fen == result.list_total_fen - result.payable_fen
    for priced_line in result.lines:
        taken = sum(d.discount_fen for d in priced_line.discounts)
        assert priced_line.payable_fen == priced_line.list_total_fen - taken >= 0
        assert all(d.discount_fen > 0 for d in priced_line.discounts)
    assert sum(pl.payable_fen for pl in result.lines) == result.payable_fen
    assert sum(pl.list_total_fen for pl in result.lines) == result.list_total_fen


@settings(max_examples=200, deadline=None)
@given(carts())
def test_each_discount_is_split_exactly_over_its_lines(cart: Cart) -> None:
    result = priced(cart)
    for applied in result.applied:
        assert applied.discount_fen > 0
        assert sum(share.discount_fen for share in applied.shares) == applied.discount_fen
        per_line = {
            pl.line_no: d.discount_fen
            for pl in result.lines
            for d in pl.discounts
            if (d.source, d.source_id) == (applied.source, applied.source_id)
        }
        assert per_line == {share.line_no: share.discount_fen for share in applied.shares}
    assert sum(a.discount_fen for a in result.applied) == result.discount_fen


@settings(max_examples=200, deadline=None)
@given(carts())
def test_every_offer_is_either_applied_or_rejected_exactly_once(cart: Cart) -> None:
    result = priced(cart)
    outcomes = [(a.source, a.source_id) for a in result.applied]
    outcomes += [(r.source, r.source_id) for r in result.rejected]
    offered = [(Source.PROMOTION, p.promotion_id) for p in listed(cart)]
    offered += [(Source.COUPON, c.coupon_id) for c in cart.coupons]
    assert sorted(outcomes) == sorted(offered)


@settings(max_examples=150, deadline=None)
@given(carts(max_promotions=4), st.data())
def test_another_promotion_never_raises_the_best_price(cart: Cart, data: st.DataObject) -> None:
    extra = data.draw(promotions("p-extra"))
    more = replace(cart, promotions=[*listed(cart), extra])
    assert priced(more).payable_fen <= priced(cart).payable_fen


@settings(max_examples=150, deadline=None)
@given(carts(max_coupons=2), st.data())
def test_another_coupon_never_raises_the_best_price(cart: Cart, data: st.DataObject) -> None:
    extra = data.draw(coupons("c-extra"))
    more = replace(cart, coupons=[*cart.coupons, extra])
    assert priced(more).payable_fen <= priced(cart).payable_fen


@settings(max_examples=150, deadline=None)
@given(carts())
def test_the_applied_offers_alone_give_the_same_price(cart: Cart) -> None:
    result = priced(cart)
    used = {(a.source, a.source_id) for a in result.applied}
    alone = replace(
        cart,
        promotions=[p for p in listed(cart) if (Source.PROMOTION, p.promotion_id) in used],
        coupons=[c for c in cart.coupons if (Source.COUPON, c.coupon_id) in used],
    )
    assert priced(alone).payable_fen == result.payable_fen


@settings(max_examples=150, deadline=None)
@given(carts(), st.randoms(use_true_random=False))
def test_the_same_cart_prices_the_same_whatever_the_order_of_its_offers(
    cart: Cart, random: Random
) -> None:
    shuffled_promotions = listed(cart)
    shuffled_coupons = list(cart.coupons)
    shuffled_lines = list(cart.lines)
    random.shuffle(shuffled_promotions)
    random.shuffle(shuffled_coupons)
    random.shuffle(shuffled_lines)
    shuffled = replace(
        cart,
        lines=tuple(shuffled_lines),
        promotions=PromotionIndex(shuffled_promotions),
        coupons=shuffled_coupons,
    )
    first = priced(cart)
    assert priced(cart) == first
    assert priced(shuffled) == first


@settings(max_examples=100, deadline=None)
@given(carts(max_promotions=8, max_coupons=4))
def test_a_search_cut_short_is_consistent_and_more_steps_never_cost_more(cart: Cart) -> None:
    previous = None
    for steps in (1, 10, 100, ENOUGH):
        result = price_cart(cart, max_steps=steps)
        assert price_cart(cart, max_steps=steps) == result
        assert sum(pl.payable_fen for pl in result.lines) == result.payable_fen >= 0
        for applied in result.applied:
            assert sum(s.discount_fen for s in applied.shares) == applied.discount_fen
        if previous is not None:
            assert result.payable_fen <= previous
        previous = result.payable_fen
    assert result.search_complete
