"""What past orders redeemed, as plain values for `service.history.record_history`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yipan.promotions.domain.outcomes import Source


@dataclass(frozen=True, slots=True)
class HistoricOffer:
    """One promotion (by code) or coupon (by template code, of the order's member) applied."""

    source: Source
    code: str
    kind: str
    layer: str
    shares: tuple[tuple[int, int], ...]  # (line number, fen)

    @property
    def discount_fen(self) -> int:
        return sum(fen for _, fen in self.shares)


@dataclass(frozen=True, slots=True)
class HistoricRedemption:
    order_ref: str  # `checkout.redemption_ref` of the order
    channel: str
    member_id: str | None
    at: datetime
    lines: tuple[tuple[int, str, int, int], ...]  # line number, SKU, quantity, list total
    offers: tuple[HistoricOffer, ...]
