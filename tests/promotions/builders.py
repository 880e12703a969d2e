"""Short builders for carts, promotions and coupons, so each test shows only what it is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from yipan.promotions.domain.cart import Cart, CartLine, Member
from yipan.promotions.domain.coupons import Benefit, Coupon, CouponTemplate, Stacking
from yipan.promotions.domain.promotions import Promotion, PromotionIndex, Remaining, Rule
from yipan.promotions.domain.scope import ALL_GOODS, Scope

NOW = datetime(2026, 6, 18, 10, 0, tzinfo=UTC)  # 618, naturally
GOLD = Member("m-gold", "gold")


def line(
    no: int, sku: str, quantity: int, unit_price_fen: int, category: str = "general"
) -> CartLine:
    return CartLine(no, sku, category, quantity, unit_price_fen)


def skus(*codes: str) -> Scope:
    return Scope(skus=frozenset(codes))


def categories(*codes: str) -> Scope:
    return Scope(categories=frozenset(codes))


def promo(promotion_id: str, rule: Rule, scope: Scope = ALL_GOODS, **kw: object) -> Promotion:
    return Promotion(promotion_id, rule, scope, **kw)  # type: ignore[arg-type]


def coupon(
    coupon_id: str,
    benefit: Benefit,
    *,
    stacking: Stacking = Stacking.WITH_PROMOTIONS,
    scope: Scope = ALL_GOODS,
    min_spend_fen: int = 0,
    channels: frozenset[str] | None = None,
    stores: frozenset[str] | None = None,
    **kw: object,
) -> Coupon:
    template = CouponTemplate(
        f"tpl-{coupon_id}", benefit, scope, min_spend_fen, stacking, channels, stores
    )
    return Coupon(coupon_id, template, **kw)  # type: ignore[arg-type]


def cart(
    *lines: CartLine,
    promotions: Sequence[Promotion] | PromotionIndex = (),
    coupons: Sequence[Coupon] = (),
    member: Member | None = None,
    channel: str = "mini_program",
    store: str | None = None,
    at: datetime = NOW,
    remaining: Mapping[str, Remaining] | None = None,
) -> Cart:
    return Cart(
        tuple(lines),
        channel,
        at,
        member,
        store,
        promotions,
        tuple(coupons),
        dict(remaining or {}),
    )
