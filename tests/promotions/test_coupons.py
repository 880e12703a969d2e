"""Each coupon type, whose and when a coupon is, and how coupons stack with promotions and each other."""

from __future__ import annotations

from datetime import timedelta

from tests.promotions.builders import GOLD, NOW, cart, categories, coupon, line, promo
from yipan.promotions.domain.cart import LineShare, Member, PricedCart
from yipan.promotions.domain.coupons import (
    AmountOff,
    CappedPercentOff,
    FreeItem,
    Stacking,
    ThresholdOff,
)
from yipan.promotions.domain.outcomes import Reason, Source
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import PercentOff
from yipan.promotions.domain.scope import Scope

C = Source.COUPON


def off(priced: PricedCart, coupon_id: str) -> int:
    applied = priced.applied_discount(C, coupon_id)
    assert applied is not None, f"{coupon_id} was not applied"
    return applied.discount_fen


def reason(priced: PricedCart, offer_id: str, source: Source = C) -> Reason:
    rejection = priced.rejection(source, offer_id)
    assert rejection is not None, f"{offer_id} was not rejected"
    return rejection.reason


# --- what a coupon takes off ------------------------------------------------------------------


def test_an_amount_off_coupon_takes_its_amount_but_never_more_than_the_goods() -> None:
    ten_yuan = coupon("c", AmountOff(1000))
    assert off(price_cart(cart(line(1, "A", 1, 5000), coupons=[ten_yuan])), "c") == 1000
    small = price_cart(cart(line(1, "A", 1, 600), coupons=[ten_yuan]))
    assert off(small, "c") == 600
    assert small.payable_fen == 0


def test_a_percent_coupon_takes_its_percent_up_to_its_cap() -> None:
    twenty_up_to_15 = coupon("c", CappedPercentOff(20, 1500))
    assert off(price_cart(cart(line(1, "A", 1, 10000), coupons=[twenty_up_to_15])), "c") == 1500
    assert off(price_cart(cart(line(1, "A", 1, 5000), coupons=[twenty_up_to_15])), "c") == 1000
    uncapped = coupon("c", CappedPercentOff(20))
    assert off(price_cart(cart(line(1, "A", 1, 100000), coupons=[uncapped])), "c") == 20000


def test_a_threshold_coupon_needs_its_threshold_reached() -> None:
    threshold = coupon("c", ThresholdOff(10000, 1500))
    short = price_cart(cart(line(1, "A", 1, 9999), coupons=[threshold]))
    assert reason(short, "c") is Reason.THRESHOLD_NOT_MET
    assert off(price_cart(cart(line(1, "A", 1, 10000), coupons=[threshold])), "c") == 1500


def test_a_free_item_coupon_frees_the_cheapest_unit_of_its_sku() -> None:
    free_b = coupon("c", FreeItem("B"))
    lines = (line(1, "A", 1, 5000), line(2, "B", 2, 1200), line(3, "B", 1, 900))
    priced = price_cart(cart(*lines, coupons=[free_b]))
    assert off(priced, "c") == 900
    assert {share.line_no for share in priced.applied[0].shares} <= {2, 3}
    absent = price_cart(cart(line(1, "A", 1, 5000), coupons=[free_b]))
    assert reason(absent, "c") is Reason.NO_ELIGIBLE_LINES


def test_a_minimum_spend_counts_only_the_covered_goods() -> None:
    shoes_coupon = coupon("c", AmountOff(1000), scope=categories("shoes"), min_spend_fen=10000)
    lines = (line(1, "A", 1, 9000, "shoes"), line(2, "B", 1, 50000, "bags"))
    assert reason(price_cart(cart(*lines, coupons=[shoes_coupon])), "c") is (
        Reason.THRESHOLD_NOT_MET
    )
    lines = (line(1, "A", 1, 12000, "shoes"), line(2, "B", 1, 50000, "bags"))
    priced = price_cart(cart(*lines, coupons=[shoes_coupon]))
    assert priced.applied[0].shares == (LineShare(1, 1000),)


def test_a_minimum_spend_is_judged_after_promotions() -> None:
    shoes_coupon = coupon("c", AmountOff(1000), scope=categories("shoes"), min_spend_fen=10000)
    twenty_off = promo("p", PercentOff(20), categories("shoes"))
    lines = (line(1, "A", 1, 12000, "shoes"),)
    # With 20% off the shoes come to 96 yuan, short of 100: the promotion saves more than the coupon.
    priced = price_cart(cart(*lines, promotions=[twenty_off], coupons=[shoes_coupon]))
    assert priced.payable_fen == 9600
    assert reason(priced, "c") is Reason.THRESHOLD_NOT_MET


def test_a_coupon_that_would_take_nothing_is_not_applied() -> None:
    one_percent = coupon("c", CappedPercentOff(1))
    priced = price_cart(cart(line(1, "A", 1, 40), coupons=[one_percent]))
    assert reason(priced, "c") is Reason.NO_BENEFIT


def test_coupons_apply_free_items_then_percents_then_amounts() -> None:
    coupons = [
        coupon("a-amount", AmountOff(1000), stacking=Stacking.WITH_ALL),
        coupon("b-percent", CappedPercentOff(10), stacking=Stacking.WITH_ALL),
        coupon("c-free", FreeItem("B"), stacking=Stacking.WITH_ALL),
    ]
    priced = price_cart(cart(line(1, "A", 1, 10000), line(2, "B", 1, 2000), coupons=coupons))
    # 120 → free B (20) → 100 → 10% (10) → 90 → 10 off → 80.
    assert [(a.source_id, a.discount_fen) for a in priced.applied] == [
        ("c-free", 2000),
        ("b-percent", 1000),
        ("a-amount", 1000),
    ]
    assert priced.payable_fen == 8000


# --- whose, where and when ----------------------------------------------------------------------


def test_a_coupon_issued_to_a_member_is_theirs_alone_and_a_bearer_code_is_anyones() -> None:
    theirs = coupon("c", AmountOff(100), owner_member_id="m-gold")
    lines = (line(1, "A", 1, 1000),)
    assert off(price_cart(cart(*lines, coupons=[theirs], member=GOLD)), "c") == 100
    for member in (Member("m-other", "gold"), None):
        priced = price_cart(cart(*lines, coupons=[theirs], member=member))
        assert reason(priced, "c") is Reason.NOT_OWNER
    bearer = coupon("code-8888", AmountOff(100))
    assert off(price_cart(cart(*lines, coupons=[bearer])), "code-8888") == 100


def test_a_coupon_outside_its_validity_is_not_started_or_expired() -> None:
    week = coupon("c", AmountOff(100), valid_from=NOW, valid_until=NOW + timedelta(days=7))
    lines = (line(1, "A", 1, 1000),)
    early = price_cart(cart(*lines, coupons=[week], at=NOW - timedelta(minutes=1)))
    assert reason(early, "c") is Reason.NOT_STARTED
    late = price_cart(cart(*lines, coupons=[week], at=NOW + timedelta(days=7)))
    assert reason(late, "c") is Reason.EXPIRED
    assert off(price_cart(cart(*lines, coupons=[week], at=NOW + timedelta(days=6))), "c") == 100


def test_a_coupon_limited_to_channels_or_stores_applies_only_there() -> None:
    store_coupon = coupon(
        "c", AmountOff(100), channels=frozenset({"pos"}), stores=frozenset({"S1"})
    )
    lines = (line(1, "A", 1, 1000),)
    online = price_cart(cart(*lines, coupons=[store_coupon], channel="online_shop"))
    assert reason(online, "c") is Reason.WRONG_CHANNEL
    other_store = price_cart(cart(*lines, coupons=[store_coupon], channel="pos", store="S2"))
    assert reason(other_store, "c") is Reason.WRONG_STORE
    assert off(price_cart(cart(*lines, coupons=[store_coupon], channel="pos", store="S1")), "c")


def test_a_coupon_covering_nothing_in_the_cart_has_no_eligible_lines() -> None:
    other_category = coupon("c", AmountOff(100), scope=categories("shoes"))
    carved_out = coupon("d", AmountOff(100), scope=Scope(excluded_skus=frozenset({"A"})))
    priced = price_cart(cart(line(1, "A", 1, 1000), coupons=[other_category, carved_out]))
    assert reason(priced, "c") is Reason.NO_ELIGIBLE_LINES
    assert reason(priced, "d") is Reason.NO_ELIGIBLE_LINES


def test_the_same_coupon_offered_twice_counts_once() -> None:
    once = coupon("c", AmountOff(100), stacking=Stacking.WITH_ALL)
    priced = price_cart(cart(line(1, "A", 1, 1000), coupons=[once, once]))
    assert priced.payable_fen == 900
    assert [a.source_id for a in priced.applied] == ["c"]


# --- stacking -----------------------------------------------------------------------------------


def test_an_exclusive_coupon_is_used_alone_and_only_when_it_beats_everything_else() -> None:
    ten_off = promo("p", PercentOff(10))
    lines = (line(1, "A", 1, 10000),)
    weak = coupon("c", AmountOff(800), stacking=Stacking.EXCLUSIVE)
    priced = price_cart(cart(*lines, promotions=[ten_off], coupons=[weak]))
    assert priced.payable_fen == 9000
    assert reason(priced, "c") is Reason.NOT_STACKABLE
    strong = coupon("c", AmountOff(1500), stacking=Stacking.EXCLUSIVE)
    other = coupon("d", AmountOff(300), stacking=Stacking.WITH_ALL)
    priced = price_cart(cart(*lines, promotions=[ten_off], coupons=[strong, other]))
    assert priced.payable_fen == 8500
    assert reason(priced, "p", Source.PROMOTION) is Reason.NOT_STACKABLE
    assert reason(priced, "d") is Reason.NOT_STACKABLE


def test_coupons_allowing_promotions_stack_with_them_but_only_one_such_coupon_is_used() -> None:
    ten_off = promo("p", PercentOff(10))
    coupons = [coupon("c5", AmountOff(500)), coupon("c8", AmountOff(800))]
    priced = price_cart(cart(line(1, "A", 1, 10000), promotions=[ten_off], coupons=coupons))
    assert priced.payable_fen == 10000 - 1000 - 800
    assert reason(priced, "c5") is Reason.NOT_STACKABLE


def test_coupons_allowing_other_coupons_stack_together_but_not_with_promotions() -> None:
    coupons = [
        coupon("c5", AmountOff(500), stacking=Stacking.WITH_COUPONS),
        coupon("c8", AmountOff(800), stacking=Stacking.WITH_COUPONS),
    ]
    lines = (line(1, "A", 1, 10000),)
    ten_off = promo("p", PercentOff(10))
    priced = price_cart(cart(*lines, promotions=[ten_off], coupons=coupons))
    assert priced.payable_fen == 10000 - 1300  # both coupons beat the promotion's 1000
    assert reason(priced, "p", Source.PROMOTION) is Reason.NOT_STACKABLE
    twenty_off = promo("p", PercentOff(20))
    priced = price_cart(cart(*lines, promotions=[twenty_off], coupons=coupons))
    assert priced.payable_fen == 8000
    assert reason(priced, "c5") is Reason.NOT_STACKABLE


def test_coupons_allowing_everything_stack_with_promotions_and_each_other() -> None:
    coupons = [
        coupon("c5", AmountOff(500), stacking=Stacking.WITH_ALL),
        coupon("c8", AmountOff(800), stacking=Stacking.WITH_ALL),
    ]
    ten_off = promo("p", PercentOff(10))
    priced = price_cart(cart(line(1, "A", 1, 10000), promotions=[ten_off], coupons=coupons))
    assert priced.payable_fen == 10000 - 1000 - 500 - 800
    assert priced.rejected == ()


def test_two_coupons_stack_only_if_both_allow_other_coupons() -> None:
    coupons = [
        coupon("c5", AmountOff(500), stacking=Stacking.WITH_ALL),
        coupon("c8", AmountOff(800), stacking=Stacking.WITH_PROMOTIONS),
    ]
    priced = price_cart(cart(line(1, "A", 1, 10000), coupons=coupons))
    assert priced.payable_fen == 9200
    assert reason(priced, "c5") is Reason.NOT_STACKABLE
