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

# Yipan's own channels charge what Yipan's price policy and promotions say; the others (a
# marketplace, a distributor, a till with its own pricing) have charged their customer already.
PRICED_BY_YIPAN = frozenset({ChannelType.ONLINE_SHOP, ChannelType.MINI_PROGRAM, ChannelType.GUIDE})

DEFAULT_RETURN_WINDOW_DAYS = 7  # China's statutory "no reason" return period for distance sales


def sells_over_the_counter(channel_type: ChannelType) -> bool:
    return channel_type in FULFILLED_AT_SALE


def priced_by_yipan(channel_type: ChannelType | str) -> bool:
    return channel_type in PRICED_BY_YIPAN
