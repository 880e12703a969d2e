"""Booking what past orders redeemed, set at a time (a migration, the demo).

Live, an order from one of Yipan's own channels is priced and its promotions and coupons are
consumed in its transaction (`redemptions.redeem`), one order at a time. For orders from the past
the discounts are already known; `record_history` writes what that would have left behind: the
redemption row per order (its quote as the engine would show it), the ledger entries with each
line's share, the coupons marked redeemed by that order, and the promotions' use counters raised
by the sums of their entries, so the counters still agree with the ledger.

A coupon is named by its template and owner: the owner's oldest coupon of that template still
issued is the one used. No outbox events are recorded: history is not news.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from yipan.kernel.bulk import bulk_insert, reserve_ids
from yipan.promotions.domain.history import HistoricOffer, HistoricRedemption
from yipan.promotions.domain.outcomes import Source
from yipan.promotions.errors import CouponNotValid, UnknownCouponTemplate, UnknownPromotion
from yipan.promotions.models import (
    CouponRow,
    CouponTemplateRow,
    PromotionRow,
    Redemption,
    RedemptionEntry,
)
from yipan.promotions.service.coupons import ISSUED, REDEEMED

redemptions_t = cast(Table, Redemption.__table__)
entries_t = cast(Table, RedemptionEntry.__table__)
coupons_t = cast(Table, CouponRow.__table__)
promotions_t = cast(Table, PromotionRow.__table__)

CHUNK = 5000


@dataclass
class RedeemedHistory:
    redemptions: int = 0
    coupons_redeemed: int = 0
    promotions: dict[str, tuple[int, int]] = field(default_factory=dict)  # code → (uses, fen)


def record_history(session: Session, redemptions: Sequence[HistoricRedemption]) -> RedeemedHistory:
    """Write the redemptions of past orders; refused whole if a promotion, template or coupon
    they name does not exist (or the coupon was used already)."""
    promotion_ids = _promotion_ids(session, redemptions)
    coupons = _coupons(session, redemptions)
    redemption_ids = reserve_ids(session, redemptions_t, len(redemptions))
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    redeemed: list[dict[str, Any]] = []
    used: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for redemption, redemption_id in zip(redemptions, redemption_ids, strict=True):
        applied: list[tuple[HistoricOffer, str, int | None, int | None]] = []
        for offer in redemption.offers:
            if offer.source is Source.COUPON:
                coupon_id, code = _take_coupon(coupons, offer.code, redemption)
                redeemed.append(
                    {
                        "b_id": coupon_id,
                        "b_at": redemption.at,
                        "b_ref": redemption.order_ref,
                        "b_channel": redemption.channel,
                    }
                )
                applied.append((offer, code, None, coupon_id))
            else:
                tally = used[offer.code]
                tally[0] += 1
                tally[1] += offer.discount_fen
                applied.append((offer, offer.code, promotion_ids[offer.code], None))
        rows.append(
            {
                "id": redemption_id,
                "order_ref": redemption.order_ref,
                "payload_hash": hashlib.sha256(
                    f"history:{redemption.order_ref}".encode()
                ).hexdigest(),
                "channel": redemption.channel,
                "member_id": redemption.member_id,
                "line_quantities": {str(no): qty for no, _, qty, _ in redemption.lines},
                "result": _quote(redemption, [(o, code) for o, code, _, _ in applied]),
                "at": redemption.at,
            }
        )
        entries.extend(
            {
                "redemption_id": redemption_id,
                "order_ref": redemption.order_ref,
                "source": offer.source.value,
                "promotion_id": promotion_id,
                "coupon_id": coupon_id,
                "member_id": redemption.member_id,
                "discount_fen": offer.discount_fen,
                "shares": {str(no): fen for no, fen in offer.shares},
                "restored_fen": 0,
                "at": redemption.at,
                "reversed_at": None,
            }
            for offer, _, promotion_id, coupon_id in applied
        )
        if len(rows) >= CHUNK:
            bulk_insert(session, redemptions_t, rows)
            bulk_insert(session, entries_t, entries)
            rows, entries = [], []
    bulk_insert(session, redemptions_t, rows)
    bulk_insert(session, entries_t, entries)
    if redeemed:
        c = coupons_t.c
        session.execute(
            update(coupons_t)
            .where(c.id == bindparam("b_id"), c.status == ISSUED)
            .values(
                status=REDEEMED,
                redeemed_at=bindparam("b_at"),
                redeemed_order_ref=bindparam("b_ref"),
                redeemed_channel=bindparam("b_channel"),
            ),
            redeemed,
        )
    p = promotions_t.c
    for code, (uses, fen) in sorted(used.items()):
        session.execute(
            update(promotions_t)
            .where(p.id == promotion_ids[code])
            .values(used_fen=p.used_fen + fen, used_count=p.used_count + uses)
        )
    return RedeemedHistory(
        redemptions=len(redemptions),
        coupons_redeemed=len(redeemed),
        promotions={code: (uses, fen) for code, (uses, fen) in sorted(used.items())},
    )


def _promotion_ids(session: Session, redemptions: Sequence[HistoricRedemption]) -> dict[str, int]:
    codes = sorted({o.code for r in redemptions for o in r.offers if o.source is Source.PROMOTION})
    found = {
        row.code: row.id
        for row in session.execute(
            select(PromotionRow.code, PromotionRow.id).where(PromotionRow.code.in_(codes))
        )
    }
    missing = [c for c in codes if c not in found]
    if missing:
        raise UnknownPromotion(f"no promotion {missing[0]}", promotion=missing[0])
    return found


# (template code, owner) → the owner's coupons of that template still issued, oldest first.
_Coupons = dict[tuple[str, str | None], list[tuple[int, str]]]


def _coupons(session: Session, redemptions: Sequence[HistoricRedemption]) -> _Coupons:
    codes = sorted({o.code for r in redemptions for o in r.offers if o.source is Source.COUPON})
    templates = {
        row.code: row.id
        for row in session.execute(
            select(CouponTemplateRow.code, CouponTemplateRow.id).where(
                CouponTemplateRow.code.in_(codes)
            )
        )
    }
    missing = [c for c in codes if c not in templates]
    if missing:
        raise UnknownCouponTemplate(f"no coupon template {missing[0]}", template=missing[0])
    found: _Coupons = defaultdict(list)
    for code, template_id in templates.items():
        rows = session.execute(
            select(CouponRow.id, CouponRow.code, CouponRow.owner_member_id)
            .where(CouponRow.template_id == template_id, CouponRow.status == ISSUED)
            .order_by(CouponRow.id)
        )
        for coupon_id, coupon_code, owner in rows:
            found[(code, owner)].append((coupon_id, coupon_code))
    for held in found.values():
        held.reverse()  # popped from the end: oldest first
    return found


def _take_coupon(
    coupons: _Coupons, template: str, redemption: HistoricRedemption
) -> tuple[int, str]:
    held = coupons.get((template, redemption.member_id))
    if not held:
        raise CouponNotValid(
            f"order {redemption.order_ref}: member {redemption.member_id} holds no unused "
            f"coupon of template {template}",
            template=template,
            member_id=redemption.member_id,
        )
    return held.pop()


def _quote(
    redemption: HistoricRedemption, applied: Sequence[tuple[HistoricOffer, str]]
) -> dict[str, Any]:
    """The redemption's quote as `PriceQuoteOut` shows it (JSON), as if the engine had priced it."""
    per_line: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for offer, code in applied:
        for no, fen in offer.shares:
            per_line[no].append({"source": offer.source.value, "id": code, "discount_fen": fen})
    lines = [
        {
            "line_no": no,
            "sku": sku,
            "quantity": quantity,
            "list_total_fen": total,
            "discounts": per_line[no],
            "payable_fen": total - sum(d["discount_fen"] for d in per_line[no]),
        }
        for no, sku, quantity, total in redemption.lines
    ]
    listed = sum(total for _, _, _, total in redemption.lines)
    discount = sum(offer.discount_fen for offer, _ in applied)
    return {
        "at": redemption.at.isoformat(),
        "lines": lines,
        "applied": [
            {
                "source": offer.source.value,
                "id": code,
                "kind": offer.kind,
                "layer": offer.layer,
                "discount_fen": offer.discount_fen,
                "shares": [{"line_no": no, "discount_fen": fen} for no, fen in offer.shares],
            }
            for offer, code in applied
        ],
        "rejected": [],
        "list_total_fen": listed,
        "discount_fen": discount,
        "payable_fen": listed - discount,
        "search_complete": True,
    }
