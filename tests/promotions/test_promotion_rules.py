"""Each promotion type, the layer order, allocation to lines, and why a promotion is rejected."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.promotions.builders import GOLD, NOW, cart, categories, coupon, line, promo, skus
from yipan.promotions.domain.cart import LineDiscount, LineShare, Member, PricedCart
from yipan.promotions.domain.coupons import CappedPercentOff
from yipan.promotions.domain.outcomes import Reason, Source
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import (
    BuyXGetY,
    Layer,
    MemberPrice,
    NForPrice,
    PercentOff,
    PromotionIndex,
    Remaining,
    Step,
    ThresholdReduction,
)
from yipan.promotions.domain.scope import Scope

P = Source.PROMOTION


def off(priced: PricedCart, promotion_id: str) -> int:
    applied = priced.applied_discount(P, promotion_id)
    assert applied is not None, f"{promotion_id} was not applied"
    return applied.discount_fen


def reason(priced: PricedCart, promotion_id: str, source: Source = P) -> Reason:
    rejection = priced.rejection(source, promotion_id)
    assert rejection is not None, f"{promotion_id} was not rejected"
    return rejection.reason


# --- threshold reductions (满减) --------------------------------------------------------------


def test_a_threshold_reduction_takes_the_best_step_that_is_met() -> None:
    stepped = ThresholdReduction((Step(30000, 4000), Step(50000, 8000)))
    priced = price_cart(cart(line(1, "A", 2, 26000), promotions=[promo("mj", stepped)]))
    assert off(priced, "mj") == 8000
    assert priced.payable_fen == 52000 - 8000
    lower = price_cart(cart(line(1, "A", 1, 49999), promotions=[promo("mj", stepped)]))
    assert off(lower, "mj") == 4000


def test_a_repeating_threshold_applies_once_per_whole_multiple() -> None:
    every = ThresholdReduction((Step(30000, 4000),), repeat=True)
    priced = price_cart(cart(line(1, "A", 1, 95000), promotions=[promo("mj", every)]))
    assert off(priced, "mj") == 3 * 4000
    capped = ThresholdReduction((Step(30000, 4000),), repeat=True, cap_fen=10000)
    priced = price_cart(cart(line(1, "A", 1, 95000), promotions=[promo("mj", capped)]))
    assert off(priced, "mj") == 10000


def test_a_repeating_stepped_threshold_repeats_whichever_step_gives_most() -> None:
    every = ThresholdReduction((Step(30000, 4000), Step(50000, 8000)), repeat=True)
    # 90000: three times 300 off 40 = 120, once 500 off 80 = 80.
    priced = price_cart(cart(line(1, "A", 1, 90000), promotions=[promo("mj", every)]))
    assert off(priced, "mj") == 12000
    # 100000: three times 40 = 120, twice 80 = 160.
    priced = price_cart(cart(line(1, "A", 1, 100000), promotions=[promo("mj", every)]))
    assert off(priced, "mj") == 16000


def test_a_threshold_counts_only_the_goods_it_covers() -> None:
    shoes_only = promo("mj", ThresholdReduction((Step(30000, 4000),)), categories("shoes"))
    lines = (line(1, "A", 1, 20000, "shoes"), line(2, "B", 1, 20000, "bags"))
    assert reason(price_cart(cart(*lines, promotions=[shoes_only])), "mj") is (
        Reason.THRESHOLD_NOT_MET
    )
    lines = (line(1, "A", 2, 20000, "shoes"), line(2, "B", 1, 20000, "bags"))
    priced = price_cart(cart(*lines, promotions=[shoes_only]))
    assert priced.applied[0].shares == (LineShare(1, 4000),)


def test_a_threshold_is_judged_after_item_level_discounts_and_the_better_choice_wins() -> None:
    threshold = promo("mj", ThresholdReduction((Step(30000, 4000),)))
    ten_off = promo("pct", PercentOff(10))
    # 310 yuan: 10% off leaves 279, below 300, so it is one or the other; 满减 saves more.
    priced = price_cart(cart(line(1, "A", 1, 31000), promotions=[threshold, ten_off]))
    assert priced.payable_fen == 27000
    assert reason(priced, "pct") is Reason.WORSE_THAN_CHOSEN
    # 400 yuan: 360 after 10% still reaches 300, so both apply.
    priced = price_cart(cart(line(1, "A", 1, 40000), promotions=[threshold, ten_off]))
    assert (off(priced, "pct"), off(priced, "mj")) == (4000, 4000)
    assert priced.payable_fen == 32000


# --- percent off ------------------------------------------------------------------------------


def test_percent_off_covers_only_its_skus_or_categories() -> None:
    lines = (line(1, "A", 1, 10000, "shoes"), line(2, "B", 1, 10000, "bags"))
    by_sku = price_cart(cart(*lines, promotions=[promo("p", PercentOff(20), skus("B"))]))
    assert by_sku.applied[0].shares == (LineShare(2, 2000),)
    by_category = price_cart(
        cart(*lines, promotions=[promo("p", PercentOff(20), categories("shoes"))])
    )
    assert by_category.applied[0].shares == (LineShare(1, 2000),)


def test_percent_off_rounds_half_up_once_on_the_covered_total() -> None:
    half = price_cart(cart(line(1, "A", 1, 1005), promotions=[promo("p", PercentOff(10))]))
    assert off(half, "p") == 101  # 100.5 fen
    under = price_cart(cart(line(1, "A", 1, 1004), promotions=[promo("p", PercentOff(10))]))
    assert off(under, "p") == 100  # 100.4 fen
    # Per line it would be 1.5 + 1.5 → 2 + 2; on the total it is 3.0 → 3.
    two = price_cart(
        cart(line(1, "A", 1, 15), line(2, "B", 1, 15), promotions=[promo("p", PercentOff(10))])
    )
    assert off(two, "p") == 3


def test_percent_offs_without_a_group_stack_one_after_the_other() -> None:
    ten, twenty = promo("p10", PercentOff(10)), promo("p20", PercentOff(20))
    priced = price_cart(cart(line(1, "A", 1, 10000), promotions=[twenty, ten]))
    assert (off(priced, "p10"), off(priced, "p20")) == (1000, 1800)
    assert [a.source_id for a in priced.applied] == ["p10", "p20"]


def test_promotions_in_one_exclusion_group_never_stack_and_the_best_member_wins() -> None:
    ten = promo("p10", PercentOff(10), exclusion_group="item")
    twenty = promo("p20", PercentOff(20), exclusion_group="item")
    priced = price_cart(cart(line(1, "A", 1, 10000), promotions=[ten, twenty]))
    assert priced.payable_fen == 8000
    assert reason(priced, "p10") is Reason.MUTUALLY_EXCLUSIVE


def test_an_exclusion_group_may_span_layers() -> None:
    ten = promo("pct", PercentOff(10), exclusion_group="either")
    threshold = promo("mj", ThresholdReduction((Step(30000, 5000),)), exclusion_group="either")
    priced = price_cart(cart(line(1, "A", 1, 40000), promotions=[ten, threshold]))
    assert priced.payable_fen == 35000  # 50 off beats 40 off
    assert reason(priced, "pct") is Reason.MUTUALLY_EXCLUSIVE


# --- unit pools: buy X get Y, N for a price -----------------------------------------------------


def test_buy_one_get_one_frees_the_cheapest_covered_units() -> None:
    bogo = promo("b", BuyXGetY(1, 1), categories("tea"))
    lines = (line(1, "A", 2, 5000, "tea"), line(2, "B", 1, 3000, "tea"))
    # Three units make one pair: the cheapest unit, 30 yuan, is free.
    assert off(price_cart(cart(*lines, promotions=[bogo])), "b") == 3000
    lines = (line(1, "A", 2, 5000, "tea"), line(2, "B", 2, 3000, "tea"))
    assert off(price_cart(cart(*lines, promotions=[bogo])), "b") == 6000


def test_buy_two_get_one_frees_one_unit_per_three() -> None:
    b2g1 = promo("b", BuyXGetY(2, 1))
    priced = price_cart(cart(line(1, "A", 7, 1000), promotions=[b2g1]))
    assert off(priced, "b") == 2000


def test_buy_x_get_y_needs_enough_units() -> None:
    priced = price_cart(cart(line(1, "A", 1, 1000), promotions=[promo("b", BuyXGetY(1, 1))]))
    assert reason(priced, "b") is Reason.QUANTITY_NOT_MET
    assert priced.payable_fen == 1000


def test_n_for_a_price_groups_the_dearest_units_first() -> None:
    three_for_99 = promo("n", NForPrice(3, 9900))
    lines = (line(1, "A", 2, 4000), line(2, "B", 1, 3500), line(3, "C", 1, 1000))
    priced = price_cart(cart(*lines, promotions=[three_for_99]))
    assert off(priced, "n") == 4000 + 4000 + 3500 - 9900
    assert priced.payable_fen == 9900 + 1000


def test_n_for_a_price_never_raises_a_price() -> None:
    priced = price_cart(cart(line(1, "A", 3, 3000), promotions=[promo("n", NForPrice(3, 9900))]))
    assert reason(priced, "n") is Reason.NO_BENEFIT
    assert priced.payable_fen == 9000


def test_a_line_takes_one_unit_pool_offer_the_better_one() -> None:
    bogo = promo("bogo", BuyXGetY(1, 1))
    four_for = promo("n", NForPrice(4, 10000))
    priced = price_cart(cart(line(1, "A", 4, 4000), promotions=[bogo, four_for]))
    # BOGO saves 2 × 40 = 80 yuan; 4 for 100 saves 60 yuan.
    assert priced.payable_fen == 8000
    assert reason(priced, "n") is Reason.MUTUALLY_EXCLUSIVE


# --- member price -----------------------------------------------------------------------------


def test_member_price_charges_the_members_tier_price() -> None:
    member_price = promo("mp", MemberPrice({"gold": 8000, "silver": 9000}), skus("A"))
    lines = (line(1, "A", 2, 10000), line(2, "B", 1, 5000))
    gold = price_cart(cart(*lines, promotions=[member_price], member=GOLD))
    assert gold.applied[0].shares == (LineShare(1, 4000),)
    silver = price_cart(cart(*lines, promotions=[member_price], member=Member("m2", "silver")))
    assert off(silver, "mp") == 2000


def test_member_price_needs_a_member_with_a_listed_tier() -> None:
    member_price = promo("mp", MemberPrice({"gold": 8000}), skus("A"))
    lines = (line(1, "A", 1, 10000),)
    for member in (None, Member("m3")):
        priced = price_cart(cart(*lines, promotions=[member_price], member=member))
        assert reason(priced, "mp") is Reason.MEMBER_REQUIRED
    bronze = price_cart(cart(*lines, promotions=[member_price], member=Member("m4", "bronze")))
    assert reason(bronze, "mp") is Reason.TIER_NOT_ELIGIBLE


def test_a_member_price_above_the_list_price_takes_nothing() -> None:
    member_price = promo("mp", MemberPrice({"gold": 12000}), skus("A"))
    priced = price_cart(cart(line(1, "A", 1, 10000), promotions=[member_price], member=GOLD))
    assert reason(priced, "mp") is Reason.NO_BENEFIT


def test_layers_apply_member_price_then_item_level_then_order_level_then_coupons() -> None:
    promotions = [
        promo("mj", ThresholdReduction((Step(7000, 1000),))),
        promo("pct", PercentOff(10)),
        promo("mp", MemberPrice({"gold": 8000}), skus("A")),
    ]
    coupons = [coupon("c", CappedPercentOff(10))]
    priced = price_cart(
        cart(line(1, "A", 1, 10000), promotions=promotions, coupons=coupons, member=GOLD)
    )
    # 100 → member 80 → 10% off 80 = 8 → 72 ≥ 70 so 满减 10 → 62 → coupon 10% = 6.2.
    assert [(a.source_id, a.layer, a.discount_fen) for a in priced.applied] == [
        ("mp", Layer.MEMBER_PRICE, 2000),
        ("pct", Layer.ITEM, 800),
        ("mj", Layer.ORDER, 1000),
        ("c", Layer.COUPON, 620),
    ]
    assert priced.payable_fen == 5580


# --- where and when -----------------------------------------------------------------------------


def test_a_promotion_outside_its_window_is_not_started_or_expired() -> None:
    promotion = promo("p", PercentOff(10), starts_at=NOW, ends_at=NOW + timedelta(days=1))
    lines = (line(1, "A", 1, 1000),)
    early = price_cart(cart(*lines, promotions=[promotion], at=NOW - timedelta(seconds=1)))
    assert reason(early, "p") is Reason.NOT_STARTED
    assert off(price_cart(cart(*lines, promotions=[promotion], at=NOW)), "p") == 100
    late = price_cart(cart(*lines, promotions=[promotion], at=NOW + timedelta(days=1)))
    assert reason(late, "p") is Reason.EXPIRED


def test_a_promotion_limited_to_channels_or_stores_applies_only_there() -> None:
    in_stores = promo("p", PercentOff(10), channels=frozenset({"pos"}), stores=frozenset({"S1"}))
    lines = (line(1, "A", 1, 1000),)
    online = price_cart(cart(*lines, promotions=[in_stores], channel="mini_program"))
    assert reason(online, "p") is Reason.WRONG_CHANNEL
    for store in (None, "S2"):
        priced = price_cart(cart(*lines, promotions=[in_stores], channel="pos", store=store))
        assert reason(priced, "p") is Reason.WRONG_STORE
    assert off(price_cart(cart(*lines, promotions=[in_stores], channel="pos", store="S1")), "p")


def test_a_promotion_with_no_budget_or_member_allowance_left_is_rejected() -> None:
    promotion = promo("p", PercentOff(10))
    lines = (line(1, "A", 1, 1000),)
    for left, expected in [
        (Remaining(uses=0), Reason.BUDGET_EXHAUSTED),
        (Remaining(discount_fen=0), Reason.BUDGET_EXHAUSTED),
        (Remaining(member_uses=0), Reason.MEMBER_LIMIT_REACHED),
    ]:
        priced = price_cart(cart(*lines, promotions=[promotion], remaining={"p": left}))
        assert reason(priced, "p") is expected
    priced = price_cart(cart(*lines, promotions=[promotion], remaining={"p": Remaining(1, 1, 1)}))
    assert off(priced, "p") == 1


def test_a_budget_caps_the_discount_at_what_is_left() -> None:
    half_off = promo("p", PercentOff(50))
    priced = price_cart(
        cart(line(1, "A", 1, 10000), promotions=[half_off], remaining={"p": Remaining(1200)})
    )
    assert off(priced, "p") == 1200


def test_a_promotion_covering_nothing_in_the_cart_has_no_eligible_lines() -> None:
    elsewhere = promo("p", PercentOff(10), skus("Z"))
    carved_out = promo("q", PercentOff(10), Scope(excluded_skus=frozenset({"A"})))
    priced = price_cart(cart(line(1, "A", 1, 1000), promotions=[elsewhere, carved_out]))
    assert reason(priced, "p") is Reason.NO_ELIGIBLE_LINES
    assert reason(priced, "q") is Reason.NO_ELIGIBLE_LINES
    assert priced.applied == ()


def test_a_prebuilt_index_prices_like_the_plain_list() -> None:
    promotions = [
        promo("mj", ThresholdReduction((Step(3000, 500),))),
        promo("p", PercentOff(10), categories("tea")),
        promo("z", PercentOff(30), skus("Z")),
    ]
    lines = (line(1, "A", 2, 2000, "tea"), line(2, "B", 1, 1000))
    assert price_cart(cart(*lines, promotions=PromotionIndex(promotions))) == price_cart(
        cart(*lines, promotions=promotions)
    )


# --- allocation -------------------------------------------------------------------------------


def test_a_discount_is_split_over_its_lines_in_proportion_to_their_amounts() -> None:
    threshold = promo("mj", ThresholdReduction((Step(10000, 1000),)))
    lines = (line(1, "A", 1, 6000), line(2, "B", 3, 1000), line(3, "C", 1, 1000))
    priced = price_cart(cart(*lines, promotions=[threshold]))
    assert priced.applied[0].shares == (LineShare(1, 600), LineShare(2, 300), LineShare(3, 100))
    assert [pl.payable_fen for pl in priced.lines] == [5400, 2700, 900]


def test_the_odd_fen_goes_to_the_larger_line_then_the_lower_line_no() -> None:
    threshold = promo("mj", ThresholdReduction((Step(3000, 100),)))
    equal = (line(3, "C", 1, 1000), line(1, "A", 1, 1000), line(2, "B", 1, 1000))
    priced = price_cart(cart(*equal, promotions=[threshold]))
    assert priced.applied[0].shares == (LineShare(1, 34), LineShare(2, 33), LineShare(3, 33))
    # 10 over 10 and 30 yuan is 2.5 and 7.5: the tied half fen goes to the larger line.
    small = promo("mj", ThresholdReduction((Step(4000, 10),)))
    unequal = (line(1, "A", 1, 1000), line(2, "B", 1, 3000))
    priced = price_cart(cart(*unequal, promotions=[small]))
    assert priced.applied[0].shares == (LineShare(1, 2), LineShare(2, 8))


def test_each_priced_line_lists_its_shares_in_the_order_they_were_applied() -> None:
    promotions = [promo("pct", PercentOff(10)), promo("mj", ThresholdReduction((Step(1000, 100),)))]
    priced = price_cart(cart(line(1, "A", 1, 2000), promotions=promotions))
    [priced_line] = priced.lines
    assert priced_line.discounts == (
        LineDiscount(P, "pct", 200),
        LineDiscount(P, "mj", 100),
    )
    assert priced_line.list_total_fen - 300 == priced_line.payable_fen == priced.payable_fen


@pytest.mark.parametrize("price", [0, 1, 3])
def test_tiny_and_free_lines_never_go_below_zero(price: int) -> None:
    promotions = [promo("p", PercentOff(99)), promo("n", NForPrice(1, 1))]
    priced = price_cart(cart(line(1, "A", 1, price), promotions=promotions))
    assert priced.payable_fen >= 0
    assert all(pl.payable_fen >= 0 for pl in priced.lines)
