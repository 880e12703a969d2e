"""Coupon templates (what a coupon takes off, on what, with what) and coupon instances (whose, when).

A template is what the marketer designs once; an instance is one issued coupon with its owner and
validity. Stacking is a property of the template:

| stacking          | with promotions | with other coupons |
| ----------------- | --------------- | ------------------ |
| `EXCLUSIVE`       | no              | no                 |
| `WITH_PROMOTIONS` | yes             | no                 |
| `WITH_COUPONS`    | no              | yes                |
| `WITH_ALL`        | yes             | yes                |

Two coupons go together only if both allow other coupons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from yipan.promotions.domain.errors import InvalidCoupon
from yipan.promotions.domain.promotions import check_percent
from yipan.promotions.domain.scope import (
    ALL_GOODS,
    Scope,
    check_id,
    check_restriction,
    check_window,
)


class CouponKind(StrEnum):
    FREE_ITEM = "free_item"
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    THRESHOLD_OFF = "threshold_off"


class Stacking(StrEnum):
    EXCLUSIVE = "exclusive"
    WITH_PROMOTIONS = "with_promotions"
    WITH_COUPONS = "with_coupons"
    WITH_ALL = "with_all"

    @property
    def allows_promotions(self) -> bool:
        return self in (Stacking.WITH_PROMOTIONS, Stacking.WITH_ALL)

    @property
    def allows_coupons(self) -> bool:
        return self in (Stacking.WITH_COUPONS, Stacking.WITH_ALL)


def _positive(owner: str, name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidCoupon(f"{owner}: {name} must be a positive whole number", field=name)


@dataclass(frozen=True)
class AmountOff:
    """`amount_fen` off the covered goods (无门槛券 unless the template sets a minimum spend)."""

    amount_fen: int

    kind: ClassVar[CouponKind] = CouponKind.AMOUNT_OFF

    def check(self, owner: str) -> None:
        _positive(owner, "amount_fen", self.amount_fen)


@dataclass(frozen=True)
class CappedPercentOff:
    """`percent` off the covered goods, at most `cap_fen` (None: no cap)."""

    percent: int
    cap_fen: int | None = None

    kind: ClassVar[CouponKind] = CouponKind.PERCENT_OFF

    def check(self, owner: str) -> None:
        check_percent(InvalidCoupon, owner, self.percent)
        if self.cap_fen is not None:
            _positive(owner, "cap_fen", self.cap_fen)


@dataclass(frozen=True)
class ThresholdOff:
    """满 `threshold_fen` 减 `amount_fen` on the covered goods (满减券)."""

    threshold_fen: int
    amount_fen: int

    kind: ClassVar[CouponKind] = CouponKind.THRESHOLD_OFF

    def check(self, owner: str) -> None:
        _positive(owner, "threshold_fen", self.threshold_fen)
        _positive(owner, "amount_fen", self.amount_fen)
        if self.threshold_fen <= self.amount_fen:
            raise InvalidCoupon(
                f"{owner}: threshold {self.threshold_fen} must exceed the amount off "
                f"{self.amount_fen}",
                field="threshold_fen",
            )


@dataclass(frozen=True)
class FreeItem:
    """`quantity` units of `sku` in the cart are free (the cheapest, if it is on several lines)."""

    sku: str
    quantity: int = 1

    kind: ClassVar[CouponKind] = CouponKind.FREE_ITEM

    def check(self, owner: str) -> None:
        if not self.sku:
            raise InvalidCoupon(f"{owner}: a free-item coupon names its SKU", field="sku")
        _positive(owner, "quantity", self.quantity)


Benefit = AmountOff | CappedPercentOff | ThresholdOff | FreeItem


@dataclass(frozen=True)
class CouponTemplate:
    """What every coupon issued from it offers. `min_spend_fen` is judged on the covered goods."""

    template_id: str
    benefit: Benefit
    scope: Scope = ALL_GOODS
    min_spend_fen: int = 0
    stacking: Stacking = Stacking.WITH_PROMOTIONS
    channels: frozenset[str] | None = None
    stores: frozenset[str] | None = None

    def __post_init__(self) -> None:
        check_id(InvalidCoupon, "coupon template", self.template_id)
        owner = self.template_id
        self.benefit.check(owner)
        if (
            isinstance(self.min_spend_fen, bool)
            or not isinstance(self.min_spend_fen, int)
            or self.min_spend_fen < 0
        ):
            raise InvalidCoupon(f"{owner}: min_spend_fen must be a whole number ≥ 0")
        check_restriction(InvalidCoupon, owner, "channels", self.channels)
        check_restriction(InvalidCoupon, owner, "stores", self.stores)


@dataclass(frozen=True)
class Coupon:
    """One issued coupon. A bearer code (兑换码) has no owner; anyone holding it may use it."""

    coupon_id: str
    template: CouponTemplate
    owner_member_id: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        check_id(InvalidCoupon, "coupon", self.coupon_id)
        check_window(InvalidCoupon, self.coupon_id, self.valid_from, self.valid_until)
        if self.owner_member_id == "":
            raise InvalidCoupon(f"{self.coupon_id}: owner must be a member id or None")

    @property
    def kind(self) -> CouponKind:
        return self.template.benefit.kind
