"""Promotion rules, checked when defined, and an index that finds the ones a cart can use.

A promotion is a rule (what it takes off) plus where and when it holds (scope, window, channels,
stores) and which other promotions it excludes (`exclusion_group`). How much of its budget is left
is not part of the definition: it changes with every order, so it comes with the cart as
`Remaining`, and the definitions can be indexed once and reused for many carts.

Each rule belongs to a layer, and layers apply in a fixed order (see `pricing`): member prices,
then item-level rules (unit pools: buy X get Y and N for a price; then percent off), then
order-level threshold reductions, then coupons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from yipan.promotions.domain.errors import InvalidDefinition, InvalidPromotion
from yipan.promotions.domain.outcomes import Reason, Rejection, Source
from yipan.promotions.domain.scope import (
    ALL_GOODS,
    Scope,
    check_id,
    check_restriction,
    check_window,
)


class Layer(StrEnum):
    MEMBER_PRICE = "member_price"
    ITEM = "item"
    ORDER = "order"
    COUPON = "coupon"


LAYER_ORDER: Mapping[Layer, int] = {layer: rank for rank, layer in enumerate(Layer)}


class Kind(StrEnum):
    MEMBER_PRICE = "member_price"
    BUY_X_GET_Y = "buy_x_get_y"
    N_FOR_PRICE = "n_for_price"
    PERCENT_OFF = "percent_off"
    THRESHOLD_REDUCTION = "threshold_reduction"


def _positive(owner: str, name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidPromotion(f"{owner}: {name} must be a positive whole number", field=name)


def check_percent(error: type[InvalidDefinition], owner: str, percent: int) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99:
        raise error(f"{owner}: percent off must be a whole number from 1 to 99, not {percent!r}")


@dataclass(frozen=True)
class Step:
    """满 `threshold_fen` 减 `reduction_fen`."""

    threshold_fen: int
    reduction_fen: int


@dataclass(frozen=True)
class ThresholdReduction:
    """满减 on the amount left after item-level discounts; the best step that is met applies.

    With `repeat` (每满) the step applies once per whole multiple of its threshold, and the step
    giving the most wins; `cap_fen` bounds a repeated reduction.
    """

    steps: tuple[Step, ...]
    repeat: bool = False
    cap_fen: int | None = None

    kind: ClassVar[Kind] = Kind.THRESHOLD_REDUCTION
    layer: ClassVar[Layer] = Layer.ORDER

    def check(self, owner: str) -> None:
        if not self.steps:
            raise InvalidPromotion(f"{owner}: a threshold reduction needs at least one step")
        for step in self.steps:
            _positive(owner, "threshold_fen", step.threshold_fen)
            _positive(owner, "reduction_fen", step.reduction_fen)
            if step.threshold_fen <= step.reduction_fen:
                raise InvalidPromotion(
                    f"{owner}: threshold {step.threshold_fen} must exceed its reduction "
                    f"{step.reduction_fen}, or the order would be paid to take goods",
                    field="steps",
                )
        for lower, higher in zip(self.steps, self.steps[1:], strict=False):
            if not (
                lower.threshold_fen < higher.threshold_fen
                and lower.reduction_fen < higher.reduction_fen
            ):
                raise InvalidPromotion(
                    f"{owner}: steps must rise in both threshold and reduction", field="steps"
                )
        if self.cap_fen is not None:
            _positive(owner, "cap_fen", self.cap_fen)
            if not self.repeat:
                raise InvalidPromotion(f"{owner}: a cap only makes sense with repeat")


@dataclass(frozen=True)
class PercentOff:
    """`percent` off each covered line (打折); 12 means 8.8折."""

    percent: int

    kind: ClassVar[Kind] = Kind.PERCENT_OFF
    layer: ClassVar[Layer] = Layer.ITEM

    def check(self, owner: str) -> None:
        check_percent(InvalidPromotion, owner, self.percent)


@dataclass(frozen=True)
class BuyXGetY:
    """For every `buy` + `get` covered units, the `get` cheapest are free (买一送一 is 1 + 1)."""

    buy: int
    get: int

    kind: ClassVar[Kind] = Kind.BUY_X_GET_Y
    layer: ClassVar[Layer] = Layer.ITEM

    def check(self, owner: str) -> None:
        _positive(owner, "buy", self.buy)
        _positive(owner, "get", self.get)


@dataclass(frozen=True)
class NForPrice:
    """`quantity` covered units for `price_fen` (3件99元); the dearest units are grouped first."""

    quantity: int
    price_fen: int

    kind: ClassVar[Kind] = Kind.N_FOR_PRICE
    layer: ClassVar[Layer] = Layer.ITEM

    def check(self, owner: str) -> None:
        _positive(owner, "quantity", self.quantity)
        _positive(owner, "price_fen", self.price_fen)


@dataclass(frozen=True)
class MemberPrice:
    """A unit price per member tier for the covered goods (会员价); tiers not listed pay list price."""

    tier_prices: Mapping[str, int] = field(hash=False)

    kind: ClassVar[Kind] = Kind.MEMBER_PRICE
    layer: ClassVar[Layer] = Layer.MEMBER_PRICE

    def check(self, owner: str) -> None:
        if not self.tier_prices:
            raise InvalidPromotion(f"{owner}: a member price needs a price for at least one tier")
        for tier, price in self.tier_prices.items():
            if not tier:
                raise InvalidPromotion(f"{owner}: a member tier needs a name")
            _positive(owner, f"tier_prices[{tier}]", price)


Rule = ThresholdReduction | PercentOff | BuyXGetY | NForPrice | MemberPrice


@dataclass(frozen=True)
class Promotion:
    """A promotion as the marketer defined it. Unrestricted channels or stores are None.

    Promotions sharing an `exclusion_group` never apply together; the engine picks the member that
    prices the cart lowest. Without a group a promotion stacks with every other one (except that a
    line takes at most one member price and at most one unit-pool rule; see `pricing`).
    """

    promotion_id: str
    rule: Rule
    scope: Scope = ALL_GOODS
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    channels: frozenset[str] | None = None
    stores: frozenset[str] | None = None
    exclusion_group: str | None = None

    def __post_init__(self) -> None:
        check_id(InvalidPromotion, "promotion", self.promotion_id)
        owner = self.promotion_id
        self.rule.check(owner)
        check_window(InvalidPromotion, owner, self.starts_at, self.ends_at)
        check_restriction(InvalidPromotion, owner, "channels", self.channels)
        check_restriction(InvalidPromotion, owner, "stores", self.stores)
        if self.exclusion_group == "":
            raise InvalidPromotion(f"{owner}: an exclusion group needs a name; use None for none")
        if isinstance(self.rule, MemberPrice) and self.scope.is_all_goods:
            raise InvalidPromotion(
                f"{owner}: a member price names the SKUs or categories it prices", field="scope"
            )

    @property
    def layer(self) -> Layer:
        return self.rule.layer

    @property
    def kind(self) -> Kind:
        return self.rule.kind


@dataclass(frozen=True)
class Remaining:
    """What is left of a promotion's budget now, and of this member's allowance. None: no limit.

    One order counts as one use however many units it discounts.
    """

    discount_fen: int | None = None
    uses: int | None = None
    member_uses: int | None = None

    def __post_init__(self) -> None:
        for name in ("discount_fen", "uses", "member_uses"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise InvalidPromotion(f"remaining {name} must be a whole number ≥ 0 or None")


UNTOUCHED = "covers nothing in the cart"


class PromotionIndex:
    """The active promotions, indexed by SKU and category so a cart touches only its own.

    Build it once per change of the promotion set and share it: it is never modified after
    construction. Promotions come out in id order whatever order they went in, which is what
    makes pricing independent of input order.
    """

    __slots__ = ("_all_goods", "_by_category", "_by_sku", "promotions", "untouched_rejections")

    def __init__(self, promotions: Iterable[Promotion]) -> None:
        by_id: dict[str, Promotion] = {}
        for promotion in promotions:
            seen = by_id.get(promotion.promotion_id)
            if seen is not None and seen != promotion:
                raise InvalidPromotion(
                    f"two different promotions share the id {promotion.promotion_id}",
                    id=promotion.promotion_id,
                )
            by_id[promotion.promotion_id] = promotion
        self.promotions: tuple[Promotion, ...] = tuple(by_id[k] for k in sorted(by_id))
        self._by_sku: dict[str, list[int]] = {}
        self._by_category: dict[str, list[int]] = {}
        self._all_goods: list[int] = []
        # Most promotions touch nothing in a given cart; their rejection is the same every time.
        self.untouched_rejections: tuple[Rejection, ...] = tuple(
            Rejection(Source.PROMOTION, p.promotion_id, Reason.NO_ELIGIBLE_LINES, UNTOUCHED)
            for p in self.promotions
        )
        for position, promotion in enumerate(self.promotions):
            scope = promotion.scope
            if scope.is_all_goods:
                self._all_goods.append(position)
            for sku in scope.skus:
                self._by_sku.setdefault(sku, []).append(position)
            for category in scope.categories:
                self._by_category.setdefault(category, []).append(position)

    def __len__(self) -> int:
        return len(self.promotions)

    def covering(self, goods: Sequence[tuple[str, str]]) -> dict[int, tuple[int, ...]]:
        """For each promotion naming any of `goods` (sku, category), the goods it covers.

        Keys are positions in `promotions`, in order; values are positions in `goods`, in order.
        A promotion whose every match is excluded maps to an empty tuple.
        """
        hits: dict[int, list[int]] = {}
        for i, (sku, category) in enumerate(goods):
            for position in (*self._by_sku.get(sku, ()), *self._by_category.get(category, ())):
                found = hits.setdefault(position, [])
                if not found or found[-1] != i:
                    found.append(i)
        everything = list(range(len(goods)))
        for position in self._all_goods:
            hits[position] = everything
        covering: dict[int, tuple[int, ...]] = {}
        for position in sorted(hits):
            excluded = self.promotions[position].scope.excluded_skus
            found = hits[position]
            if excluded:
                found = [i for i in found if goods[i][0] not in excluded]
            covering[position] = tuple(found)
        return covering


def as_index(promotions: PromotionIndex | Sequence[Promotion]) -> PromotionIndex:
    return promotions if isinstance(promotions, PromotionIndex) else PromotionIndex(promotions)
