"""Booking a past year of sales, returns and points exchanges onto members, set at a time.

The live path books each completed order when its `orders.OrderCompleted` event is handled:
points (`points.earn_for_sale`), then spend and an upgrade at once (`tiers.record_sale`), each with
its own queries and locks. For history (a migration, the demo) that is a few hundred thousand
round trips. `record_history` takes the sales, returns and exchanges in one go, replays them in
time order through the same pure rules (`domain.points` earn, reverse, redeem; `domain.tiers`
rolling spend and upgrade) member by member in memory, and inserts the ledgers' rows in bulk:
points entries with their earnings and reversals, the cached balances (equal to the ledger sums
by construction), the spend ledger, the tier history, and each member's tier.

It is meant for members without points or spend yet (history comes first) and refuses others.
It records no outbox events: consumers of `PointsEarned` or `TierChanged` need not hear a year
of them at once. Lots do not expire here: a history of at most a year ends before its first lot
expires (points live 12 to 13 months), and `points.expire_due` books any that do later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from yipan.kernel.bulk import append_rows, reserve_ids
from yipan.kernel.db import among
from yipan.kernel.errors import Conflict
from yipan.members.domain import identifiers as ids
from yipan.members.domain import points as rules
from yipan.members.domain import tiers as tier_rules
from yipan.members.domain.points import (
    LedgerEntry,
    PointsLot,
    PointsPolicy,
    SaleLine,
    UnredeemableAmount,
)
from yipan.members.domain.tiers import BASIS_POINTS, DEFAULT_LADDER, UnknownTier
from yipan.members.errors import ErasedMember, UnknownMember
from yipan.members.models import (
    Member,
    PointsBalance,
    PointsEarning,
    PointsEntry,
    PointsReversal,
    Review,
    SourceRecord,
    SpendEntry,
    TierChange,
)
from yipan.members.service import store
from yipan.members.service.points import default_policy
from yipan.members.service.tiers import RETURN, SALE, UPGRADE, ladder

_ENTRIES = cast(Table, PointsEntry.__table__)
_EARNINGS = cast(Table, PointsEarning.__table__)
_REVERSALS = cast(Table, PointsReversal.__table__)
_BALANCES = cast(Table, PointsBalance.__table__)
_SPEND = cast(Table, SpendEntry.__table__)
_TIERS = cast(Table, TierChange.__table__)
_MEMBERS = cast(Table, Member.__table__)


class HistoryConflict(Conflict):
    """History can only be booked for members with no points or spend of their own yet."""

    code = "MEMBER_HISTORY_CONFLICT"


@dataclass(frozen=True, slots=True)
class HistoricSale:
    """A completed order placed under `member_id`: `lines` are what reached the customer."""

    member_id: str
    order_id: int
    channel: str | None
    at: datetime  # when it completed
    lines: tuple[SaleLine, ...]

    @property
    def paid_fen(self) -> int:
        return sum(line.paid_fen for line in self.lines)


@dataclass(frozen=True, slots=True)
class HistoricReturn:
    """A return of goods from the order `order_id`; `returned_fen_by_line` by line id."""

    member_id: str
    order_id: int
    return_id: int
    channel: str | None
    at: datetime
    refund_fen: int
    returned_fen_by_line: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class HistoricExchange:
    """Points traded for a gift or voucher, if the member had that many usable then (a member
    who had fewer did not get the gift: nothing is booked)."""

    member_id: str
    reference: str
    at: datetime
    channel: str | None
    points: int


@dataclass
class HistoryBooked:
    members: int = 0
    sales: int = 0
    returns: int = 0
    exchanges: int = 0
    points_earned: int = 0
    points_reversed: int = 0
    points_redeemed: int = 0
    points_balance: int = 0
    spend_fen: int = 0
    upgrades: int = 0
    tiers: dict[str, int] = field(default_factory=dict)


@dataclass
class _Book:
    """One member's ledgers while the history is replayed."""

    member_id: int
    tier: str = "normal"
    tier_since: datetime | None = None
    lots: tuple[PointsLot, ...] = ()
    spend: list[tier_rules.SpendEntry] = field(default_factory=list)
    sold_at: dict[int, datetime] = field(default_factory=dict)  # order id → sale date
    earnings: dict[int, list[Any]] = field(default_factory=dict)  # order id → earning row
    last_change: datetime | None = None


def _multiplier_bp(tier: str) -> int:
    # As `points.earn_for_sale`: the default ladder's multiplier, the base rate for others.
    try:
        return DEFAULT_LADDER.get(tier).benefits.points_multiplier_bp
    except UnknownTier:
        return BASIS_POINTS


def record_history(
    session: Session,
    sales: Sequence[HistoricSale],
    returns: Sequence[HistoricReturn] = (),
    exchanges: Sequence[HistoricExchange] = (),
    *,
    now: datetime,
    policy: PointsPolicy | None = None,
) -> HistoryBooked:
    """Book the history in time order and write it; returns what was booked."""
    policy = policy or default_policy()
    steps = ladder()
    tz = ZoneInfo(policy.timezone)
    named = {s.member_id for s in sales} | {r.member_id for r in returns}
    named |= {x.member_id for x in exchanges}
    holders = _holders(session, sorted(named))
    _refuse_members_with_history(session, sorted(set(holders.values())))
    books: dict[int, _Book] = {}
    rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    earning_ids = iter(reserve_ids(session, _EARNINGS, len(sales)))
    booked = HistoryBooked()
    # Sales before the returns and exchanges of the same instant, as the events would arrive.
    timeline: list[tuple[datetime, int, int, Any]] = [
        *((s.at, 0, i, s) for i, s in enumerate(sales)),
        *((r.at, 1, i, r) for i, r in enumerate(returns)),
        *((x.at, 2, i, x) for i, x in enumerate(exchanges)),
    ]
    timeline.sort(key=lambda item: item[:3])
    for at, _, _, item in timeline:
        origin = store.parse_id(item.member_id)
        holder = holders[origin]
        book = books.get(holder)
        if book is None:
            book = books[holder] = _Book(holder)
        if isinstance(item, HistoricSale):
            _sale(book, origin, item, next(earning_ids), policy, steps, tz, rows, booked)
        elif isinstance(item, HistoricReturn):
            _return(book, origin, item, policy, rows, booked)
        else:
            _exchange(book, item, policy, rows, booked)
        book.last_change = at
    _write(session, books, rows, now, booked)
    return booked


def _holders(session: Session, public_ids: Sequence[str]) -> dict[int, int]:
    """Each named member → the member holding its points now (itself unless merged away)."""
    wanted = [store.parse_id(m) for m in public_ids]
    try:
        found = store.holders(session, wanted)
    except KeyError as missing:
        unknown = store.public_id(int(missing.args[0]))
        raise UnknownMember(f"no member {unknown}", member_id=unknown) from None
    erased = [m for m, (_, status) in found.items() if status == store.ERASED]
    if erased:
        raise ErasedMember(
            f"member {store.public_id(erased[0])} was erased",
            member_id=store.public_id(erased[0]),
        )
    return {member: holder for member, (holder, _) in found.items()}


def _refuse_members_with_history(session: Session, member_ids: Sequence[int]) -> None:
    for table in (_BALANCES, _SPEND):
        for condition in among(session, table.c.member_id, member_ids):
            taken = session.scalar(select(table.c.member_id).where(condition).limit(1))
            if taken is not None:
                raise HistoryConflict(
                    f"member {store.public_id(taken)} has points or spend already; history is "
                    "booked before anything else",
                    member_id=store.public_id(taken),
                )


def _sale(
    book: _Book,
    origin: int,
    sale: HistoricSale,
    earning_id: int,
    policy: PointsPolicy,
    steps: tier_rules.TierLadder,
    tz: ZoneInfo,
    rows: dict[str, list[tuple[Any, ...]]],
    booked: HistoryBooked,
) -> None:
    order_ref = f"order:{sale.order_id}"
    earning = rules.earn(
        (),  # the lot is new by its name: one per sale
        sale.lines,
        multiplier_bp=_multiplier_bp(book.tier),
        at=sale.at,
        sale_ref=order_ref,
        policy=policy,
    )
    row = [
        earning_id,
        order_ref,
        book.member_id,
        origin,
        earning.lot_id,
        earning.points,
        earning.eligible_fen,
        earning.excluded_fen,
        sorted(earning.eligible_lines),
        sale.channel,
        0,  # returned_fen, settled_points: filled in by later returns
        0,
        sale.at,
        sale.at,
    ]
    rows["earnings"].append(row)  # type: ignore[arg-type]
    book.earnings[sale.order_id] = row
    if earning.points:
        _entries(book, earning.entries, sale.channel, None, rows)
        booked.points_earned += earning.points
    paid = sale.paid_fen
    rows["spend"].append(
        (book.member_id, origin, f"{SALE}:{order_ref}", order_ref, SALE, sale.channel, paid,
         sale.at, sale.at)
    )  # fmt: skip
    book.spend.append(tier_rules.SpendEntry(sale.at, paid))
    book.sold_at[sale.order_id] = sale.at
    booked.sales += 1
    booked.spend_fen += paid
    spend = tier_rules.rolling_net_spend(book.spend, sale.at, tz)
    change = tier_rules.evaluate_upgrade(steps, steps.tiers[_rank(steps, book.tier)].code, spend)
    if change.changed and _rank(steps, change.current.code) > _rank(steps, book.tier):
        rows["tiers"].append(
            (book.member_id, book.tier, change.current.code, UPGRADE, spend, order_ref, sale.at)
        )
        book.tier, book.tier_since = change.current.code, sale.at
        booked.upgrades += 1


def _return(
    book: _Book,
    origin: int,
    ret: HistoricReturn,
    policy: PointsPolicy,
    rows: dict[str, list[tuple[Any, ...]]],
    booked: HistoryBooked,
) -> None:
    order_ref = f"order:{ret.order_id}"
    reference = f"{RETURN}:{ret.return_id}"
    sold_at = book.sold_at.get(ret.order_id)
    rows["spend"].append(
        (book.member_id, origin, reference, order_ref, RETURN, ret.channel, -ret.refund_fen,
         sold_at, ret.at)
    )  # fmt: skip
    if sold_at is not None:
        book.spend.append(tier_rules.SpendEntry(sold_at, -ret.refund_fen))
    booked.returns += 1
    booked.spend_fen -= ret.refund_fen
    row = book.earnings.get(ret.order_id)
    if row is None:  # the sale was not booked (not completed): nothing earned to take back
        return
    reversal = rules.reverse_for_return(
        book.lots,
        rules.Earning(
            sale_ref=row[1],
            lot_id=row[4],
            points=row[5],
            eligible_fen=row[6],
            excluded_fen=row[7],
            eligible_lines=frozenset(row[8]),
            entries=(),
        ),
        ret.returned_fen_by_line,
        refund_fen=ret.refund_fen,
        at=ret.at,
        reference=reference,
        already_returned_fen=row[10],
        already_settled_points=row[11],
        policy=policy,
    )
    rows["reversals"].append(
        (
            row[0],
            reference,
            reversal.returned_fen_total - row[10],
            reversal.points_reversed,
            reversal.points_short,
            reversal.refund_deduction_fen,
            reversal.forgiven_fen,
            ret.at,
        )
    )
    row[10], row[11], row[13] = reversal.returned_fen_total, reversal.settled_points_total, ret.at
    _entries(book, reversal.entries, ret.channel, None, rows)
    booked.points_reversed += reversal.points_reversed


def _exchange(
    book: _Book,
    exchange: HistoricExchange,
    policy: PointsPolicy,
    rows: dict[str, list[tuple[Any, ...]]],
    booked: HistoryBooked,
) -> None:
    points = exchange.points
    if points <= 0 or points % policy.redeem_step:
        raise UnredeemableAmount(
            f"points are redeemed in positive multiples of {policy.redeem_step}",
            points=points,
            step=policy.redeem_step,
        )
    if rules.usable_balance(book.lots, exchange.at) < points:
        return
    redemption = rules.redeem(
        book.lots, points, at=exchange.at, reference=exchange.reference, policy=policy
    )
    _entries(book, redemption.entries, exchange.channel, None, rows)
    booked.exchanges += 1
    booked.points_redeemed += points


def _entries(
    book: _Book,
    entries: Iterable[LedgerEntry],
    channel: str | None,
    actor: str | None,
    rows: dict[str, list[tuple[Any, ...]]],
) -> None:
    entries = tuple(entries)
    book.lots = rules.apply(book.lots, entries)
    rows["entries"].extend(
        (
            book.member_id,
            e.kind.value,
            e.lot_id,
            e.points,
            e.at,
            e.reference,
            e.reason,
            e.expires_at,
            channel,
            actor,
        )
        for e in entries
    )


def _rank(steps: tier_rules.TierLadder, code: str) -> int:
    codes = [t.code for t in steps.tiers]
    return codes.index(code) if code in codes else 0


_ENTRY_COLUMNS = (
    "member_id",
    "kind",
    "lot_id",
    "points",
    "at",
    "reference",
    "reason",
    "expires_at",
    "channel",
    "actor",
)
_EARNING_COLUMNS = (
    "id",
    "sale_ref",
    "member_id",
    "origin_member_id",
    "lot_id",
    "points",
    "eligible_fen",
    "excluded_fen",
    "eligible_lines",
    "channel",
    "returned_fen",
    "settled_points",
    "created_at",
    "updated_at",
)
_REVERSAL_COLUMNS = (
    "earning_id",
    "reference",
    "returned_fen",
    "points_reversed",
    "points_short",
    "refund_deduction_fen",
    "forgiven_fen",
    "at",
)
_SPEND_COLUMNS = (
    "member_id",
    "origin_member_id",
    "source_ref",
    "order_ref",
    "kind",
    "channel",
    "amount_fen",
    "sold_at",
    "at",
)
_TIER_COLUMNS = ("member_id", "from_tier", "to_tier", "reason", "spend_fen", "reference", "at")


def _write(
    session: Session,
    books: Mapping[int, _Book],
    rows: dict[str, list[tuple[Any, ...]]],
    now: datetime,
    booked: HistoryBooked,
) -> None:
    append_rows(session, _EARNINGS, _EARNING_COLUMNS, [tuple(r) for r in rows["earnings"]])
    append_rows(session, _REVERSALS, _REVERSAL_COLUMNS, rows["reversals"])
    append_rows(session, _ENTRIES, _ENTRY_COLUMNS, rows["entries"])
    append_rows(session, _SPEND, _SPEND_COLUMNS, rows["spend"])
    append_rows(session, _TIERS, _TIER_COLUMNS, rows["tiers"])
    balances = []
    tiers: dict[str, int] = defaultdict(int)
    changed: list[dict[str, Any]] = []
    for member_id in sorted(books):
        book = books[member_id]
        balance = rules.balance(book.lots)
        booked.points_balance += balance
        tiers[book.tier] += 1
        balances.append((member_id, balance, book.last_change or now))
        if book.tier_since is not None:
            changed.append(
                {"b_id": member_id, "b_tier": book.tier, "b_since": book.tier_since, "b_at": now}
            )
    append_rows(session, _BALANCES, ("member_id", "balance", "updated_at"), balances)
    if changed:
        session.execute(
            update(_MEMBERS)
            .where(_MEMBERS.c.id == bindparam("b_id"))
            .values(
                tier=bindparam("b_tier"),
                tier_since=bindparam("b_since"),
                updated_at=bindparam("b_at"),
            ),
            changed,
        )
    booked.members = len(books)
    booked.tiers = dict(sorted(tiers.items()))


def bind_guides(session: Session, bindings: Mapping[str, tuple[str, str]], now: datetime) -> int:
    """Bind each member to the guide (and that guide's store) who serves them; returns how many."""
    rows = [
        {"b_id": store.parse_id(member), "b_guide": guide, "b_store": shop, "b_at": now}
        for member, (guide, shop) in sorted(bindings.items())
    ]
    if rows:
        session.execute(
            update(_MEMBERS)
            .where(_MEMBERS.c.id == bindparam("b_id"))
            .values(
                guide=bindparam("b_guide"), store=bindparam("b_store"), updated_at=bindparam("b_at")
            ),
            rows,
        )
    return len(rows)


@dataclass(frozen=True)
class MemberCounts:
    active: int
    records: int
    open_reviews: int


def counts(session: Session) -> MemberCounts:
    """How many members there are (merged-away ones not counted), their records, open reviews."""
    return MemberCounts(
        active=session.scalar(
            select(func.count()).select_from(Member).where(Member.status == store.ACTIVE)
        )
        or 0,
        records=session.scalar(select(func.count()).select_from(SourceRecord)) or 0,
        open_reviews=session.scalar(
            select(func.count()).select_from(Review).where(Review.status == "open")
        )
        or 0,
    )


def members_of_records(session: Session, keys: Iterable[ids.RecordKey]) -> dict[ids.RecordKey, str]:
    """The member each stored source record belongs to now (merged-away members followed)."""
    found = store.find_records(session, keys)
    holders = store.holders(session, {member for _, member, _ in found.values()})
    return {key: store.public_id(holders[member][0]) for key, (_, member, _) in found.items()}
