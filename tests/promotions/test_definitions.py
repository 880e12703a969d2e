"""Bad promotions, coupons and carts are refused when built, with an error the API maps to 422."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from tests.promotions.builders import NOW, cart, coupon, line, promo, skus
from yipan.promotions.domain.cart import Cart, CartLine
from yipan.promotions.domain.coupons import (
    AmountOff,
    CappedPercentOff,
    Coupon,
    CouponTemplate,
    FreeItem,
    ThresholdOff,
)
from yipan.promotions.domain.errors import (
    InvalidCart,
    InvalidCoupon,
    InvalidDefinition,
    InvalidPromotion,
)
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import (
    BuyXGetY,
    MemberPrice,
    NForPrice,
    PercentOff,
    Promotion,
    PromotionIndex,
    Remaining,
    Step,
    ThresholdReduction,
)
from yipan.promotions.domain.scope import Scope

BAD_PROMOTIONS: dict[str, Callable[[], object]] = {
    "percent 0": lambda: promo("p", PercentOff(0)),
    "percent 100": lambda: promo("p", PercentOff(100)),
    "percent not whole": lambda: promo("p", PercentOff(12.5)),  # type: ignore[arg-type]
    "percent as bool": lambda: promo("p", PercentOff(True)),
    "threshold equal to reduction": lambda: promo("p", ThresholdReduction((Step(4000, 4000),))),
    "threshold below reduction": lambda: promo("p", ThresholdReduction((Step(3000, 4000),))),
    "no steps": lambda: promo("p", ThresholdReduction(())),
    "steps not rising": lambda: promo(
        "p", ThresholdReduction((Step(50000, 8000), Step(30000, 4000)))
    ),
    "higher step reduces less": lambda: promo(
        "p", ThresholdReduction((Step(30000, 8000), Step(50000, 4000)))
    ),
    "cap without repeat": lambda: promo("p", ThresholdReduction((Step(300, 40),), cap_fen=100)),
    "buy nothing": lambda: promo("p", BuyXGetY(0, 1)),
    "get nothing": lambda: promo("p", BuyXGetY(1, 0)),
    "n of zero": lambda: promo("p", NForPrice(0, 9900)),
    "n for free": lambda: promo("p", NForPrice(3, 0)),
    "member price without tiers": lambda: promo("p", MemberPrice({}), skus("A")),
    "member price of zero": lambda: promo("p", MemberPrice({"gold": 0}), skus("A")),
    "member price for all goods": lambda: promo("p", MemberPrice({"gold": 100})),
    "empty id": lambda: promo("", PercentOff(10)),
    "empty channel set": lambda: promo("p", PercentOff(10), channels=frozenset()),
    "empty store set": lambda: promo("p", PercentOff(10), stores=frozenset()),
    "window ends before it starts": lambda: promo(
        "p", PercentOff(10), starts_at=NOW, ends_at=NOW - timedelta(hours=1)
    ),
    "naive start": lambda: promo("p", PercentOff(10), starts_at=datetime(2026, 6, 1)),
    "empty exclusion group": lambda: promo("p", PercentOff(10), exclusion_group=""),
    "negative budget": lambda: Remaining(discount_fen=-1),
}


@pytest.mark.parametrize("build", BAD_PROMOTIONS.values(), ids=BAD_PROMOTIONS.keys())
def test_a_bad_promotion_is_refused_as_a_422_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidPromotion) as info:
        build()
    assert isinstance(info.value, ValueError)
    assert info.value.status == 422
    assert info.value.code == "INVALID_PROMOTION"
    assert info.value.message


BAD_COUPONS: dict[str, Callable[[], object]] = {
    "amount of zero": lambda: coupon("c", AmountOff(0)),
    "percent 0": lambda: coupon("c", CappedPercentOff(0)),
    "percent 100": lambda: coupon("c", CappedPercentOff(100)),
    "cap of zero": lambda: coupon("c", CappedPercentOff(10, 0)),
    "threshold not above amount": lambda: coupon("c", ThresholdOff(1000, 1000)),
    "free item without sku": lambda: coupon("c", FreeItem("")),
    "free item of no units": lambda: coupon("c", FreeItem("A", 0)),
    "negative minimum spend": lambda: coupon("c", AmountOff(100), min_spend_fen=-1),
    "empty coupon id": lambda: coupon("", AmountOff(100)),
    "empty template id": lambda: CouponTemplate("", AmountOff(100)),
    "validity ends before it starts": lambda: coupon(
        "c", AmountOff(100), valid_from=NOW, valid_until=NOW
    ),
    "empty owner": lambda: coupon("c", AmountOff(100), owner_member_id=""),
}


@pytest.mark.parametrize("build", BAD_COUPONS.values(), ids=BAD_COUPONS.keys())
def test_a_bad_coupon_is_refused_as_a_422_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidCoupon) as info:
        build()
    assert isinstance(info.value, ValueError)
    assert info.value.status == 422


BAD_CARTS: dict[str, Callable[[], object]] = {
    "line_no twice": lambda: cart(line(1, "A", 1, 100), line(1, "B", 1, 100)),
    "no units": lambda: cart(line(1, "A", 0, 100)),
    "negative list price": lambda: cart(line(1, "A", 1, -1)),
    "price in yuan as a float": lambda: cart(line(1, "A", 1, 19.9)),  # type: ignore[arg-type]
    "naive time": lambda: cart(line(1, "A", 1, 100), at=datetime(2026, 6, 18)),
    "no channel": lambda: cart(line(1, "A", 1, 100), channel=""),
}


@pytest.mark.parametrize("build", BAD_CARTS.values(), ids=BAD_CARTS.keys())
def test_a_bad_cart_is_refused_as_a_422_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidCart) as info:
        build()
    assert info.value.status == 422


def test_two_different_promotions_cannot_share_an_id() -> None:
    with pytest.raises(InvalidPromotion):
        PromotionIndex([promo("p", PercentOff(10)), promo("p", PercentOff(20))])
    same = promo("p", PercentOff(10))
    assert len(PromotionIndex([same, promo("p", PercentOff(10))])) == 1


def test_two_different_coupons_cannot_share_an_id() -> None:
    first, second = coupon("c", AmountOff(100)), coupon("c", AmountOff(200))
    with pytest.raises(InvalidCoupon):
        price_cart(cart(line(1, "A", 1, 1000), coupons=[first, second]))


def test_every_definition_error_is_one_domain_type() -> None:
    for error in (InvalidPromotion, InvalidCoupon, InvalidCart):
        assert issubclass(error, InvalidDefinition)
        assert issubclass(error, ValueError)


def test_good_definitions_are_accepted() -> None:
    promotion = Promotion(
        "p",
        ThresholdReduction((Step(30000, 4000), Step(50000, 8000)), repeat=True, cap_fen=20000),
        Scope(categories=frozenset({"shoes"}), excluded_skus=frozenset({"X"})),
        starts_at=NOW,
        ends_at=NOW + timedelta(days=1),
        channels=frozenset({"pos"}),
        exclusion_group="order",
    )
    assert promotion.layer == "order"
    template = CouponTemplate("t", CappedPercentOff(15, 3000), min_spend_fen=1)
    assert Coupon("c", template, "m1", NOW, NOW + timedelta(days=7)).kind == "percent_off"
    assert Cart((CartLine(7, "A", "shoes", 1, 0),), "pos", NOW).lines[0].list_total_fen == 0
