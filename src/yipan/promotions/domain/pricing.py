"""price_cart: the lowest price a customer can pay for a cart, and why, down to the fen per line.

Layers apply in this order, each on the line amounts the previous ones left:

1. member price (会员价): a line's unit price becomes its tier's price;
2. item level: unit pools first (buy X get Y: the cheapest units free; N for a price: the dearest
   units grouped), working on whole-fen unit prices, then percent off;
3. order level: threshold reductions (满减), judged on the covered amount after item-level
   discounts;
4. coupons: a free item, then percent off, then amounts off; minimum spends and thresholds are
   judged on the covered amount after all promotions.

Within a layer, offers of the same kind apply in id order. Which offers to combine is a search
(see `search`): the same combination always gives the same price, so the best one is well
defined, and when the search completes (`search_complete`) offering one more promotion or coupon
can never raise it. Every offer offered ends up either in `applied` or in `rejected` with a
reason.

Allocation: each discount is split over the lines it covers in proportion to their amounts at
that moment (largest remainder, ties to the larger line, then the lower line_no), except a member
price, which lands on the lines it re-prices. A share never exceeds what is left on its line, so
no line goes below zero and shares add up exactly to each discount and to the total discount.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from yipan.promotions.domain.cart import (
    AppliedDiscount,
    Cart,
    CartLine,
    LineDiscount,
    LineShare,
    PricedCart,
    PricedLine,
)
from yipan.promotions.domain.coupons import (
    AmountOff,
    CappedPercentOff,
    Coupon,
    FreeItem,
    ThresholdOff,
)
from yipan.promotions.domain.effects import (
    Amounts,
    Binding,
    BuyXGetYEffect,
    CouponEffect,
    Effect,
    MemberPriceEffect,
    NForPriceEffect,
    PercentEffect,
    State,
    ThresholdEffect,
    summer,
)
from yipan.promotions.domain.errors import InvalidCoupon
from yipan.promotions.domain.outcomes import Reason, Rejection, Source
from yipan.promotions.domain.promotions import (
    LAYER_ORDER,
    BuyXGetY,
    Layer,
    MemberPrice,
    NForPrice,
    PercentOff,
    Promotion,
    PromotionIndex,
    Remaining,
    ThresholdReduction,
    as_index,
)
from yipan.promotions.domain.search import MAX_STEPS, Choice, best_combination

POOLS = {MemberPrice: "member price", BuyXGetY: "unit pool", NForPrice: "unit pool"}
NO_LIMIT = Remaining()


def price_cart(cart: Cart, *, max_steps: int = MAX_STEPS) -> PricedCart:
    """Price `cart` at its best allowed combination of its promotions and coupons.

    `max_steps` bounds the search (see `search`); `PricedCart.search_complete` says whether the
    answer is the proven optimum or the best found within the bound.
    """
    lines = tuple(sorted(cart.lines, key=lambda line: line.line_no))
    amounts = tuple(line.list_total_fen for line in lines)
    index = as_index(cart.promotions)
    promotion_rejections: dict[int, Rejection] = {}
    promotions, positions = _bind_promotions(cart, index, lines, amounts, promotion_rejections)
    coupon_rejections: dict[str, Rejection] = {}
    coupons = _bind_coupons(cart, lines, amounts, coupon_rejections)
    choice = best_combination(promotions, coupons, amounts, max_steps)
    final = choice.final()
    applied, explained = _explain(choice, final, promotions, coupons, lines)
    for effect, rejection in explained:
        if effect.source is Source.PROMOTION:
            promotion_rejections[positions[effect.source_id]] = rejection
        else:
            coupon_rejections[effect.source_id] = rejection
    # Most of the index touches nothing in the cart: start from its standing rejections.
    by_position: list[Rejection | None] = list(index.untouched_rejections)
    for position in positions.values():
        by_position[position] = None
    for position, rejection in promotion_rejections.items():
        by_position[position] = rejection
    rejected = [rejection for rejection in by_position if rejection is not None]
    rejected.extend(coupon_rejections[k] for k in sorted(coupon_rejections))
    priced_lines = _priced_lines(lines, final)
    list_total = sum(amounts)
    return PricedCart(
        lines=priced_lines,
        applied=applied,
        rejected=tuple(rejected),
        list_total_fen=list_total,
        discount_fen=list_total - final.payable,
        payable_fen=final.payable,
        search_complete=choice.complete,
    )


# --- binding offers to the cart ---------------------------------------------------------------


def _window_reason(
    cart: Cart, start: datetime | None, end: datetime | None
) -> tuple[Reason, str] | None:
    if start is not None and cart.at < start:
        return Reason.NOT_STARTED, f"starts at {start}"
    if end is not None and cart.at >= end:
        return Reason.EXPIRED, f"ended at {end}"
    return None


def _place_reason(
    cart: Cart, channels: frozenset[str] | None, stores: frozenset[str] | None
) -> tuple[Reason, str] | None:
    if channels is not None and cart.channel not in channels:
        return Reason.WRONG_CHANNEL, f"not valid in channel {cart.channel}"
    if stores is not None and (cart.store is None or cart.store not in stores):
        return Reason.WRONG_STORE, f"not valid in store {cart.store}"
    return None


def _promotion_gate(cart: Cart, promotion: Promotion) -> tuple[Reason, str] | None:
    found = _window_reason(cart, promotion.starts_at, promotion.ends_at) or _place_reason(
        cart, promotion.channels, promotion.stores
    )
    if found:
        return found
    left = cart.remaining.get(promotion.promotion_id, NO_LIMIT)
    if left.uses == 0 or left.discount_fen == 0:
        return Reason.BUDGET_EXHAUSTED, "no budget left"
    if left.member_uses == 0:
        return Reason.MEMBER_LIMIT_REACHED, "this member has used it as often as allowed"
    rule = promotion.rule
    if isinstance(rule, MemberPrice):
        member = cart.member
        if member is None or member.tier is None:
            return Reason.MEMBER_REQUIRED, "a member price needs a member with a tier"
        if member.tier not in rule.tier_prices:
            return Reason.TIER_NOT_ELIGIBLE, f"no price for tier {member.tier}"
    return None


def _promotion_effect(
    cart: Cart, promotion: Promotion, covered: tuple[int, ...], quantities: tuple[int, ...]
) -> Effect:
    rule = promotion.rule
    binding = Binding(
        Source.PROMOTION,
        promotion.promotion_id,
        rule.kind,
        rule.layer,
        covered,
        len(quantities),
        budget=cart.remaining.get(promotion.promotion_id, NO_LIMIT).discount_fen,
        group=promotion.exclusion_group,
        pool=POOLS.get(type(rule)),
    )
    if isinstance(rule, MemberPrice):
        tier = cart.member.tier if cart.member else None
        assert tier is not None  # the gate refuses a member price without one
        price = rule.tier_prices[tier]
        return MemberPriceEffect(binding, tuple(price * quantities[i] for i in covered))
    if isinstance(rule, BuyXGetY):
        return BuyXGetYEffect(binding, rule.buy, rule.get, quantities)
    if isinstance(rule, NForPrice):
        return NForPriceEffect(binding, rule.quantity, rule.price_fen, quantities)
    if isinstance(rule, PercentOff):
        return PercentEffect(binding, rule.percent, None)
    return ThresholdEffect(binding, rule.steps, rule.repeat, rule.cap_fen)


def _no_benefit(
    promotion: Promotion, covered: tuple[int, ...], lines: tuple[CartLine, ...]
) -> tuple[Reason, str]:
    rule = promotion.rule
    units = sum(lines[i].quantity for i in covered)
    if isinstance(rule, BuyXGetY) and units < rule.buy + rule.get:
        return Reason.QUANTITY_NOT_MET, f"{units} covered units, {rule.buy + rule.get} needed"
    if isinstance(rule, NForPrice) and units < rule.quantity:
        return Reason.QUANTITY_NOT_MET, f"{units} covered units, {rule.quantity} needed"
    if isinstance(rule, ThresholdReduction):
        base = sum(lines[i].list_total_fen for i in covered)
        need = rule.steps[0].threshold_fen
        return Reason.THRESHOLD_NOT_MET, f"covered amount {base} is below {need}"
    return Reason.NO_BENEFIT, "takes nothing off these lines at their prices"


def _bind_promotions(
    cart: Cart,
    index: PromotionIndex,
    lines: tuple[CartLine, ...],
    amounts: Amounts,
    rejections: dict[int, Rejection],
) -> tuple[list[Effect], dict[str, int]]:
    """Effects for the promotions that can apply, in application order, with their positions."""
    covering = index.covering([(line.sku, line.category) for line in lines])
    quantities = tuple(line.quantity for line in lines)
    effects: list[Effect] = []
    positions: dict[str, int] = {}
    for position, covered in covering.items():
        promotion = index.promotions[position]
        found: tuple[Reason, str] | None
        if not covered:
            found = Reason.NO_ELIGIBLE_LINES, "every matching line is excluded"
        else:
            found = _promotion_gate(cart, promotion)
        if found is None:
            effect = _promotion_effect(cart, promotion, covered, quantities)
            effect.bound = effect.capped(amounts, amounts)
            if effect.bound > 0:
                effects.append(effect)
                positions[promotion.promotion_id] = position
                continue
            found = _no_benefit(promotion, covered, lines)
        reason, detail = found
        rejections[position] = Rejection(Source.PROMOTION, promotion.promotion_id, reason, detail)
    effects.sort(key=lambda e: e.key)
    return effects, positions


def _distinct_coupons(coupons: Sequence[Coupon]) -> list[Coupon]:
    """Offering the same coupon twice is offering it once; two coupons with one id is a bug."""
    by_id: dict[str, Coupon] = {}
    for coupon in coupons:
        seen = by_id.get(coupon.coupon_id)
        if seen is not None and seen != coupon:
            raise InvalidCoupon(
                f"two different coupons share the id {coupon.coupon_id}", id=coupon.coupon_id
            )
        by_id[coupon.coupon_id] = coupon
    return [by_id[k] for k in sorted(by_id)]


def _coupon_gate(cart: Cart, coupon: Coupon) -> tuple[Reason, str] | None:
    owner = coupon.owner_member_id
    if owner is not None and (cart.member is None or cart.member.member_id != owner):
        return Reason.NOT_OWNER, "issued to another member"
    template = coupon.template
    return _window_reason(cart, coupon.valid_from, coupon.valid_until) or _place_reason(
        cart, template.channels, template.stores
    )


def _coupon_effect(
    coupon: Coupon, covered: tuple[int, ...], lines: tuple[CartLine, ...]
) -> Effect | None:
    template = coupon.template
    benefit = template.benefit
    targets = covered
    if isinstance(benefit, FreeItem):
        targets = tuple(i for i in covered if lines[i].sku == benefit.sku)
        if not targets:
            return None
    binding = Binding(
        Source.COUPON,
        coupon.coupon_id,
        benefit.kind,
        Layer.COUPON,
        targets,
        len(lines),
        stacking=template.stacking,
    )
    condition = summer(covered, len(lines))
    need = template.min_spend_fen
    if isinstance(benefit, FreeItem):
        quantities = tuple(line.quantity for line in lines)
        return CouponEffect(
            binding, condition, need, free_units=benefit.quantity, quantities=quantities
        )
    if isinstance(benefit, CappedPercentOff):
        return CouponEffect(
            binding, condition, need, percent=benefit.percent, amount=benefit.cap_fen or 0
        )
    if isinstance(benefit, ThresholdOff):
        need = max(need, benefit.threshold_fen)
        return CouponEffect(binding, condition, need, amount=benefit.amount_fen)
    assert isinstance(benefit, AmountOff)
    return CouponEffect(binding, condition, need, amount=benefit.amount_fen)


def _bind_coupons(
    cart: Cart,
    lines: tuple[CartLine, ...],
    amounts: Amounts,
    rejections: dict[str, Rejection],
) -> list[Effect]:
    effects: list[Effect] = []
    for coupon in _distinct_coupons(cart.coupons):
        found = _coupon_gate(cart, coupon)
        effect = None
        if found is None:
            scope = coupon.template.scope
            covered = tuple(
                i for i, line in enumerate(lines) if scope.covers(line.sku, line.category)
            )
            effect = _coupon_effect(coupon, covered, lines) if covered else None
            if effect is None:
                found = Reason.NO_ELIGIBLE_LINES, "covers nothing in the cart"
        if effect is not None:
            effect.bound = effect.capped(amounts, amounts)
            if effect.bound > 0:
                effects.append(effect)
                continue
            if not effect.condition_met(amounts):
                found = Reason.THRESHOLD_NOT_MET, "the covered goods do not reach the minimum"
            else:
                found = Reason.NO_BENEFIT, "takes nothing off these lines at their prices"
        assert found is not None
        reason, detail = found
        rejections[coupon.coupon_id] = Rejection(Source.COUPON, coupon.coupon_id, reason, detail)
    effects.sort(key=lambda e: e.key)
    return effects


# --- explaining the choice --------------------------------------------------------------------


def _amounts_before(final: State, rank: int) -> Amounts:
    """The line amounts as layer `rank` began in the chosen combination."""
    state: State | None = final
    while state is not None and state.rank >= rank:
        state = state.parent
    assert state is not None  # the starting state has rank -1
    return state.amounts


def _explain(
    choice: Choice,
    final: State,
    promotions: list[Effect],
    coupons: list[Effect],
    lines: tuple[CartLine, ...],
) -> tuple[tuple[AppliedDiscount, ...], list[tuple[Effect, Rejection]]]:
    applied: list[AppliedDiscount] = []
    explained: list[tuple[Effect, Rejection]] = []
    chosen: list[Effect] = []
    for state in final.history():
        effect = state.effect
        assert effect is not None
        chosen.append(effect)
        assert state.discount > 0  # the search never keeps an offer that takes nothing
        shares = tuple(
            LineShare(lines[i].line_no, part)
            for i, part in zip(effect.lines, state.parts, strict=True)
            if part
        )
        applied.append(
            AppliedDiscount(
                effect.source, effect.source_id, effect.kind, effect.layer, state.discount, shares
            )
        )
    chosen_ids = {(e.source, e.source_id) for e in chosen}
    chosen_promotions = [e for e in chosen if e.source is Source.PROMOTION]
    chosen_coupons = [e for e in chosen if e.source is Source.COUPON]
    not_chosen = "the best combination is cheaper without it"
    if not choice.complete:
        not_chosen = "not in the best combination found within the search bound"
    for effect in [*promotions, *coupons]:
        if (effect.source, effect.source_id) in chosen_ids:
            continue
        if effect.source is Source.PROMOTION:
            found = _promotion_left_out(effect, chosen_promotions, chosen_coupons, final)
        else:
            found = _coupon_left_out(effect, chosen_promotions, chosen_coupons, final)
        reason, detail = found or (Reason.WORSE_THAN_CHOSEN, not_chosen)
        explained.append((effect, _reject(effect, reason, detail)))
    return tuple(applied), explained


def _reject(effect: Effect, reason: Reason, detail: str) -> Rejection:
    return Rejection(effect.source, effect.source_id, reason, detail)


def _promotion_left_out(
    effect: Effect, promotions: list[Effect], coupons: list[Effect], final: State
) -> tuple[Reason, str] | None:
    for other in promotions:
        if effect.group is not None and other.group == effect.group:
            return Reason.MUTUALLY_EXCLUSIVE, f"group {effect.group}: {other.source_id} is better"
        shares_a_line = not set(effect.lines).isdisjoint(other.lines)
        if effect.pool is not None and other.pool == effect.pool and shares_a_line:
            return (
                Reason.MUTUALLY_EXCLUSIVE,
                f"a line takes one {effect.pool} offer; {other.source_id} is better",
            )
    for coupon in coupons:
        if not coupon.allows_promotions:
            return Reason.NOT_STACKABLE, f"coupon {coupon.source_id} excludes promotions"
    if not effect.condition_met(_amounts_before(final, effect.rank)):
        return Reason.THRESHOLD_NOT_MET, "not reached after the item-level discounts"
    return None


def _coupon_left_out(
    effect: Effect, promotions: list[Effect], coupons: list[Effect], final: State
) -> tuple[Reason, str] | None:
    if promotions and not effect.allows_promotions:
        return Reason.NOT_STACKABLE, "does not combine with promotions"
    for other in coupons:
        if not (effect.allows_coupons and other.allows_coupons):
            return Reason.NOT_STACKABLE, f"does not combine with coupon {other.source_id}"
    if not effect.condition_met(_amounts_before(final, LAYER_ORDER[Layer.COUPON])):
        return Reason.THRESHOLD_NOT_MET, "the minimum is not reached after promotions"
    return None


def _priced_lines(lines: tuple[CartLine, ...], final: State) -> tuple[PricedLine, ...]:
    shares: list[list[LineDiscount]] = [[] for _ in lines]
    for state in final.history():
        effect = state.effect
        assert effect is not None
        for i, part in zip(effect.lines, state.parts, strict=True):
            if part:
                shares[i].append(LineDiscount(effect.source, effect.source_id, part))
    return tuple(
        PricedLine(
            line.line_no,
            line.sku,
            line.quantity,
            line.list_total_fen,
            tuple(shares[i]),
            final.amounts[i],
        )
        for i, line in enumerate(lines)
    )
