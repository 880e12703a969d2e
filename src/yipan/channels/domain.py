"""Channel kinds and the rules that come with them."""

from __future__ import annotations

from enum import StrEnum


class ChannelType(StrEnum):
    POS = "pos"
    ONLINE_SHOP = "online_shop"
    MINI_PROGRAM = "mini_program"
    MARKETPLACE = "marketplace"
    GUIDE = "guide"
    DISTRIBUTOR = "distributor"


# Sales at a till are handed over on the spot; everything else is fulfilled after the order.
FULFILLED_AT_SALE = frozenset({ChannelType.POS})

DEFAULT_RETURN_WINDOW_DAYS = 7  # China's statutory "no reason" return period for distance sales


def sells_over_the_counter(channel_type: ChannelType) -> bool:
    return channel_type in FULFILLED_AT_SALE
