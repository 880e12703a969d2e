"""Redeeming what a priced order used, once per order, and giving it back when goods come back.

An order's redemption row is inserted first, `ON CONFLICT (order_ref) DO NOTHING`: that insert
is the idempotency check, as for orders. A replay with the same payload answers with the first
result; another payload under the same order_ref is a 409.

Each applied coupon is redeemed by ONE conditional update (`… WHERE status = 'issued' AND (owner
IS NULL OR owner = :member)`), so of two orders racing for a coupon exactly one wins, in any
number of processes; the loser is told why (COUPON_ALREADY_USED). Promotion budgets are consumed
by conditional updates too (`used + this ≤ budget`), on the promotion rows last, in id order:
they are the contended rows, so they are locked only until the commit and never in two orders.
Any refusal rolls the whole redemption back: nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import insert_for, insert_unless_taken
from yipan.promotions.domain.cart import Cart, CartLine, Member, PricedCart
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.domain.pricing import price_cart
from yipan.promotions.errors import (
    BudgetExhausted,
    CouponNotApplicable,
    InvalidReturn,
    MemberLimitReached,
    QuoteChanged,
    RedemptionReplayMismatch,
    UnknownRedemption,
)
from yipan.promotions.events import DiscountsRedeemed, DiscountsRestored
from yipan.promotions.models import (
    CouponRow,
    PromotionMemberUse,
    PromotionRow,
    Redemption,
    RedemptionEntry,
)
from yipan.promotions.schemas import (
    PriceQuoteOut,
    RedeemIn,
    RedemptionOut,
    RestorationOut,
    ReturnedUnitsIn,
    TillRedeemIn,
)
from yipan.promotions.service.coupons import (
    ISSUED,
    REDEEMED,
    explain_lost_redemption,
    normalise_code,
    offered_coupons,
)
from yipan.promotions.service.definitions import active_promotions
from yipan.promotions.service.pricing import completed, price, quote_out, ships_free

redemptions_t = cast(Table, Redemption.__table__)
entries_t = cast(Table, RedemptionEntry.__table__)
coupons_t = cast(Table, CouponRow.__table__)
promotions_t = cast(Table, PromotionRow.__table__)
member_uses_t = cast(Table, PromotionMemberUse.__table__)

# The till sends an order total, not lines: the coupon is judged against one line of that total.
TILL_LINE_SKU = "*order*"


def redeem(session: Session, redeem_in: RedeemIn, *, clock: Clock | None = None) -> RedemptionOut:
    """Price the cart again now and consume every promotion and coupon that applies, once.

    Offered coupons must be usable by this member now (404, 409 otherwise). With
    `expected_payable_fen` a price that moved since the customer's quote is refused
    (QUOTE_CHANGED) rather than charged.
    """
    now = (clock or SystemClock()).now()
    redeem_in = completed(session, redeem_in, now)
    member_id = redeem_in.member.id if redeem_in.member else None
    quantities = {str(ln.line_no): ln.quantity for ln in redeem_in.lines}
    taken = _take(
        session,
        redeem_in.order_ref,
        _digest(redeem_in.model_dump_json()),
        redeem_in.channel,
        member_id,
        quantities,
        now,
    )
    if isinstance(taken, RedemptionOut):
        return taken
    offered = offered_coupons(
        session, redeem_in.coupon_codes, member_id=member_id, at=now, strict=True
    )
    priced = price(session, redeem_in, now, [c for c, _ in offered.values()])
    expected = redeem_in.expected_payable_fen
    if expected is not None and priced.payable_fen != expected:
        raise QuoteChanged(
            f"the cart now costs {priced.payable_fen} fen, not {expected}",
            expected_payable_fen=expected,
            payable_fen=priced.payable_fen,
        )
    coupon_ids = {code: row.id for code, (_, row) in offered.items()}
    return _consume(
        session,
        taken,
        redeem_in.order_ref,
        redeem_in.channel,
        member_id,
        priced,
        coupon_ids,
        now,
        clock,
        free_shipping=ships_free(redeem_in),
    )


def redeem_at_till(
    session: Session, code: str, till_in: TillRedeemIn, *, clock: Clock | None = None
) -> RedemptionOut:
    """A coupon (a member's or a bearer code) scanned at the till, judged on the order total.

    Only coupons on all goods can be judged this way (the till does not send its lines); a
    coupon the order cannot use (threshold, channel, store, goods) is refused with
    COUPON_NOT_APPLICABLE and the domain's reason.
    """
    now = (clock or SystemClock()).now()
    code = normalise_code(code)
    taken = _take(
        session,
        till_in.order_ref,
        _digest(json.dumps({"code": code, **till_in.model_dump(mode="json")}, sort_keys=True)),
        till_in.channel,
        till_in.member_id,
        {"1": 1},
        now,
    )
    if isinstance(taken, RedemptionOut):
        return taken
    offered = offered_coupons(session, [code], member_id=till_in.member_id, at=now, strict=True)
    coupon, row = offered[code]
    priced = price_cart(
        Cart(
            lines=(CartLine(1, TILL_LINE_SKU, TILL_LINE_SKU, 1, till_in.order_total_fen),),
            channel=till_in.channel,
            at=now,
            member=Member(till_in.member_id) if till_in.member_id else None,
            store=till_in.store,
            coupons=(coupon,),
        )
    )
    rejection = priced.rejection(Source.COUPON, code)
    if rejection is not None:
        raise CouponNotApplicable(
            f"coupon {code} cannot be used on this order: {rejection.detail}",
            code=code,
            reason=rejection.reason.value,
        )
    return _consume(
        session,
        taken,
        till_in.order_ref,
        till_in.channel,
        till_in.member_id,
        priced,
        {code: row.id},
        now,
        clock,
    )


def _digest(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()


def _take(
    session: Session,
    order_ref: str,
    digest: str,
    channel: str,
    member_id: str | None,
    quantities: dict[str, int],
    now: datetime,
) -> int | RedemptionOut:
    """The new redemption's id, or the redemption already made for this order (a replay)."""
    new_id = session.execute(
        insert_unless_taken(session, redemptions_t, ("order_ref",)),
        {
            "order_ref": order_ref,
            "payload_hash": digest,
            "channel": channel,
            "member_id": member_id,
            "line_quantities": quantities,
            "result": {},
            "at": now,
        },
    ).scalar()
    if new_id is not None:
        return int(new_id)
    found = session.execute(
        select(Redemption).where(Redemption.order_ref == order_ref)
    ).scalar_one()
    if found.payload_hash != digest:
        raise RedemptionReplayMismatch(
            f"order {order_ref} already redeemed discounts with another cart", order_ref=order_ref
        )
    return _redemption_out(found, created=False)


def _redemption_out(found: Redemption, *, created: bool) -> RedemptionOut:
    return RedemptionOut(
        order_ref=found.order_ref,
        created=created,
        channel=found.channel,
        member_id=found.member_id,
        quote=PriceQuoteOut.model_validate(found.result),
    )


# Built once: every checkout that applies a promotion runs them.
_SET_RESULT = (
    update(redemptions_t)
    .where(redemptions_t.c.id == bindparam("redemption_id"))
    .values(result=bindparam("quote"))
)
_p = promotions_t.c
# Spends a promotion's budget only while some is left: one conditional update, never read first.
_SPEND_PROMOTION = (
    update(promotions_t)
    .where(
        _p.id == bindparam("promotion_id"),
        _p.budget_fen.is_(None) | (_p.used_fen + bindparam("discount") <= _p.budget_fen),
        _p.budget_uses.is_(None) | (_p.used_count + 1 <= _p.budget_uses),
    )
    .values(used_fen=_p.used_fen + bindparam("discount"), used_count=_p.used_count + 1)
    .returning(_p.id, _p.code, _p.per_member_limit)
)


def _consume(
    session: Session,
    redemption_id: int,
    order_ref: str,
    channel: str,
    member_id: str | None,
    priced: PricedCart,
    coupon_ids: dict[str, int],
    now: datetime,
    clock: Clock | None,
    *,
    free_shipping: bool = False,
) -> RedemptionOut:
    promotion_ids = active_promotions(session).ids
    entries: list[dict[str, Any]] = []
    for applied in priced.applied:
        is_coupon = applied.source is Source.COUPON
        entries.append(
            {
                "redemption_id": redemption_id,
                "order_ref": order_ref,
                "source": applied.source.value,
                "promotion_id": None if is_coupon else promotion_ids[applied.source_id],
                "coupon_id": coupon_ids[applied.source_id] if is_coupon else None,
                "member_id": member_id,
                "discount_fen": applied.discount_fen,
                "shares": {str(s.line_no): s.discount_fen for s in applied.shares},
                "restored_fen": 0,
                "at": now,
                "reversed_at": None,
            }
        )
    result = quote_out(priced, now, free_shipping=free_shipping)
    session.execute(
        _SET_RESULT, {"redemption_id": redemption_id, "quote": result.model_dump(mode="json")}
    )
    if entries:
        session.execute(insert(entries_t), entries)
    events.record(
        session,
        DiscountsRedeemed(
            order_ref=order_ref,
            channel=channel,
            member_id=member_id,
            discount_fen=priced.discount_fen,
            offers=[
                {"source": a.source.value, "id": a.source_id, "discount_fen": a.discount_fen}
                for a in priced.applied
            ],
        ),
        clock=clock,
    )
    for entry in sorted(entries, key=lambda e: e["coupon_id"] or 0):
        if entry["coupon_id"] is not None:
            _redeem_coupon(session, entry["coupon_id"], order_ref, channel, member_id, now)
    for entry in sorted(entries, key=lambda e: e["promotion_id"] or 0):
        if entry["promotion_id"] is not None:
            _consume_promotion(session, entry["promotion_id"], entry["discount_fen"], member_id)
    return RedemptionOut(
        order_ref=order_ref, created=True, channel=channel, member_id=member_id, quote=result
    )


def _redeem_coupon(
    session: Session,
    coupon_id: int,
    order_ref: str,
    channel: str,
    member_id: str | None,
    now: datetime,
) -> None:
    c = coupons_t.c
    won = session.execute(
        update(coupons_t)
        .where(
            c.id == coupon_id,
            c.status == ISSUED,
            c.owner_member_id.is_(None) | (c.owner_member_id == member_id),
        )
        .values(
            status=REDEEMED, redeemed_at=now, redeemed_order_ref=order_ref, redeemed_channel=channel
        )
        .returning(c.id)
    ).scalar()
    if won is None:
        raise explain_lost_redemption(session, coupon_id)


def _consume_promotion(
    session: Session, promotion_id: int, discount_fen: int, member_id: str | None
) -> None:
    limit = session.execute(
        _SPEND_PROMOTION, {"promotion_id": promotion_id, "discount": discount_fen}
    ).one_or_none()
    if limit is None:
        code = session.scalar(select(PromotionRow.code).where(PromotionRow.id == promotion_id))
        raise BudgetExhausted(f"promotion {code} has no budget left", promotion=code)
    if limit.per_member_limit is None:
        return
    if member_id is None:  # the quote gives such a promotion nothing without a member
        raise MemberLimitReached(f"promotion {limit.code} needs a member", promotion=limit.code)
    session.execute(
        insert_for(session, member_uses_t)
        .on_conflict_do_nothing(index_elements=["promotion_id", "member_id"])
        .values(promotion_id=promotion_id, member_id=member_id, uses=0)
    )
    m = member_uses_t.c
    counted = session.execute(
        update(member_uses_t)
        .where(
            m.promotion_id == promotion_id,
            m.member_id == member_id,
            m.uses < limit.per_member_limit,
        )
        .values(uses=m.uses + 1)
        .returning(m.uses)
    ).scalar()
    if counted is None:
        raise MemberLimitReached(
            f"member {member_id} has used promotion {limit.code} as often as allowed",
            promotion=limit.code,
            member_id=member_id,
            limit=limit.per_member_limit,
        )


def get_redemption(session: Session, order_ref: str) -> RedemptionOut:
    found = session.scalar(select(Redemption).where(Redemption.order_ref == order_ref))
    if found is None:
        raise UnknownRedemption(f"no redemption for order {order_ref}", order_ref=order_ref)
    return _redemption_out(found, created=False)


def restore_for_return(
    session: Session, order_ref: str, return_in: ReturnedUnitsIn, *, clock: Clock | None = None
) -> RestorationOut:
    """Give back what an order consumed as its goods come back.

    Policy:
    - `return_in` states the units returned so far per line, in total; the call gives back the
      difference from what earlier calls gave back, so a replay gives back nothing more.
    - Promotion budgets (fen) come back in proportion: of each line's share of a discount,
      floor(share × returned / bought) — exactly the whole discount once every unit is back.
    - A use (the promotion's use count and the member's allowance) comes back only when the
      whole order is returned.
    - A coupon comes back to its holder (issued again, same code and validity) only when the
      whole order is returned, and only with `YIPAN_RESTORE_COUPONS_ON_FULL_RETURN` (default
      true); a partial return never restores a coupon — the customer kept part of what it paid
      for.
    """
    now = (clock or SystemClock()).now()
    redemption = session.scalar(
        select(Redemption).where(Redemption.order_ref == order_ref).with_for_update()
    )
    if redemption is None:
        raise UnknownRedemption(f"no redemption for order {order_ref}", order_ref=order_ref)
    bought = {int(no): quantity for no, quantity in redemption.line_quantities.items()}
    returned: dict[int, int] = {}
    for line in return_in.returned:
        if line.line_no not in bought:
            raise InvalidReturn(
                f"order {order_ref} has no line {line.line_no}", line_no=line.line_no
            )
        if line.line_no in returned:
            raise InvalidReturn(f"line {line.line_no} appears twice", line_no=line.line_no)
        if line.quantity > bought[line.line_no]:
            raise InvalidReturn(
                f"line {line.line_no}: {line.quantity} returned of {bought[line.line_no]} bought",
                line_no=line.line_no,
            )
        returned[line.line_no] = line.quantity
    full = all(returned.get(no, 0) == quantity for no, quantity in bought.items())
    restore_coupons = get_settings().restore_coupons_on_full_return
    entries = session.scalars(
        select(RedemptionEntry)
        .where(RedemptionEntry.redemption_id == redemption.id)
        .order_by(RedemptionEntry.id)
        .with_for_update()
    ).all()
    given_back: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # promotion → [fen, uses]
    coupons_back: list[int] = []
    restored_fen = 0
    for entry in entries:
        target = sum(
            share * returned.get(int(no), 0) // bought[int(no)]
            for no, share in entry.shares.items()
        )
        delta = target - entry.restored_fen
        if delta > 0:
            entry.restored_fen = target
            restored_fen += delta
            if entry.promotion_id is not None:
                given_back[entry.promotion_id][0] += delta
        if full and entry.reversed_at is None:
            entry.reversed_at = now
            if entry.promotion_id is not None:
                given_back[entry.promotion_id][1] += 1
            elif entry.coupon_id is not None and restore_coupons:
                coupons_back.append(entry.coupon_id)
    session.flush()
    restored_codes = _restore_coupons(session, coupons_back, order_ref)
    for promotion_id in sorted(given_back):
        fen, uses = given_back[promotion_id]
        _give_back(session, promotion_id, fen, uses, redemption.member_id)
    if restored_fen or restored_codes or any(uses for _, uses in given_back.values()):
        events.record(
            session,
            DiscountsRestored(
                order_ref=order_ref,
                restored_fen=restored_fen,
                full_return=full,
                coupons_restored=restored_codes,
            ),
            clock=clock,
        )
    return RestorationOut(
        order_ref=order_ref,
        restored_fen=restored_fen,
        promotion_budget_fen=sum(fen for fen, _ in given_back.values()),
        full_return=full,
        coupons_restored=restored_codes,
    )


def _restore_coupons(session: Session, coupon_ids: list[int], order_ref: str) -> list[str]:
    if not coupon_ids:
        return []
    c = coupons_t.c
    rows = session.execute(
        update(coupons_t)
        .where(c.id.in_(coupon_ids), c.status == REDEEMED, c.redeemed_order_ref == order_ref)
        .values(status=ISSUED, redeemed_at=None, redeemed_order_ref=None, redeemed_channel=None)
        .returning(c.code)
    ).all()
    return sorted(row.code for row in rows)


def _give_back(
    session: Session, promotion_id: int, fen: int, uses: int, member_id: str | None
) -> None:
    p = promotions_t.c
    limit = session.execute(
        update(promotions_t)
        .where(p.id == promotion_id)
        .values(used_fen=p.used_fen - fen, used_count=p.used_count - uses)
        .returning(p.per_member_limit)
    ).scalar()
    if uses and limit is not None and member_id is not None:
        m = member_uses_t.c
        session.execute(
            update(member_uses_t)
            .where(m.promotion_id == promotion_id, m.member_id == member_id, m.uses >= uses)
            .values(uses=m.uses - uses)
        )
