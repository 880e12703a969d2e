"""Checkout pricing: Yipan's own channels charge what Yipan's price policy and promotions say.

A marketplace or a distributor has already charged its customer, so its prices are kept as sent.
An order from one of Yipan's own channels (online shop, mini-program, a guide's tablet) is priced
here instead: each SKU's price comes from the catalogue's price policy for the channel and the
store's region, and the promotions engine applies the promotions in force and the coupons the
customer offers. What the engine allocates to each line becomes the line's discount, so a return
refunds what that line paid. Promotions and coupons are redeemed in the order's transaction: the
order and the use of the coupon are taken together or not at all.

The client still sends the prices it showed and the total it asked the customer to pay; if Yipan
prices the cart differently (a price or a promotion changed since), the order is refused with the
fresh figures rather than charged at a price the customer did not see. A member whose tier ships
free (the tier ladder's benefits) is charged no shipping: the quote says so, and an order asking
for a fee is refused. A member may pay part of the goods with points (`points_used`; `total_fen`
is then the money): they are spent in the order's transaction through the members' ledger
(`take_points_with`) and spread over the lines, whose `paid_fen` is the money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from yipan.catalog import prices as catalog_prices
from yipan.channels.domain import priced_by_yipan
from yipan.channels.schemas import ChannelOut
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import FixedClock
from yipan.kernel.money import allocate_discount
from yipan.orders.errors import InvalidOrder, PriceChanged, ShippingIsFree
from yipan.orders.models import OrderLine
from yipan.orders.schemas import OrderIn
from yipan.promotions.errors import UnknownRedemption
from yipan.promotions.schemas import (
    MemberIn,
    QuoteLineIn,
    RedeemIn,
    RedemptionOut,
    RestorationOut,
    ReturnedLineIn,
    ReturnedUnitsIn,
)
from yipan.promotions.service import redemptions


def redemption_ref(channel: str, external_id: str) -> str:
    """The promotions' reference for the order `external_id` of `channel`."""
    return f"order:{channel}:{external_id}"


@dataclass(frozen=True)
class PointsPaid:
    """The points an order's member paid part of its goods with, and what they paid, each
    spread over the lines (line number → amount)."""

    used: int = 0
    fen: int = 0
    used_by_line: Mapping[int, int] = field(default_factory=dict)
    fen_by_line: Mapping[int, int] = field(default_factory=dict)

    def used_of(self, line_no: int) -> int:
        return self.used_by_line.get(line_no, 0)

    def fen_of(self, line_no: int) -> int:
        return self.fen_by_line.get(line_no, 0)


NO_POINTS = PointsPaid()


@dataclass(frozen=True)
class PointsSpent:
    value_fen: int  # what the points pay
    step: int  # the smallest number of points worth a whole number of fen


class PointsTender(Protocol):
    """The members' points ledger as an order's tender, in the order's transaction."""

    def spend(
        self, session: Session, member_id: str, points: int, reference: str, channel: str
    ) -> PointsSpent: ...

    def give_back(
        self, session: Session, member_id: str, points: int, reference: str, reason: str
    ) -> int:
        """The points given back to the member (fewer if they can hold none)."""
        ...


_tenders: list[PointsTender] = []


def take_points_with(tender: PointsTender) -> None:
    """Let orders of Yipan's own channels be paid partly with points through `tender`,
    registered at start (`yipan.wiring.compose`): members read orders, so orders cannot ask
    members directly. Without it, an order offering points is refused."""
    if tender not in _tenders:
        _tenders.append(tender)


def points_tender() -> PointsTender | None:
    return _tenders[0] if _tenders else None


def price_order(
    session: Session, channel: ChannelOut, order_in: OrderIn, now: datetime
) -> tuple[OrderIn, PointsPaid]:
    """`order_in` as it must be charged, and the points it is paid with: unchanged from a
    channel that charges its own prices; from Yipan's own channels, priced by the policy and the
    promotions, which are redeemed, and the points the member offers spent."""
    if not priced_by_yipan(channel.type):
        if order_in.coupon_codes or order_in.points_used:
            raise InvalidOrder(
                f"channel {channel.code} charges its own prices and takes its own payment; "
                "coupons and points are taken only on Yipan's own channels (at a till: "
                "POST /api/v1/coupons/{code}/redeem, POST /api/v1/members/{id}/points/redeem)",
                channel=channel.code,
            )
        return order_in, NO_POINTS
    member_id = order_in.customer.member_id if order_in.customer else None
    spent = _spend_points(session, channel, order_in, member_id)
    discounted = [no for no, ln in enumerate(order_in.lines, 1) if ln.line_discount_fen]
    if discounted or order_in.order_discount_fen:
        raise InvalidOrder(
            f"on channel {channel.code} Yipan computes the discounts from its promotions and "
            "the coupons offered: send coupon_codes, and no line_discount_fen or "
            "order_discount_fen",
            channel=channel.code,
            line_nos=discounted,
        )
    skus = [ln.sku for ln in order_in.lines]
    region = inventory_nodes.get_node(session, order_in.store).province if order_in.store else None
    policy = catalog_prices.effective_prices(
        session, skus, channel=channel.code, region=region, at=now
    )
    changed = [
        {"line_no": no, "sku": ln.sku, "sent_fen": ln.unit_price_fen, "price_fen": price}
        for no, ln in enumerate(order_in.lines, 1)
        if ln.unit_price_fen != (price := policy[ln.sku].price_fen)
    ]
    if changed:
        first = changed[0]
        raise PriceChanged(
            f"{first['sku']} costs {first['price_fen']} fen on {channel.code} now, "
            f"not {first['sent_fen']}",
            lines=changed,
        )
    redemption = redemptions.redeem(
        session,
        RedeemIn(
            order_ref=redemption_ref(channel.code, order_in.external_id),
            channel=channel.code,
            store=order_in.store,
            member=MemberIn(id=order_in.customer.member_id)
            if order_in.customer and order_in.customer.member_id
            else None,
            lines=[
                QuoteLineIn(
                    line_no=no,
                    sku=ln.sku,
                    category=policy[ln.sku].category,
                    quantity=ln.quantity,
                    unit_price_fen=ln.unit_price_fen,
                )
                for no, ln in enumerate(order_in.lines, 1)
            ],
            coupon_codes=order_in.coupon_codes,
            expected_payable_fen=order_in.total_fen - order_in.shipping_fen + spent.value_fen,
        ),
        clock=FixedClock(now),
    )
    if redemption.quote.free_shipping and order_in.shipping_fen:
        member = redemption.member_id
        raise ShippingIsFree(
            f"member {member}'s tier ships free: send shipping_fen 0, not {order_in.shipping_fen}",
            member_id=member,
            shipping_fen=order_in.shipping_fen,
        )
    return _with_discounts(order_in, redemption), spread_points(order_in, spent, redemption)


def _spend_points(
    session: Session, channel: ChannelOut, order_in: OrderIn, member_id: str | None
) -> PointsSpent:
    """Spend the points the order offers (nothing if none), refusing an order that cannot."""
    if not order_in.points_used:
        return PointsSpent(0, 1)
    tender = points_tender()
    if member_id is None or tender is None:
        raise InvalidOrder(
            "points pay only for a member's order: name the member (customer.member_id)",
            points_used=order_in.points_used,
        )
    return tender.spend(
        session,
        member_id,
        order_in.points_used,
        redemption_ref(channel.code, order_in.external_id),
        channel.code,
    )


def spread_points(order_in: OrderIn, spent: PointsSpent, redemption: RedemptionOut) -> PointsPaid:
    """The points and their value over the lines, in proportion to what each line costs after
    its discounts, in whole steps of points (each worth whole fen): both sum exactly."""
    if not order_in.points_used:
        return NO_POINTS
    payable = {line.line_no: line.payable_fen for line in redemption.quote.lines}
    units = order_in.points_used // spent.step
    step_fen = spent.value_fen // units
    numbers = sorted(payable)
    # How many steps each line can take without paying more than it costs.
    room = [payable[n] // step_fen for n in numbers]
    if units > sum(room):
        raise InvalidOrder(
            f"{order_in.points_used} points pay {spent.value_fen} fen, more than the goods cost "
            f"after discounts ({sum(payable.values())} fen)",
            points_used=order_in.points_used,
            value_fen=spent.value_fen,
        )
    steps = allocate_discount(units, room)
    used = {n: k * spent.step for n, k in zip(numbers, steps, strict=True)}
    fen = {n: spent.value_fen * points // order_in.points_used for n, points in used.items()}
    return PointsPaid(order_in.points_used, spent.value_fen, used, fen)


def _with_discounts(order_in: OrderIn, redemption: RedemptionOut) -> OrderIn:
    shares = {
        line.line_no: sum(d.discount_fen for d in line.discounts) for line in redemption.quote.lines
    }
    return order_in.model_copy(
        update={
            "lines": [
                ln.model_copy(update={"line_discount_fen": shares[no]})
                for no, ln in enumerate(order_in.lines, 1)
            ]
        }
    )


def units_back(lines: Iterable[OrderLine]) -> dict[int, int]:
    """Per line number, the units the customer no longer has: returned, or never sent because
    the line was cancelled."""
    return {
        ln.line_no: ln.quantity if ln.status == "cancelled" else ln.returned_quantity
        for ln in lines
    }


def restored_details(given_back: RestorationOut | None) -> dict[str, Any]:
    """What a return or a cancellation gave back, as the order's trail records it."""
    if given_back is None:
        return {}
    return {
        "discount_restored_fen": given_back.restored_fen,
        "promotion_budget_restored_fen": given_back.promotion_budget_fen,
        "coupons_restored": given_back.coupons_restored,
    }


def give_back_for_return(
    session: Session, channel: str, external_id: str, returned: dict[int, int], now: datetime
) -> RestorationOut | None:
    """Give back the promotion budgets (and, by policy, the coupons) an order used, as its
    goods come back or its lines are cancelled; `returned` is the units back so far per line
    number (`units_back`). None for an order that redeemed nothing (a marketplace order)."""
    try:
        return redemptions.restore_for_return(
            session,
            redemption_ref(channel, external_id),
            ReturnedUnitsIn(
                returned=[
                    ReturnedLineIn(line_no=no, quantity=quantity)
                    for no, quantity in sorted(returned.items())
                ]
            ),
            clock=FixedClock(now),
        )
    except UnknownRedemption:
        return None
