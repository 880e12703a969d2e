"""Quoting a cart: the stored promotions, budgets and offered coupons handed to the pure engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from yipan.catalog import prices as catalog_prices
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import Clock, SystemClock
from yipan.members.errors import UnknownMember
from yipan.members.service import profile as members
from yipan.members.service import tiers
from yipan.promotions.domain.cart import Cart, CartLine, Member, PricedCart
from yipan.promotions.domain.coupons import Coupon
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.domain.promotions import Remaining
from yipan.promotions.models import PromotionMemberUse, PromotionRow
from yipan.promotions.schemas import (
    AppliedOut,
    CartIn,
    LineDiscountOut,
    MemberIn,
    PriceQuoteOut,
    QuoteIn,
    QuoteLineOut,
    RejectedOut,
    ShareOut,
)
from yipan.promotions.service.coupons import offered_coupons
from yipan.promotions.service.definitions import ACTIVE, active_promotions


def quote(session: Session, quote_in: QuoteIn, *, clock: Clock | None = None) -> PriceQuoteOut:
    """The best price for this cart now (or at `at`), every line's discount shares, and why each
    offered promotion or coupon did or did not apply. Writes nothing."""
    at = quote_in.at or (clock or SystemClock()).now()
    quote_in = completed(session, quote_in, at)
    member_id = quote_in.member.id if quote_in.member else None
    offered = offered_coupons(
        session, quote_in.coupon_codes, member_id=member_id, at=at, strict=False
    )
    priced = price(session, quote_in, at, [c for c, _ in offered.values()])
    return quote_out(priced, at, free_shipping=ships_free(quote_in))


Cart_ = TypeVar("Cart_", bound=CartIn)


def completed(session: Session, cart_in: Cart_, at: datetime) -> Cart_:
    """The cart as Yipan prices it: what a line leaves out (its category, its price) from the
    catalogue, the price from the policy for the channel and the store's region; a Yipan member
    at their own tier and, if merged away, as the member they now are."""
    lines = cart_in.lines
    missing = [ln.sku for ln in lines if ln.category is None or ln.unit_price_fen is None]
    if missing:
        region = (
            inventory_nodes.get_node(session, cart_in.store).province if cart_in.store else None
        )
        policy = catalog_prices.effective_prices(
            session, missing, channel=cart_in.channel, region=region, at=at
        )
        lines = [
            ln
            if ln.category is not None and ln.unit_price_fen is not None
            else ln.model_copy(
                update={
                    "category": ln.category or policy[ln.sku].category,
                    "unit_price_fen": policy[ln.sku].price_fen
                    if ln.unit_price_fen is None
                    else ln.unit_price_fen,
                }
            )
            for ln in lines
        ]
    member = cart_in.member
    if member is not None:
        try:
            known = members.get_member(session, member.id)
        except UnknownMember:
            pass
        else:
            member = MemberIn(id=known.id, tier=known.tier)
    return cart_in.model_copy(update={"lines": lines, "member": member})


def price(session: Session, cart_in: CartIn, at: datetime, coupons: Sequence[Coupon]) -> PricedCart:
    """Price a `completed` cart."""
    active = active_promotions(session)
    member = Member(cart_in.member.id, cart_in.member.tier) if cart_in.member else None
    cart = Cart(
        lines=tuple(
            CartLine(
                ln.line_no, ln.sku, _given(ln.category), ln.quantity, _given(ln.unit_price_fen)
            )
            for ln in cart_in.lines
        ),
        channel=cart_in.channel,
        at=at,
        member=member,
        store=cart_in.store,
        promotions=active.index,
        coupons=tuple(coupons),
        remaining=remaining(session, member.member_id if member else None),
    )
    return price_cart(cart)


T = TypeVar("T")


def _given(value: T | None) -> T:
    if value is None:
        raise ValueError("price a cart once it is completed")
    return value


# Built once: every priced cart and every checkout reads them.
_LIMITED_PROMOTIONS = select(
    PromotionRow.id,
    PromotionRow.code,
    PromotionRow.budget_fen,
    PromotionRow.used_fen,
    PromotionRow.budget_uses,
    PromotionRow.used_count,
    PromotionRow.per_member_limit,
).where(
    PromotionRow.status == ACTIVE,
    or_(
        PromotionRow.budget_fen.is_not(None),
        PromotionRow.budget_uses.is_not(None),
        PromotionRow.per_member_limit.is_not(None),
    ),
)
_MEMBER_USES = select(PromotionMemberUse.promotion_id, PromotionMemberUse.uses).where(
    PromotionMemberUse.member_id == bindparam("member_id"),
    PromotionMemberUse.promotion_id.in_(bindparam("ids", expanding=True)),
)


def remaining(session: Session, member_id: str | None) -> Mapping[str, Remaining]:
    """What is left of each limited active promotion's budget, and of this member's allowance.

    A promotion with a per-member limit needs a member to count against: an anonymous cart
    gets none of it.
    """
    rows = session.execute(_LIMITED_PROMOTIONS).all()
    used_by_member: dict[int, int] = {}
    limited = [row.id for row in rows if row.per_member_limit is not None]
    if member_id is not None and limited:
        uses = session.execute(_MEMBER_USES, {"member_id": member_id, "ids": limited})
        used_by_member = {row.promotion_id: row.uses for row in uses}
    left: dict[str, Remaining] = {}
    for row in rows:
        member_uses = None
        if row.per_member_limit is not None:
            member_uses = (
                0
                if member_id is None
                else max(row.per_member_limit - used_by_member.get(row.id, 0), 0)
            )
        left[row.code] = Remaining(
            discount_fen=None if row.budget_fen is None else max(row.budget_fen - row.used_fen, 0),
            uses=None if row.budget_uses is None else max(row.budget_uses - row.used_count, 0),
            member_uses=member_uses,
        )
    return left


def ships_free(cart_in: CartIn) -> bool:
    """Whether the `completed` cart's member has a tier that ships free."""
    tier = cart_in.member.tier if cart_in.member else None
    return tier is not None and tiers.benefits_of(tier).free_shipping


def quote_out(priced: PricedCart, at: datetime, *, free_shipping: bool = False) -> PriceQuoteOut:
    return PriceQuoteOut(
        at=at,
        free_shipping=free_shipping,
        lines=[
            QuoteLineOut(
                line_no=line.line_no,
                sku=line.sku,
                quantity=line.quantity,
                list_total_fen=line.list_total_fen,
                discounts=[
                    LineDiscountOut(source=d.source, id=d.source_id, discount_fen=d.discount_fen)
                    for d in line.discounts
                ],
                payable_fen=line.payable_fen,
            )
            for line in priced.lines
        ],
        applied=[
            AppliedOut(
                source=a.source,
                id=a.source_id,
                kind=a.kind,
                layer=a.layer,
                discount_fen=a.discount_fen,
                shares=[ShareOut(line_no=s.line_no, discount_fen=s.discount_fen) for s in a.shares],
            )
            for a in priced.applied
        ],
        rejected=[
            RejectedOut(source=r.source, id=r.source_id, reason=r.reason, detail=r.detail)
            for r in priced.rejected
        ],
        list_total_fen=priced.list_total_fen,
        discount_fen=priced.discount_fen,
        payable_fen=priced.payable_fen,
        search_complete=priced.search_complete,
    )
