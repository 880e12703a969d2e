"""What `price_cart` takes (a cart and its context) and what it gives back (a priced cart).

The answer explains itself: every promotion and coupon offered is either applied, with its
discount split over the lines in fen, or rejected with a machine-readable `Reason`. Line shares
add up exactly to each discount, and each line's list total minus its shares is its payable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from yipan.promotions.domain.coupons import Coupon
from yipan.promotions.domain.errors import InvalidCart
from yipan.promotions.domain.outcomes import Rejection, Source
from yipan.promotions.domain.promotions import Layer, Promotion, PromotionIndex, Remaining
from yipan.promotions.domain.scope import is_aware


@dataclass(frozen=True)
class CartLine:
    line_no: int
    sku: str
    category: str
    quantity: int
    unit_price_fen: int  # the list (base) price, the same in every channel by default

    @property
    def list_total_fen(self) -> int:
        return self.unit_price_fen * self.quantity


@dataclass(frozen=True)
class Member:
    member_id: str
    tier: str | None = None


@dataclass(frozen=True)
class Cart:
    """A cart in its context. `remaining` maps promotion ids to what is left of their budgets.

    Pass `promotions` as a `PromotionIndex` built once when pricing many carts against the same
    promotions; a plain sequence is indexed on every call.
    """

    lines: tuple[CartLine, ...]
    channel: str
    at: datetime
    member: Member | None = None
    store: str | None = None
    promotions: PromotionIndex | Sequence[Promotion] = ()
    coupons: Sequence[Coupon] = ()
    remaining: Mapping[str, Remaining] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not is_aware(self.at):
            raise InvalidCart("the pricing time needs a time zone")
        if not self.channel:
            raise InvalidCart("a cart needs a channel")
        seen: set[int] = set()
        for line in self.lines:
            if line.line_no in seen:
                raise InvalidCart(f"line_no {line.line_no} appears twice", line_no=line.line_no)
            seen.add(line.line_no)
            for name in ("line_no", "quantity", "unit_price_fen"):
                value = getattr(line, name)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidCart(f"line {line.line_no}: {name} must be a whole number")
            if line.quantity <= 0:
                raise InvalidCart(f"line {line.line_no}: quantity must be positive")
            if line.unit_price_fen < 0:
                raise InvalidCart(f"line {line.line_no}: a list price cannot be negative")


@dataclass(frozen=True)
class LineShare:
    line_no: int
    discount_fen: int


@dataclass(frozen=True)
class AppliedDiscount:
    """One promotion or coupon as applied; `shares` (non-zero only, by line_no) sum to the discount."""

    source: Source
    source_id: str
    kind: str
    layer: Layer
    discount_fen: int
    shares: tuple[LineShare, ...]


@dataclass(frozen=True)
class LineDiscount:
    source: Source
    source_id: str
    discount_fen: int


@dataclass(frozen=True)
class PricedLine:
    line_no: int
    sku: str
    quantity: int
    list_total_fen: int
    discounts: tuple[LineDiscount, ...]  # in the order the discounts were applied
    payable_fen: int


@dataclass(frozen=True)
class PricedCart:
    """The lowest price found. `search_complete` is False when the search bound cut it short.

    `applied` is in application order; `rejected` lists promotions by id, then coupons by id.
    """

    lines: tuple[PricedLine, ...]
    applied: tuple[AppliedDiscount, ...]
    rejected: tuple[Rejection, ...]
    list_total_fen: int
    discount_fen: int
    payable_fen: int
    search_complete: bool

    def rejection(self, source: Source, source_id: str) -> Rejection | None:
        for rejection in self.rejected:
            if rejection.source is source and rejection.source_id == source_id:
                return rejection
        return None

    def applied_discount(self, source: Source, source_id: str) -> AppliedDiscount | None:
        for applied in self.applied:
            if applied.source is source and applied.source_id == source_id:
                return applied
        return None
