"""Points ledger rules: earn, redeem, expire, reverse on return, adjust.

The ledger is append-only; every function here takes the member's current lots and returns the
new entries, and `apply` turns lots plus entries into the next lots. A lot is what one earning
(or one positive adjustment) opened; its `remaining` is the sum of the entries booked against
it, so the balance (the sum of remaining) equals the sum of the ledger by construction, and no
entry ever takes a lot below zero, so the balance is never negative.

Rounding, always towards the member keeping less of an uncertain fraction, never towards
creating points out of nothing:

- earn: floor(eligible fen × earn rate × tier multiplier), once per sale, so a fraction lost is
  less than one point per sale, not one per line. Lines in excluded categories (checked against
  the line's category and its ancestors) and money paid with points earn nothing.
- reverse on return: cumulative, like refunds. After returns worth R of the sale's eligible E
  fen, floor(points × R / E) have been settled in total; each return settles the difference, so
  any split of returns settles exactly the points earned once everything is back.
- redemption value: floor(points × value / points per value); redeeming is allowed in steps
  that are worth a whole number of fen, so no fraction of a fen is ever paid out.

Order: redemption, negative adjustments and expiry take lots soonest-to-expire first (oldest
first: lots expire in the order they were opened). Expiry: a lot opened in month M (tenant's
wall clock) expires at the end of month M + 12, i.e. at 00:00 on the first day of month M + 13,
so every point lives between 12 and 13 months and expiry runs once a month. A lot past its
expiry no longer counts for redemption even before `expire` has booked its entry.

Points already spent when their sale is returned: the reversal takes what it can, first from the
sale's own lot, then from other lots (soonest to expire first, which takes points that are about
to lapse before good ones), and never below zero. The rest is settled in money: its value at the
redemption rate is deducted from the refund, up to the refund itself; what the refund cannot
cover is forgiven and reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from math import gcd
from zoneinfo import ZoneInfo

from yipan.kernel.errors import Conflict, InvalidInput

BASIS_POINTS = 10_000


class EntryKind(StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"


class InsufficientPoints(Conflict):
    code = "INSUFFICIENT_POINTS"


class UnredeemableAmount(InvalidInput):
    code = "UNREDEEMABLE_POINTS"


class ReturnExceedsSale(Conflict):
    code = "RETURN_EXCEEDS_SALE"


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row. `points` is signed: positive opens a lot, negative takes from one."""

    kind: EntryKind
    lot_id: str
    points: int
    at: datetime
    reference: str
    reason: str = ""
    expires_at: datetime | None = None  # set exactly on the entries that open a lot


@dataclass(frozen=True)
class PointsLot:
    lot_id: str
    opened_at: datetime
    expires_at: datetime
    points_opened: int
    remaining: int

    def usable_at(self, at: datetime) -> bool:
        return self.remaining > 0 and at < self.expires_at


@dataclass(frozen=True)
class PointsPolicy:
    """Rates as integer ratios: `earn_points` per `earn_per_fen` fen, `redeem_points` worth
    `redeem_value_fen` fen. Defaults: 1 point per yuan, 100 points = 1 yuan."""

    earn_points: int = 1
    earn_per_fen: int = 100
    redeem_points: int = 100
    redeem_value_fen: int = 100
    excluded_categories: frozenset[str] = frozenset()
    expiry_months: int = 12
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if self.earn_points < 0 or self.earn_per_fen <= 0:
            raise ValueError("earn rate must be a non-negative number of points per positive fen")
        if self.redeem_points <= 0 or self.redeem_value_fen <= 0:
            raise ValueError("redemption rate must be positive")
        if self.expiry_months < 0:
            raise ValueError("expiry_months must not be negative")
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first earning

    @property
    def redeem_step(self) -> int:
        """The smallest number of points worth a whole number of fen."""
        return self.redeem_points // gcd(self.redeem_points, self.redeem_value_fen)

    def value_fen(self, points: int) -> int:
        return points * self.redeem_value_fen // self.redeem_points


DEFAULT_POLICY = PointsPolicy()


@dataclass(frozen=True)
class SaleLine:
    """`paid_fen` is money paid for the line after discounts and after any points used on it;
    `categories` holds the line's category and its ancestors."""

    line_id: str
    paid_fen: int
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Earning:
    """What a sale earned; the service keeps it with the sale to reverse returns against."""

    sale_ref: str
    lot_id: str
    points: int
    eligible_fen: int
    excluded_fen: int
    eligible_lines: frozenset[str]
    entries: tuple[LedgerEntry, ...]


@dataclass(frozen=True)
class Redemption:
    points: int
    value_fen: int
    entries: tuple[LedgerEntry, ...]


@dataclass(frozen=True)
class Reversal:
    """`returned_fen_total` and `settled_points_total` are what to pass to the next return."""

    points_reversed: int
    points_short: int
    refund_deduction_fen: int
    forgiven_fen: int
    returned_fen_total: int
    settled_points_total: int
    entries: tuple[LedgerEntry, ...]


# --- lots and the ledger ------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return value


def _oldest_first(lot: PointsLot) -> tuple[datetime, datetime, str]:
    return lot.expires_at, lot.opened_at, lot.lot_id


def expiry_for(opened_at: datetime, policy: PointsPolicy = DEFAULT_POLICY) -> datetime:
    """End of the month `expiry_months` after the one `opened_at` falls in (tenant time), in UTC."""
    tz = ZoneInfo(policy.timezone)
    local = _aware(opened_at).astimezone(tz)
    index = local.year * 12 + local.month - 1 + policy.expiry_months + 1
    year, month = divmod(index, 12)
    return datetime(year, month + 1, 1, tzinfo=tz).astimezone(UTC)


def apply(lots: Iterable[PointsLot], entries: Iterable[LedgerEntry]) -> tuple[PointsLot, ...]:
    """The lots after `entries`; refuses an entry that opens a known lot or overdraws one."""
    by_id = {lot.lot_id: lot for lot in lots}
    for entry in entries:
        if entry.expires_at is not None:
            if entry.lot_id in by_id:
                raise ValueError(f"lot {entry.lot_id} is already open")
            if entry.points <= 0:
                raise ValueError("an entry that opens a lot must add points")
            by_id[entry.lot_id] = PointsLot(
                entry.lot_id, entry.at, entry.expires_at, entry.points, entry.points
            )
            continue
        lot = by_id.get(entry.lot_id)
        if lot is None:
            raise ValueError(f"entry against unknown lot {entry.lot_id}")
        remaining = lot.remaining + entry.points
        if entry.points >= 0 or remaining < 0:
            raise ValueError(f"entry of {entry.points} cannot apply to lot {entry.lot_id}")
        by_id[entry.lot_id] = replace(lot, remaining=remaining)
    return tuple(sorted(by_id.values(), key=_oldest_first))


def lots_from_ledger(entries: Iterable[LedgerEntry]) -> tuple[PointsLot, ...]:
    return apply((), entries)


def balance(lots: Iterable[PointsLot]) -> int:
    return sum(lot.remaining for lot in lots)


def usable_balance(lots: Iterable[PointsLot], at: datetime) -> int:
    """Points that can be redeemed at `at`: lots past expiry no longer count."""
    return sum(lot.remaining for lot in lots if lot.usable_at(at))


def _take(
    lots: Sequence[PointsLot],
    points: int,
    kind: EntryKind,
    at: datetime,
    reference: str,
    reason: str = "",
) -> tuple[LedgerEntry, ...]:
    """Entries taking `points` from `lots` in the order given; the caller checked there are enough."""
    entries = []
    for lot in lots:
        if points == 0:
            break
        taken = min(points, lot.remaining)
        if taken > 0:
            entries.append(LedgerEntry(kind, lot.lot_id, -taken, at, reference, reason))
            points -= taken
    return tuple(entries)


def _open_lot_id(lots: Iterable[PointsLot], lot_id: str) -> None:
    if any(lot.lot_id == lot_id for lot in lots):
        raise ValueError(f"lot {lot_id} already exists: was this booked before?")


# --- earn ---------------------------------------------------------------------------------------


def eligible_fen(lines: Iterable[SaleLine], policy: PointsPolicy = DEFAULT_POLICY) -> int:
    return sum(ln.paid_fen for ln in lines if not (ln.categories & policy.excluded_categories))


def earn(
    lots: Iterable[PointsLot],
    lines: Sequence[SaleLine],
    *,
    multiplier_bp: int,
    at: datetime,
    sale_ref: str,
    policy: PointsPolicy = DEFAULT_POLICY,
) -> Earning:
    """Points for a completed sale at the member's tier multiplier (basis points).

    The lot is named `earn:<sale_ref>`, so booking the same sale twice is refused.
    """
    if multiplier_bp < 0:
        raise ValueError("multiplier_bp must not be negative")
    if any(ln.paid_fen < 0 for ln in lines):
        raise ValueError("paid_fen must not be negative")
    if len({ln.line_id for ln in lines}) != len(lines):
        raise ValueError("line ids must be unique within a sale")
    lot_id = f"earn:{sale_ref}"
    lots = tuple(lots)
    _open_lot_id(lots, lot_id)
    eligible = [ln for ln in lines if not (ln.categories & policy.excluded_categories)]
    eligible_total = sum(ln.paid_fen for ln in eligible)
    excluded_total = sum(ln.paid_fen for ln in lines) - eligible_total
    points = (eligible_total * policy.earn_points * multiplier_bp) // (
        policy.earn_per_fen * BASIS_POINTS
    )
    entries: tuple[LedgerEntry, ...] = ()
    if points > 0:
        entries = (
            LedgerEntry(
                EntryKind.EARN, lot_id, points, _aware(at), sale_ref, "", expiry_for(at, policy)
            ),
        )
    return Earning(
        sale_ref=sale_ref,
        lot_id=lot_id,
        points=points,
        eligible_fen=eligible_total,
        excluded_fen=excluded_total,
        eligible_lines=frozenset(ln.line_id for ln in eligible),
        entries=entries,
    )


# --- redeem and expire --------------------------------------------------------------------------


def redeem(
    lots: Iterable[PointsLot],
    points: int,
    *,
    at: datetime,
    reference: str,
    policy: PointsPolicy = DEFAULT_POLICY,
) -> Redemption:
    """Spend `points` from usable lots, oldest first. Raises when the member has fewer."""
    step = policy.redeem_step
    if points <= 0 or points % step:
        raise UnredeemableAmount(
            f"points are redeemed in positive multiples of {step}", points=points, step=step
        )
    usable = sorted((lot for lot in lots if lot.usable_at(_aware(at))), key=_oldest_first)
    available = sum(lot.remaining for lot in usable)
    if points > available:
        raise InsufficientPoints(
            f"{points} points requested, {available} available",
            requested=points,
            available=available,
        )
    entries = _take(usable, points, EntryKind.REDEEM, at, reference)
    return Redemption(points, policy.value_fen(points), entries)


def points_to_cover(fen: int, policy: PointsPolicy = DEFAULT_POLICY) -> int:
    """The fewest redeemable points worth at least `fen` (for "use points to pay X yuan")."""
    if fen < 0:
        raise ValueError("fen must not be negative")
    step = policy.redeem_step
    points = -(-fen * policy.redeem_points // policy.redeem_value_fen)
    return -(-points // step) * step


def expire(lots: Iterable[PointsLot], *, at: datetime) -> tuple[LedgerEntry, ...]:
    """Entries expiring whatever is left of every lot whose expiry is at or before `at`."""
    _aware(at)
    due = sorted(
        (lot for lot in lots if lot.remaining > 0 and lot.expires_at <= at), key=_oldest_first
    )
    return tuple(
        LedgerEntry(EntryKind.EXPIRE, lot.lot_id, -lot.remaining, at, lot.lot_id, "expired")
        for lot in due
    )


# --- reverse on return --------------------------------------------------------------------------


def reverse_for_return(
    lots: Iterable[PointsLot],
    earning: Earning,
    returned_fen_by_line: Mapping[str, int],
    *,
    refund_fen: int,
    at: datetime,
    reference: str,
    already_returned_fen: int = 0,
    already_settled_points: int = 0,
    policy: PointsPolicy = DEFAULT_POLICY,
) -> Reversal:
    """Take back the share of `earning` that this return (refunding `returned_fen_by_line`)
    accounts for; see the module docstring for the rounding and for points already spent.

    `already_returned_fen` and `already_settled_points` are the totals from earlier returns of
    the same sale (the previous `Reversal`'s `returned_fen_total` and `settled_points_total`).
    """
    _aware(at)
    if refund_fen < 0 or already_returned_fen < 0 or already_settled_points < 0:
        raise ValueError("amounts must not be negative")
    if any(fen < 0 for fen in returned_fen_by_line.values()):
        raise ValueError("returned amounts must not be negative")
    returned = sum(
        fen for line, fen in returned_fen_by_line.items() if line in earning.eligible_lines
    )
    back = already_returned_fen + returned
    if back > earning.eligible_fen:
        raise ReturnExceedsSale(
            f"returns of {back} fen exceed the {earning.eligible_fen} fen that earned points",
            sale=earning.sale_ref,
            eligible_fen=earning.eligible_fen,
            returned_fen=back,
        )
    target = earning.points * back // earning.eligible_fen if earning.eligible_fen else 0
    due = max(0, target - already_settled_points)
    lots = tuple(lots)
    own = [lot for lot in lots if lot.lot_id == earning.lot_id]
    others = sorted((lot for lot in lots if lot.lot_id != earning.lot_id), key=_oldest_first)
    order = [*own, *others]
    reversed_points = min(due, sum(lot.remaining for lot in order))
    entries = _take(order, reversed_points, EntryKind.REVERSE, at, reference, earning.sale_ref)
    short = due - reversed_points
    value = policy.value_fen(short)
    deduction = min(value, refund_fen)
    return Reversal(
        points_reversed=reversed_points,
        points_short=short,
        refund_deduction_fen=deduction,
        forgiven_fen=value - deduction,
        returned_fen_total=back,
        settled_points_total=already_settled_points + due,
        entries=entries,
    )


# --- manual adjustments -------------------------------------------------------------------------


def adjust(
    lots: Iterable[PointsLot],
    points: int,
    *,
    reason: str,
    at: datetime,
    reference: str,
    policy: PointsPolicy = DEFAULT_POLICY,
) -> tuple[LedgerEntry, ...]:
    """A manual correction with a reason. Added points open lot `adjust:<reference>` and expire
    like earned ones; removed points come from usable lots, oldest first, never below zero."""
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    if points == 0:
        raise ValueError("an adjustment of zero points changes nothing")
    lots = tuple(lots)
    if points > 0:
        lot_id = f"adjust:{reference}"
        _open_lot_id(lots, lot_id)
        opened = LedgerEntry(
            EntryKind.ADJUST, lot_id, points, _aware(at), reference, reason, expiry_for(at, policy)
        )
        return (opened,)
    usable = sorted((lot for lot in lots if lot.usable_at(_aware(at))), key=_oldest_first)
    available = sum(lot.remaining for lot in usable)
    if -points > available:
        raise InsufficientPoints(
            f"cannot remove {-points} points, {available} available",
            requested=-points,
            available=available,
        )
    return _take(usable, -points, EntryKind.ADJUST, at, reference, reason)
