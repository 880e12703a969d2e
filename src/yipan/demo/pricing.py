"""What the demo's orders paid: each channel's discounts, coupons, shipping.

Yipan's own channels (online shop, mini-program, guides) get the marketing calendar's festival
promotions — the Double 11 category sale on its lines, then 618's 每满减 on what is left — and a
coupon the member holds and fits the order; every discount lands on the lines, as checkout
pricing puts it there. Tmall gives its own discount in the festivals; tills give none here (the
cashier's 抹零 is the till sale's). Online orders under ¥99 pay ¥8 shipping. Pure.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from yipan.demo.marketing import (
    FESTIVAL_PERCENT,
    MANJIAN_OFF_FEN,
    MANJIAN_STEP_FEN,
    OWN_CHANNELS,
    Calendar,
    Campaign,
)
from yipan.kernel.money import allocate_discount
from yipan.orders.domain.history import HistoricOrder
from yipan.promotions.domain.history import HistoricOffer
from yipan.promotions.domain.outcomes import Source

TMALL_FESTIVAL_PERCENT = 10
FREE_SHIPPING_FEN = 9_900
SHIPPING_FEN = 800


@dataclass
class Wallets:
    """The coupons each member was issued, and which they have used."""

    held: dict[str, dict[str, Campaign]] = field(default_factory=dict)  # member → template →
    used: set[tuple[str, str]] = field(default_factory=set)  # (member, template)

    def give(self, member: str, campaign: Campaign) -> None:
        self.held.setdefault(member, {})[campaign.template.code] = campaign

    def take(
        self, rng: random.Random, member: str | None, at: datetime, payable: int
    ) -> tuple[str, int] | None:
        """(template, amount) of a coupon the member uses on an order of `payable` fen, if any."""
        if member is None:
            return None
        for code, campaign in self.held.get(member, {}).items():
            if (member, code) in self.used or not campaign.usable(at):
                continue
            benefit = campaign.template.benefit
            if payable >= getattr(benefit, "threshold_fen", 0) and rng.random() < campaign.use_rate:
                self.used.add((member, code))
                return code, int(getattr(benefit, "amount_fen", 0))
        return None


def price(
    order: HistoricOrder,
    calendar: Calendar,
    category: Mapping[str, str],
    wallets: Wallets,
    rng: random.Random,
) -> tuple[HistoricOffer, ...]:
    """Discount `order` as its channel would; the offers of Yipan's own channels are returned."""
    at = order.placed_at
    june, november = calendar.festivals
    if order.channel == "tmall":
        if june.covers(at) or november.covers(at):
            for line in order.lines:
                line.line_discount_fen = (
                    line.unit_price_fen * line.quantity * TMALL_FESTIVAL_PERCENT // 100
                )
        return ()
    if order.channel not in OWN_CHANNELS:
        return ()
    offers: list[HistoricOffer] = []
    totals = [ln.unit_price_fen * ln.quantity for ln in order.lines]
    if november.covers(at):
        shares = tuple(
            (no, total * FESTIVAL_PERCENT // 100)
            for no, (ln, total) in enumerate(zip(order.lines, totals, strict=True), 1)
            if category[ln.sku] == calendar.festival_category
        )
        if shares:
            code = calendar.category_sale.code
            offers.append(HistoricOffer(Source.PROMOTION, code, "percent_off", "item", shares))
    payable = _payable(totals, offers)
    if june.covers(at) and sum(payable) >= MANJIAN_STEP_FEN:
        off = sum(payable) // MANJIAN_STEP_FEN * MANJIAN_OFF_FEN
        offers.append(
            HistoricOffer(
                Source.PROMOTION,
                calendar.manjian.code,
                "threshold_reduction",
                "order",
                _split(off, payable),
            )
        )
        payable = _payable(totals, offers)
    coupon = wallets.take(rng, order.member_id, at, sum(payable))
    if coupon is not None:
        code, amount = coupon
        offers.append(
            HistoricOffer(Source.COUPON, code, "threshold_off", "coupon", _split(amount, payable))
        )
    for offer in offers:
        for no, fen in offer.shares:
            order.lines[no - 1].line_discount_fen += fen
    return tuple(offers)


def _split(amount: int, payable: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((no, fen) for no, fen in enumerate(allocate_discount(amount, payable), 1) if fen)


def _payable(totals: Sequence[int], offers: Sequence[HistoricOffer]) -> list[int]:
    left = list(totals)
    for offer in offers:
        for no, fen in offer.shares:
            left[no - 1] -= fen
    return left


def add_shipping(order: HistoricOrder) -> None:
    if order.channel in ("online-shop", "mini-program") and any(
        ln.method == "ship" for ln in order.lines
    ):
        paid = sum(ln.subtotal_fen for ln in order.lines)
        order.shipping_fen = SHIPPING_FEN if paid < FREE_SHIPPING_FEN else 0
