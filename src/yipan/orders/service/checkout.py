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
for a fee is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yipan.catalog import prices as catalog_prices
from yipan.channels.domain import priced_by_yipan
from yipan.channels.schemas import ChannelOut
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import FixedClock
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


def price_order(session: Session, channel: ChannelOut, order_in: OrderIn, now: datetime) -> OrderIn:
    """`order_in` as it must be charged: unchanged from a channel that charges its own prices;
    from Yipan's own channels, priced by the policy and the promotions, which are redeemed."""
    if not priced_by_yipan(channel.type):
        if order_in.coupon_codes:
            raise InvalidOrder(
                f"channel {channel.code} charges its own prices; coupons are redeemed only on "
                "Yipan's own channels (at a till: POST /api/v1/coupons/{code}/redeem)",
                channel=channel.code,
            )
        return order_in
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
            expected_payable_fen=order_in.total_fen - order_in.shipping_fen,
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
    return _with_discounts(order_in, redemption)


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
