"""The points ledger in storage: earn, redeem, reverse on return, expire, adjust, merge transfers.

The rules are pure (`members.domain.points`); this module reads a member's lots from the ledger,
asks the domain for the entries, appends them and keeps the cached balance, which always equals
the sum of the member's ledger.

Concurrency. A change that takes points first locks the member's balance row and only then reads
the lots, so two changes to one member never compute from the same lots. A redemption locks with
its own conditional UPDATE (`balance = balance - :p WHERE balance >= :p`): a till asking for more
than there is gets its refusal at once, and two tills spending the same points queue on the row,
the second seeing the first's balance. Reversals, expiry, negative adjustments and transfers lock
with SELECT … FOR UPDATE and then apply one conditional UPDATE. SQLite serialises writers with
BEGIN IMMEDIATE; the database's CHECK (balance >= 0) is the last guard everywhere. Additions
(earn, positive adjustments) read no lots: they append, then add to the row last, so the lock on
the member's hot row lasts only from that update to the commit.

Merges. When members merge (`members.MembersMerged`), the absorbed member's open lots move, lot
by lot and keeping their expiry, to the survivor as a pair of adjust entries under the reference
`merge:<id>`: both ledgers keep summing to their balances and the survivor's ledger holds every
point. Un-merging (`restore_on_unmerge`, in the un-merge's transaction) gives the absorbed member
back what is left of the lots it brought, and of the lots earned by sales made under its ids
while it was merged (each earning records the member it was made under), wherever later merges
took them, as pairs of adjust entries under `unmerge:<id>` (new lots `<lot>@unmerge:<id>`,
keeping their expiry); those earnings follow their lots, so a later return takes the points back
from the member who has them. What the survivor spent of them stays spent.

Category exclusions come from settings (`YIPAN_POINTS_EXCLUDED_CATEGORIES`): a line earns
nothing when its SKU's category, or any ancestor of it, is excluded. Order lines carry no
category, so it is read through the catalogue's service, the tree kept a few seconds per process.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.events import service as events
from yipan.events.domain import OutboxMessage
from yipan.kernel.cache import ReferenceCache
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import insert_for
from yipan.members.domain import points as rules
from yipan.members.domain.points import (
    EntryKind,
    InsufficientPoints,
    LedgerEntry,
    PointsLot,
    PointsPolicy,
    SaleLine,
    UnredeemableAmount,
)
from yipan.members.domain.tiers import BASIS_POINTS, DEFAULT_LADDER, UnknownTier
from yipan.members.errors import (
    ErasedMember,
    InvalidPointsAdjustment,
    PointsReferenceReused,
    UnknownMember,
)
from yipan.members.events import (
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsRestored,
    PointsReversed,
    PointsTransferred,
)
from yipan.members.models import (
    Member,
    Merge,
    PointsBalance,
    PointsEarning,
    PointsEntry,
    PointsReversal,
)
from yipan.members.schemas import (
    AdjustmentOut,
    PointsEntryOut,
    PointsOut,
    PointsPolicyOut,
    RedemptionOut,
)
from yipan.members.service import store
from yipan.orders.service import queries
from yipan.orders.service.checkout import PointsSpent
from yipan.orders.service.returns import ReturnToSettle


def default_policy() -> PointsPolicy:
    """The policy the settings give: the earn and redemption rates, the lots' life, the
    categories that earn nothing, on the tenant's clock (by default a point per yuan, 100
    points for a yuan, lots of 12 to 13 months). Raises `ValueError` naming the setting that
    cannot work."""
    settings = get_settings()
    return _policy(
        settings.points_earn_rate,
        settings.points_redeem_rate,
        settings.points_expiry_months,
        settings.points_excluded_categories,
        settings.timezone,
    )


@lru_cache(maxsize=4)
def _policy(
    earn_rate: str,
    redeem_rate: str,
    expiry_months: int,
    excluded_categories: frozenset[str],
    timezone: str,
) -> PointsPolicy:
    earn_points, earn_per_fen = _rate("YIPAN_POINTS_EARN_RATE", earn_rate, points_may_be_zero=True)
    redeem_points, redeem_value_fen = _rate("YIPAN_POINTS_REDEEM_RATE", redeem_rate)
    if expiry_months < 0:
        raise ValueError(f"YIPAN_POINTS_EXPIRY_MONTHS must be 0 or more, not {expiry_months}")
    return PointsPolicy(
        earn_points=earn_points,
        earn_per_fen=earn_per_fen,
        redeem_points=redeem_points,
        redeem_value_fen=redeem_value_fen,
        expiry_months=expiry_months,
        excluded_categories=excluded_categories,
        timezone=timezone,
    )


def policy_out() -> PointsPolicyOut:
    policy = default_policy()
    return PointsPolicyOut(
        earn_points=policy.earn_points,
        earn_per_fen=policy.earn_per_fen,
        redeem_points=policy.redeem_points,
        redeem_value_fen=policy.redeem_value_fen,
        redeem_step=policy.redeem_step,
        expiry_months=policy.expiry_months,
        excluded_categories=sorted(policy.excluded_categories),
    )


def _rate(setting: str, text: str, *, points_may_be_zero: bool = False) -> tuple[int, int]:
    """'points:fen' as two whole numbers; the fen above zero, the points too unless allowed."""
    points_text, colon, fen_text = text.strip().partition(":")
    if colon and points_text.strip().isdigit() and fen_text.strip().isdigit():
        points, fen = int(points_text), int(fen_text)
        if fen > 0 and (points > 0 or points_may_be_zero):
            return points, fen
    least = 0 if points_may_be_zero else 1
    raise ValueError(
        f"{setting} must be points:fen, whole numbers with the points at least {least} and the "
        f"fen at least 1 (e.g. 1:100, a point per yuan); got {text!r}"
    )


@dataclass(frozen=True)
class EarnResult:
    member: str
    sale_ref: str
    points: int
    created: bool


@dataclass(frozen=True)
class ReversalResult:
    member: str
    sale_ref: str
    reference: str
    points_reversed: int
    points_short: int
    refund_deduction_fen: int
    forgiven_fen: int
    created: bool


class _Replayed(Exception):
    """Raised inside a savepoint to undo its writes when a twin committed while we waited."""

    def __init__(self, result: RedemptionOut) -> None:
        super().__init__("replayed")
        self.result = result


# --- the ledger and the balance row ---------------------------------------------------------------


def _lots(session: Session, member_id: int) -> tuple[PointsLot, ...]:
    rows = session.scalars(
        select(PointsEntry).where(PointsEntry.member_id == member_id).order_by(PointsEntry.id)
    )
    return rules.lots_from_ledger(
        LedgerEntry(
            EntryKind(e.kind), e.lot_id, e.points, e.at, e.reference, e.reason, e.expires_at
        )
        for e in rows
    )


def _append(
    session: Session,
    member_id: int,
    entries: Sequence[LedgerEntry],
    *,
    channel: str | None = None,
    actor: str | None = None,
) -> None:
    if not entries:
        return
    session.execute(
        insert(PointsEntry),
        [
            {
                "member_id": member_id,
                "kind": e.kind.value,
                "lot_id": e.lot_id,
                "points": e.points,
                "at": e.at,
                "reference": e.reference,
                "reason": e.reason,
                "expires_at": e.expires_at,
                "channel": channel,
                "actor": actor,
            }
            for e in entries
        ],
    )


def _ensure_balance(session: Session, member_id: int, now: datetime) -> None:
    session.execute(
        insert_for(session, PointsBalance)
        .values(member_id=member_id, balance=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["member_id"])
    )


def _lock(session: Session, member_id: int, now: datetime) -> None:
    """Hold the member's balance row until the commit: changes to one member queue here."""
    _ensure_balance(session, member_id, now)
    session.execute(
        select(PointsBalance.balance).where(PointsBalance.member_id == member_id).with_for_update()
    )


def _change(session: Session, member_id: int, delta: int, now: datetime) -> int | None:
    """The one conditional UPDATE of a change: the new balance, or None when it would go below 0."""
    stmt = (
        update(PointsBalance)
        .where(PointsBalance.member_id == member_id)
        .values(balance=PointsBalance.balance + delta, updated_at=now)
        .returning(PointsBalance.balance)
        .execution_options(synchronize_session=False)
    )
    if delta < 0:
        stmt = stmt.where(PointsBalance.balance >= -delta)
    return session.execute(stmt).scalar_one_or_none()


def _take(session: Session, member_id: int, points: int, now: datetime) -> int:
    """Subtract under the lock, where the lots said the points are there."""
    left = _change(session, member_id, -points, now)
    if left is None:  # the lots and the cached balance disagree: never book it
        raise RuntimeError(f"points balance of member {member_id} is behind its ledger")
    return left


def _credit(session: Session, member_id: int, points: int, now: datetime) -> int:
    _ensure_balance(session, member_id, now)
    left = _change(session, member_id, points, now)
    assert left is not None  # the row exists
    return left


def balance_of(session: Session, member_id: int) -> int:
    return (
        session.scalar(select(PointsBalance.balance).where(PointsBalance.member_id == member_id))
        or 0
    )


# --- members ------------------------------------------------------------------------------------


def _holder(session: Session, member_id: str) -> Member:
    return store.holder(session, store.load_member(session, member_id))


def _multiplier_bp(tier: str) -> int:
    try:
        return DEFAULT_LADDER.get(tier).benefits.points_multiplier_bp
    except UnknownTier:  # a tier from elsewhere earns the base rate rather than nothing
        return BASIS_POINTS


# --- reads --------------------------------------------------------------------------------------


def balance(session: Session, member_id: str) -> int:
    """The member's points (a merged-away id answers with its survivor's)."""
    return balance_of(session, _holder(session, member_id).id)


def ledger(
    session: Session,
    member_id: str,
    *,
    limit: int = 50,
    before_id: int | None = None,
    clock: Clock | None = None,
) -> PointsOut:
    """Balance, what is usable now, and a page of the ledger, newest first."""
    member = _holder(session, member_id)
    now = (clock or SystemClock()).now()
    stmt = (
        select(PointsEntry)
        .where(PointsEntry.member_id == member.id)
        .order_by(PointsEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(PointsEntry.id < before_id)
    own = store.public_id(member.id)
    return PointsOut(
        member=own,
        resolved_from=member_id if member_id != own else None,
        balance=balance_of(session, member.id),
        usable=rules.usable_balance(_lots(session, member.id), now),
        entries=[_entry_out(e) for e in session.scalars(stmt)],
    )


def latest_entries(
    session: Session, member_id: int, *, limit: int | None = 20
) -> list[PointsEntryOut]:
    """The newest `limit` entries of a member's ledger (None: all of it), newest first."""
    stmt = (
        select(PointsEntry)
        .where(PointsEntry.member_id == member_id)
        .order_by(PointsEntry.id.desc())
        .limit(limit)
    )
    return [_entry_out(e) for e in session.scalars(stmt)]


def _entry_out(e: PointsEntry) -> PointsEntryOut:
    return PointsEntryOut(
        id=e.id,
        kind=e.kind,
        lot_id=e.lot_id,
        points=e.points,
        at=e.at,
        reference=e.reference,
        reason=e.reason,
        expires_at=e.expires_at,
        channel=e.channel,
        actor=e.actor,
    )


# --- earn ---------------------------------------------------------------------------------------


def earn_for_sale(
    session: Session,
    member_id: str,
    sale_ref: str,
    lines: Sequence[SaleLine],
    *,
    at: datetime,
    channel: str | None,
    policy: PointsPolicy | None = None,
    clock: Clock | None = None,
) -> EarnResult:
    """Points for a completed sale at the member's tier; the same sale earns once."""
    policy = policy or default_policy()
    origin = store.load_member(session, member_id)  # the id the sale was made under
    member = store.writable_holder(session, origin, member_id)
    own = store.public_id(member.id)
    booked = session.scalar(select(PointsEarning).where(PointsEarning.sale_ref == sale_ref))
    if booked is not None:
        return EarnResult(store.public_id(booked.member_id), sale_ref, booked.points, False)
    earning = rules.earn(
        (),  # the earnings table's unique sale_ref already keeps the lot new
        lines,
        multiplier_bp=_multiplier_bp(member.tier),
        at=at,
        sale_ref=sale_ref,
        policy=policy,
    )
    now = (clock or SystemClock()).now()
    session.add(
        PointsEarning(
            sale_ref=sale_ref,
            member_id=member.id,
            origin_member_id=origin.id,
            lot_id=earning.lot_id,
            points=earning.points,
            eligible_fen=earning.eligible_fen,
            excluded_fen=earning.excluded_fen,
            eligible_lines=sorted(earning.eligible_lines),
            channel=channel,
            returned_fen=0,
            settled_points=0,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    if earning.points:
        _append(session, member.id, earning.entries, channel=channel)
        events.record(
            session,
            PointsEarned(member=own, sale_ref=sale_ref, points=earning.points, channel=channel),
            clock=clock,
        )
        _credit(session, member.id, earning.points, now)
    return EarnResult(own, sale_ref, earning.points, True)


# --- redeem -------------------------------------------------------------------------------------


def _redemption(
    session: Session, member_id: int, reference: str, policy: PointsPolicy
) -> RedemptionOut | None:
    taken = session.scalar(
        select(func.sum(PointsEntry.points)).where(
            PointsEntry.member_id == member_id,
            PointsEntry.kind == EntryKind.REDEEM.value,
            PointsEntry.reference == reference,
        )
    )
    if taken is None:
        return None
    points = -int(taken)
    return RedemptionOut(
        member=store.public_id(member_id),
        reference=reference,
        points=points,
        value_fen=policy.value_fen(points),
        balance=balance_of(session, member_id),
        created=False,
    )


def _same(replay: RedemptionOut, points: int) -> RedemptionOut:
    if replay.points != points:
        raise PointsReferenceReused(
            f"reference {replay.reference} already redeemed {replay.points} points",
            reference=replay.reference,
            points=replay.points,
        )
    return replay


def redeem(
    session: Session,
    member_id: str,
    points: int,
    reference: str,
    *,
    channel: str | None = None,
    policy: PointsPolicy | None = None,
    clock: Clock | None = None,
) -> RedemptionOut:
    """Spend points, oldest lots first. A replay of `reference` answers the first result; too few
    points is a 409 `INSUFFICIENT_POINTS`, and a refusal writes nothing."""
    policy = policy or default_policy()
    step = policy.redeem_step
    if points <= 0 or points % step:
        raise UnredeemableAmount(
            f"points are redeemed in positive multiples of {step}", points=points, step=step
        )
    member = store.writable(session, member_id)
    replay = _redemption(session, member.id, reference, policy)
    if replay is not None:
        return _same(replay, points)
    now = (clock or SystemClock()).now()
    try:
        with session.begin_nested():
            left = _change(session, member.id, -points, now)  # the lock, and the check
            if left is None:
                available = balance_of(session, member.id)
                raise InsufficientPoints(
                    f"{points} points requested, {available} available",
                    requested=points,
                    available=available,
                )
            twin = _redemption(session, member.id, reference, policy)
            if twin is not None:  # the same reference committed while this one waited
                raise _Replayed(_same(twin, points))
            # Refuses (and the savepoint undoes the update) when lots past expiry are short.
            redemption = rules.redeem(
                _lots(session, member.id), points, at=now, reference=reference, policy=policy
            )
            _append(session, member.id, redemption.entries, channel=channel)
            events.record(
                session,
                PointsRedeemed(
                    member=store.public_id(member.id),
                    reference=reference,
                    points=points,
                    value_fen=redemption.value_fen,
                    channel=channel,
                ),
                clock=clock,
            )
    except _Replayed as replayed:
        return replayed.result
    return RedemptionOut(
        member=store.public_id(member.id),
        reference=reference,
        points=points,
        value_fen=redemption.value_fen,
        balance=left,
        created=True,
    )


# --- reverse on return --------------------------------------------------------------------------


def _reversal_result(
    member_id: int, earning: PointsEarning, row: PointsReversal, created: bool
) -> ReversalResult:
    return ReversalResult(
        member=store.public_id(member_id),
        sale_ref=earning.sale_ref,
        reference=row.reference,
        points_reversed=row.points_reversed,
        points_short=row.points_short,
        refund_deduction_fen=row.refund_deduction_fen,
        forgiven_fen=row.forgiven_fen,
        created=created,
    )


def _reversal(session: Session, earning_id: int, reference: str) -> PointsReversal | None:
    return session.scalar(
        select(PointsReversal).where(
            PointsReversal.earning_id == earning_id, PointsReversal.reference == reference
        )
    )


def reverse_for_return(
    session: Session,
    sale_ref: str,
    reference: str,
    returned_fen_by_line: Mapping[str, int],
    *,
    refund_fen: int,
    at: datetime,
    channel: str | None = None,
    policy: PointsPolicy | None = None,
    clock: Clock | None = None,
) -> ReversalResult | None:
    """Take back the share of a sale's points that a return accounts for (None: the sale earned
    nothing). Points already spent are taken from other lots, never below zero; the rest is
    recorded as a deduction owed from the refund (`refund_deduction_fen`) or forgiven."""
    policy = policy or default_policy()
    earning = session.scalar(select(PointsEarning).where(PointsEarning.sale_ref == sale_ref))
    if earning is None:
        return None
    member = store.holder(session, session.get_one(Member, earning.member_id))
    done = _reversal(session, earning.id, reference)
    if done is not None:
        return _reversal_result(member.id, earning, done, False)
    now = (clock or SystemClock()).now()
    _lock(session, member.id, now)
    # Returns of one sale queue on its earning, and read its totals afresh once they hold it.
    earning = session.scalars(
        select(PointsEarning)
        .where(PointsEarning.id == earning.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    done = _reversal(session, earning.id, reference)
    if done is not None:
        return _reversal_result(member.id, earning, done, False)
    reversal = rules.reverse_for_return(
        _lots(session, member.id),
        rules.Earning(
            sale_ref=earning.sale_ref,
            lot_id=earning.lot_id,
            points=earning.points,
            eligible_fen=earning.eligible_fen,
            excluded_fen=earning.excluded_fen,
            eligible_lines=frozenset(earning.eligible_lines),
            entries=(),
        ),
        returned_fen_by_line,
        refund_fen=refund_fen,
        at=at,
        reference=reference,
        already_returned_fen=earning.returned_fen,
        already_settled_points=earning.settled_points,
        policy=policy,
    )
    row = PointsReversal(
        earning_id=earning.id,
        reference=reference,
        returned_fen=reversal.returned_fen_total - earning.returned_fen,
        points_reversed=reversal.points_reversed,
        points_short=reversal.points_short,
        refund_deduction_fen=reversal.refund_deduction_fen,
        forgiven_fen=reversal.forgiven_fen,
        at=at,
    )
    session.add(row)
    earning.returned_fen = reversal.returned_fen_total
    earning.settled_points = reversal.settled_points_total
    earning.updated_at = now
    session.flush()
    _append(session, member.id, reversal.entries, channel=channel)
    if reversal.points_reversed or reversal.points_short:
        events.record(
            session,
            PointsReversed(
                member=store.public_id(member.id),
                sale_ref=sale_ref,
                reference=reference,
                points_reversed=reversal.points_reversed,
                points_short=reversal.points_short,
                refund_deduction_fen=reversal.refund_deduction_fen,
                forgiven_fen=reversal.forgiven_fen,
            ),
            clock=clock,
        )
    if reversal.points_reversed:
        _take(session, member.id, reversal.points_reversed, now)
    return _reversal_result(member.id, earning, row, True)


# --- expire -------------------------------------------------------------------------------------


def expire_due(session: Session, now: datetime, *, limit: int = 200) -> int:
    """Book the expiry of every lot past its date for up to `limit` members (lowest ids first,
    each member's lots oldest first); returns how many members had points expire."""
    opened = (
        select(PointsEntry.member_id, PointsEntry.lot_id)
        .where(PointsEntry.expires_at <= now)
        .subquery()
    )
    open_lots = (
        select(PointsEntry.member_id)
        .join(
            opened,
            and_(
                opened.c.member_id == PointsEntry.member_id, opened.c.lot_id == PointsEntry.lot_id
            ),
        )
        .group_by(PointsEntry.member_id, PointsEntry.lot_id)
        .having(func.sum(PointsEntry.points) > 0)
        .subquery()
    )
    members = list(
        session.scalars(
            select(open_lots.c.member_id).distinct().order_by(open_lots.c.member_id).limit(limit)
        )
    )
    expired = 0
    for member_id in members:
        _lock(session, member_id, now)
        entries = rules.expire(_lots(session, member_id), at=now)
        if not entries:  # another sweeper was first
            continue
        _append(session, member_id, entries)
        points = -sum(e.points for e in entries)
        events.record(
            session,
            PointsExpired(
                member=store.public_id(member_id),
                points=points,
                lots=[e.lot_id for e in entries],
            ),
        )
        _take(session, member_id, points, now)
        expired += 1
    return expired


# --- adjust -------------------------------------------------------------------------------------


def adjust(
    session: Session,
    member_id: str,
    points: int,
    reason: str,
    who: str,
    *,
    reference: str | None = None,
    policy: PointsPolicy | None = None,
    clock: Clock | None = None,
) -> AdjustmentOut:
    """A manual correction with a reason and an author. Added points open a lot that expires like
    earned ones; removed points come from usable lots and never take the balance below zero."""
    policy = policy or default_policy()
    member = store.writable(session, member_id)
    own = store.public_id(member.id)
    reference = reference or f"adj-{uuid.uuid4().hex}"
    booked = session.scalar(
        select(func.sum(PointsEntry.points)).where(
            PointsEntry.member_id == member.id,
            PointsEntry.kind == EntryKind.ADJUST.value,
            PointsEntry.reference == reference,
        )
    )
    if booked is not None:
        if int(booked) != points:
            raise PointsReferenceReused(
                f"reference {reference} already adjusted {booked} points",
                reference=reference,
                points=int(booked),
            )
        return AdjustmentOut(
            member=own,
            reference=reference,
            points=points,
            balance=balance_of(session, member.id),
            created=False,
        )
    if points == 0 or not reason.strip():
        raise InvalidPointsAdjustment(
            "an adjustment needs a reason and a non-zero number of points", points=points
        )
    now = (clock or SystemClock()).now()
    with session.begin_nested():
        if points > 0:
            entries = rules.adjust(
                (), points, reason=reason, at=now, reference=reference, policy=policy
            )
        else:
            _lock(session, member.id, now)
            entries = rules.adjust(
                _lots(session, member.id),
                points,
                reason=reason,
                at=now,
                reference=reference,
                policy=policy,
            )
        _append(session, member.id, entries, actor=who)
        events.record(
            session,
            PointsAdjusted(
                member=own, reference=reference, points=points, reason=reason, actor=who
            ),
            clock=clock,
        )
        if points > 0:
            left = _credit(session, member.id, points, now)
        else:
            left = _take(session, member.id, -points, now)
    return AdjustmentOut(member=own, reference=reference, points=points, balance=left, created=True)


# --- merges -------------------------------------------------------------------------------------


def transfer_on_merge(
    session: Session, absorbed_id: str, merge_id: int, *, clock: Clock | None = None
) -> int:
    """Move a merged-away member's points to the member it now lives in; returns the points moved.

    Replays move nothing (the pair is keyed by `merge:<id>`); a merge undone before this runs
    moves nothing either.
    """
    absorbed = store.load_member(session, absorbed_id)
    target = store.holder(session, absorbed)
    if target.id == absorbed.id:
        return 0
    reference = f"merge:{merge_id}"
    moved_before = session.scalar(
        select(PointsEntry.id)
        .where(
            PointsEntry.member_id == absorbed.id,
            PointsEntry.kind == EntryKind.ADJUST.value,
            PointsEntry.reference == reference,
        )
        .limit(1)
    )
    if moved_before is not None:
        return 0
    now = (clock or SystemClock()).now()
    for member_id in sorted((absorbed.id, target.id)):  # a fixed order: no deadlock
        _lock(session, member_id, now)
    lots = [lot for lot in _lots(session, absorbed.id) if lot.remaining > 0]
    if not lots:
        return 0
    taken = {lot.lot_id for lot in _lots(session, target.id)}
    to, frm = store.public_id(target.id), store.public_id(absorbed.id)
    out = [
        LedgerEntry(
            EntryKind.ADJUST, lot.lot_id, -lot.remaining, now, reference, f"merged into {to}"
        )
        for lot in lots
    ]
    into = [
        LedgerEntry(
            EntryKind.ADJUST,
            lot.lot_id if lot.lot_id not in taken else f"{lot.lot_id}@{frm}",
            lot.remaining,
            now,
            reference,
            f"merged from {frm}",
            lot.expires_at,
        )
        for lot in lots
    ]
    total = sum(lot.remaining for lot in lots)
    _append(session, absorbed.id, out, actor="merge")
    _append(session, target.id, into, actor="merge")
    events.record(
        session,
        PointsTransferred(member=to, absorbed=frm, merge_id=merge_id, points=total),
        clock=clock,
    )
    _take(session, absorbed.id, total, now)
    _credit(session, target.id, total, now)
    return total


_MOVERS = ("merge", "unmerge")  # the actors of the entries that move lots between members
_MAX_HOPS = 1000


def _where_now(session: Session, member_id: int, lot_id: str) -> tuple[int, str]:
    """The member and lot name that lot `lot_id` of `member_id` lives under now, following the
    transfers of merges (`<lot>` or `<lot>@<from>`) and un-merges (`<lot>@unmerge:<id>`)."""
    for _ in range(_MAX_HOPS):
        reference = session.scalar(
            select(PointsEntry.reference)
            .where(
                PointsEntry.member_id == member_id,
                PointsEntry.lot_id == lot_id,
                PointsEntry.kind == EntryKind.ADJUST.value,
                PointsEntry.points < 0,
                PointsEntry.actor.in_(_MOVERS),
            )
            .order_by(PointsEntry.id)
            .limit(1)
        )
        if reference is None:
            return member_id, lot_id
        if reference.startswith("unmerge:"):
            names = [f"{lot_id}@{reference}"]
        else:
            names = [lot_id, f"{lot_id}@{store.public_id(member_id)}"]
        moved = session.execute(
            select(PointsEntry.member_id, PointsEntry.lot_id)
            .where(
                PointsEntry.reference == reference,
                PointsEntry.kind == EntryKind.ADJUST.value,
                PointsEntry.points > 0,
                PointsEntry.member_id != member_id,
                PointsEntry.lot_id.in_(names),
                PointsEntry.actor.in_(_MOVERS),
            )
            .limit(1)
        ).first()
        if moved is None:  # moved out, but not into a lot we can name: nothing to follow
            return member_id, lot_id
        member_id, lot_id = moved.member_id, moved.lot_id
    raise RuntimeError(f"lot {lot_id} moves in a cycle")


def restore_on_unmerge(session: Session, merge_id: int, *, clock: Clock | None = None) -> int:
    """After merge `merge_id` was undone (in the same transaction): give the absorbed member back
    what is left of the points it brought in; returns the points moved.

    Lots are followed wherever later merges took them; what was spent or expired of them stays
    so. Replays, and merges whose points never moved (undone before the transfer ran), move
    nothing.
    """
    merge = session.get(Merge, merge_id)
    if merge is None or merge.absorbed_id is None:
        return 0
    absorbed = merge.absorbed_id
    reference = f"unmerge:{merge_id}"
    done = session.scalar(
        select(PointsEntry.id)
        .where(
            PointsEntry.member_id == absorbed,
            PointsEntry.kind == EntryKind.ADJUST.value,
            PointsEntry.reference == reference,
        )
        .limit(1)
    )
    if done is not None:
        return 0
    brought = session.scalars(
        select(PointsEntry.lot_id)
        .where(
            PointsEntry.member_id == absorbed,
            PointsEntry.kind == EntryKind.ADJUST.value,
            PointsEntry.reference == f"merge:{merge_id}",
            PointsEntry.points < 0,
            PointsEntry.actor == "merge",
        )
        .order_by(PointsEntry.id)
    ).all()
    places = [_where_now(session, absorbed, lot_id) for lot_id in brought]
    # Sales made under the absorbed member's ids while it was merged earned on a survivor.
    family = [absorbed, *store.merged_into(session, absorbed)]
    meanwhile = session.scalars(
        select(PointsEarning)
        .where(
            PointsEarning.origin_member_id.in_(family),
            PointsEarning.member_id.not_in(family),
        )
        .order_by(PointsEarning.id)
    ).all()
    earned_at = {
        earning.id: _where_now(session, earning.member_id, earning.lot_id) for earning in meanwhile
    }
    places.extend(earned_at.values())
    holders = sorted({member for member, _ in places if member != absorbed})
    if not holders:
        return 0
    now = (clock or SystemClock()).now()
    for member_id in sorted({absorbed, *holders}):  # a fixed order: no deadlock
        _lock(session, member_id, now)
    own = store.public_id(absorbed)
    back: list[LedgerEntry] = []
    moved: set[tuple[int, str]] = set()
    for holder in holders:
        lots = {lot.lot_id: lot for lot in _lots(session, holder)}
        left = [lots[lot_id] for member, lot_id in places if member == holder and lot_id in lots]
        out = [
            LedgerEntry(
                EntryKind.ADJUST, lot.lot_id, -lot.remaining, now, reference, f"un-merged to {own}"
            )
            for lot in left
            if lot.remaining > 0
        ]
        if not out:
            continue
        frm = store.public_id(holder)
        into = [
            LedgerEntry(
                EntryKind.ADJUST,
                f"{lot.lot_id}@{reference}",
                lot.remaining,
                now,
                reference,
                f"un-merged from {frm}",
                lot.expires_at,
            )
            for lot in left
            if lot.remaining > 0
        ]
        points = sum(e.points for e in into)
        _append(session, holder, out, actor="unmerge")
        _append(session, absorbed, into, actor="unmerge")
        events.record(
            session,
            PointsRestored(member=own, taken_from=frm, merge_id=merge_id, points=points),
            clock=clock,
        )
        _take(session, holder, points, now)
        _credit(session, absorbed, points, now)
        back.extend(into)
        moved.update((holder, lot.lot_id) for lot in left if lot.remaining > 0)
    for earning in meanwhile:  # a later return takes back from the lot where it is now
        holder, lot_id = earned_at[earning.id]
        if (holder, lot_id) in moved:
            earning.member_id, earning.lot_id = absorbed, f"{lot_id}@{reference}"
    return sum(e.points for e in back)


# --- event handlers -----------------------------------------------------------------------------


def _sale_member(session: Session, member_id: object) -> Member | None:
    """The Yipan member a sale was made under, or None (no id, another system's id, erased)."""
    if not isinstance(member_id, str):
        return None
    try:
        member = _holder(session, member_id)
    except UnknownMember:
        return None
    return None if member.status == store.ERASED else member


_category_parents: ReferenceCache[dict[str, str | None]] = ReferenceCache()


def _lineage(parents: Mapping[str, str | None], code: str) -> frozenset[str]:
    """`code` and its ancestors (a cycle in the tree ends the walk)."""
    found: list[str] = []
    step: str | None = code
    while step is not None and step not in found:
        found.append(step)
        step = parents.get(step)
    return frozenset(found)


def _categories(
    session: Session, skus: set[str], policy: PointsPolicy
) -> dict[str, frozenset[str]]:
    """Each SKU's category with its ancestors, looked up only when something is excluded."""
    if not policy.excluded_categories:
        return {}
    parents = _category_parents.get(
        session,
        "parents",
        lambda: {c.code: c.parent_code for c in catalog.list_categories(session)},
    )
    found: dict[str, frozenset[str]] = {}
    for sku in sorted(skus):
        try:
            found[sku] = _lineage(parents, catalog.get_sku(session, sku).category_code)
        except UnknownSku:
            found[sku] = frozenset()
    return found


def on_order_completed(session: Session, message: OutboxMessage) -> None:
    """Handler of `orders.OrderCompleted`: the member earns for the lines that reached them."""
    payload = message.payload
    member = _sale_member(session, payload.get("member_id"))
    if member is None:
        return
    policy = default_policy()
    order = queries.get_order(session, int(payload["order_id"]))
    handed = [ln for ln in order.lines if ln.status == "fulfilled"]
    categories = _categories(session, {ln.sku for ln in handed}, policy)
    earn_for_sale(
        session,
        store.public_id(member.id),
        f"order:{order.id}",
        [
            SaleLine(str(ln.line_no), ln.paid_fen, categories.get(ln.sku, frozenset()))
            for ln in handed
        ],
        at=message.occurred_at,
        channel=payload.get("channel"),
        policy=policy,
    )


class OrderTender:
    """The ledger as a tender of Yipan's own channels' orders (registered by `yipan.wiring`
    with `orders.service.checkout.take_points_with`): the points an order is paid with are
    redeemed in its transaction, and those that paid for goods returned or cancelled come back
    as a new lot, by an adjustment naming why."""

    def spend(
        self, session: Session, member_id: str, points: int, reference: str, channel: str
    ) -> PointsSpent:
        spent = redeem(session, member_id, points, reference, channel=channel)
        return PointsSpent(spent.value_fen, default_policy().redeem_step)

    def give_back(
        self, session: Session, member_id: str, points: int, reference: str, reason: str
    ) -> int:
        """The points given back: none to a member who was erased, who holds none any more
        (their goods can still come back)."""
        try:
            adjust(session, member_id, points, reason, "orders", reference=reference)
        except ErasedMember:
            return 0
        return points


def settle_return(session: Session, returned: ReturnToSettle) -> int:
    """A return's points, in the return's transaction (`orders.service.returns.settle_points_with`):
    the returned share of what the sale earned is taken back at once, and the fen to keep back
    from the refund for the part the member had already spent is answered (0 if none, or if the
    sale earned nothing)."""
    reversal = reverse_for_return(
        session,
        f"order:{returned.order_id}",
        f"return:{returned.return_id}",
        {str(line_no): fen for line_no, fen in returned.refund_by_line.items()},
        refund_fen=returned.refund_fen,
        at=returned.at,
        channel=returned.channel,
    )
    return 0 if reversal is None else reversal.refund_deduction_fen


def on_order_returned(session: Session, message: OutboxMessage) -> None:
    """Handler of `orders.OrderReturned`: take back the returned share of what the sale earned,
    unless `settle_return` did in the return's transaction (then this finds it done)."""
    payload = message.payload
    returned: dict[str, int] = defaultdict(int)
    for line in payload["lines"]:
        returned[str(line["line_no"])] += int(line["refund_fen"])
    reverse_for_return(
        session,
        f"order:{payload['order_id']}",
        f"return:{payload['return_id']}",
        returned,
        refund_fen=int(payload["refund_fen"]) + int(payload.get("points_deduction_fen", 0)),
        at=message.occurred_at,
        channel=payload.get("channel"),
    )


def on_members_merged(session: Session, message: OutboxMessage) -> None:
    """Handler of `members.MembersMerged`: the survivor's ledger takes the absorbed points."""
    transfer_on_merge(session, message.payload["absorbed"], int(message.payload["merge_id"]))
