"""Member tiers from rolling 12-month net spend in fen, across every channel.

Net spend counts sales and subtracts returns. A return is dated by the sale it reverses
(`SpendEntry.sold_at`), so a sale and its return always fall in the same window: a return can
never pull spend below what its sale added, nor cancel spend from a sale already outside the
window. The window is (as_of − 12 calendar months, as_of], months counted on the tenant's wall
clock (Asia/Shanghai by default), the day clamped to the month's end (29 Feb → 28 Feb).

Upgrades happen at once: `evaluate_upgrade` is run after every sale and never lowers a tier.
Downgrades happen only at the yearly review: `yearly_review` moves a member to the tier their
spend qualifies for, but at most one step below the current tier per review (`max_steps_down`).
The soft landing keeps a black-card member who had one thin year at gold rather than dropping
them to normal in one go; a member who really stopped buying still reaches the tier their spend
earns, one review at a time. Pass `max_steps_down=None` to go straight to the qualifying tier.
A consequence of "downgrade only at review": buying, being upgraded and returning everything
keeps the tier until the review; a service that minds delays the upgrade to the end of the
return window.

Benefits are integers: the points multiplier is in basis points (10 000 = ×1), so no float ever
reaches the points arithmetic.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from yipan.kernel.errors import NotFound

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASIS_POINTS = 10_000
REVIEW_MONTHS = 12


class UnknownTier(NotFound):
    code = "UNKNOWN_TIER"


@dataclass(frozen=True)
class Benefits:
    points_multiplier_bp: int = BASIS_POINTS
    member_price: bool = False
    free_shipping: bool = False


@dataclass(frozen=True)
class Tier:
    code: str
    threshold_fen: int
    benefits: Benefits = Benefits()
    name: str = ""


@dataclass(frozen=True)
class TierLadder:
    """Tiers from lowest to highest; the first starts at 0 fen so every member has a tier."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError("a ladder needs at least one tier")
        if self.tiers[0].threshold_fen != 0:
            raise ValueError("the lowest tier must start at 0 fen")
        for lower, upper in pairwise(self.tiers):
            if upper.threshold_fen <= lower.threshold_fen:
                raise ValueError(f"threshold of {upper.code} must be above that of {lower.code}")
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        if any(t.benefits.points_multiplier_bp < 0 for t in self.tiers):
            raise ValueError("a points multiplier cannot be negative")

    def rank(self, code: str) -> int:
        for i, tier in enumerate(self.tiers):
            if tier.code == code:
                return i
        raise UnknownTier(f"no tier {code!r} on this ladder", tier=code)

    def get(self, code: str) -> Tier:
        return self.tiers[self.rank(code)]

    def qualifying(self, spend_fen: int) -> Tier:
        """The highest tier whose threshold `spend_fen` reaches."""
        best = self.tiers[0]
        for tier in self.tiers[1:]:
            if spend_fen < tier.threshold_fen:
                break
            best = tier
        return best


DEFAULT_LADDER = TierLadder(
    (
        Tier("normal", 0, Benefits(), "普通会员"),
        Tier("silver", 100_000, Benefits(12_000, member_price=True), "银卡"),
        Tier("gold", 500_000, Benefits(15_000, member_price=True, free_shipping=True), "金卡"),
        Tier("black", 2_000_000, Benefits(20_000, member_price=True, free_shipping=True), "黑卡"),
    )
)


class ChangeReason(StrEnum):
    UNCHANGED = "unchanged"
    UPGRADE = "upgrade"
    REVIEW_KEPT = "review_kept"
    REVIEW_UPGRADE = "review_upgrade"
    REVIEW_DOWNGRADE = "review_downgrade"


@dataclass(frozen=True)
class TierChange:
    """The outcome of an evaluation; the service records it in the member's tier history."""

    previous: Tier
    current: Tier
    spend_fen: int
    qualifying: Tier
    reason: ChangeReason

    @property
    def changed(self) -> bool:
        return self.previous != self.current


@dataclass(frozen=True)
class SpendEntry:
    """A sale (positive) or a return (negative), dated by the sale. Shipping is not spend."""

    sold_at: datetime
    amount_fen: int


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def shift_months(moment: datetime, months: int, tz: tzinfo = SHANGHAI) -> datetime:
    """`moment` moved by whole calendar months on the tenant's wall clock, day clamped."""
    local = _aware(moment, "moment").astimezone(tz)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day).astimezone(moment.tzinfo)


def window_start(as_of: datetime, tz: tzinfo = SHANGHAI) -> datetime:
    """The exclusive start of the 12-month window ending at `as_of` (for SQL sums, too)."""
    return shift_months(as_of, -REVIEW_MONTHS, tz)


def rolling_net_spend(entries: Iterable[SpendEntry], as_of: datetime, tz: tzinfo = SHANGHAI) -> int:
    """Net spend in fen of the sales made in (as_of − 12 months, as_of]; never below zero."""
    start = window_start(as_of, tz)
    total = 0
    for entry in entries:
        if start < _aware(entry.sold_at, "sold_at") <= as_of:
            total += entry.amount_fen
    return max(0, total)


def evaluate_upgrade(ladder: TierLadder, current_code: str, spend_fen: int) -> TierChange:
    """Raise the tier at once when spend reaches a higher threshold; never lower it."""
    current = ladder.get(current_code)
    qualifying = ladder.qualifying(spend_fen)
    if ladder.rank(qualifying.code) > ladder.rank(current.code):
        return TierChange(current, qualifying, spend_fen, qualifying, ChangeReason.UPGRADE)
    return TierChange(current, current, spend_fen, qualifying, ChangeReason.UNCHANGED)


def yearly_review(
    ladder: TierLadder,
    current_code: str,
    spend_fen: int,
    *,
    max_steps_down: int | None = 1,
) -> TierChange:
    """The tier after the yearly review, given net spend in the 12 months before the review.

    The new tier is the qualifying one, except that it is never more than `max_steps_down`
    below the current tier. Spend above the current tier's threshold upgrades here too.
    """
    if max_steps_down is not None and max_steps_down < 1:
        raise ValueError("max_steps_down must be at least 1 (or None for no limit)")
    current = ladder.get(current_code)
    qualifying = ladder.qualifying(spend_fen)
    rank, target = ladder.rank(current.code), ladder.rank(qualifying.code)
    if target > rank:
        return TierChange(current, qualifying, spend_fen, qualifying, ChangeReason.REVIEW_UPGRADE)
    if target == rank:
        return TierChange(current, current, spend_fen, qualifying, ChangeReason.REVIEW_KEPT)
    floor = target if max_steps_down is None else max(target, rank - max_steps_down)
    new = ladder.tiers[floor]
    return TierChange(current, new, spend_fen, qualifying, ChangeReason.REVIEW_DOWNGRADE)


def next_review_at(last_review_at: datetime, tz: tzinfo = SHANGHAI) -> datetime:
    return shift_months(last_review_at, REVIEW_MONTHS, tz)


def review_due(last_review_at: datetime, now: datetime, tz: tzinfo = SHANGHAI) -> bool:
    """True from the anniversary of the last review on (the member's tier year is over)."""
    return _aware(now, "now") >= next_review_at(last_review_at, tz)
