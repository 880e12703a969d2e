"""Member tiers in storage: the spend ledger, upgrades at once, the yearly review, merges.

The rules are pure (`members.domain.tiers`); this module keeps what they need.

Spend ledger. Every completed order placed under a member adds what was paid for the lines that
reached the customer (`orders.OrderCompleted.paid_fen`; shipping is not spend), and every return
subtracts its refund (`orders.OrderReturned.refund_fen`), from every channel alike. One row per
source event (`sale:order:<id>`, `return:<id>`), so a replayed event writes nothing. A return is
dated by its sale (`sold_at`): it counts in the window the sale counts in. A return taken before
the order completed (a line handed over while another was still on its way) waits undated and
takes the sale's date when the sale is booked. Rolling spend is one indexed SUM over the 12-month
window (`domain.tiers.window_start`, on the tenant's clock).

Upgrades happen at once, when a sale is booked. Points are earned before the tier is looked at
again (the handlers run in that order), so the sale that crosses a threshold earns at the old tier.
Returns never downgrade: downgrades wait for the yearly review.

Yearly review. A member's tier year starts when they reach their tier or at their last review,
whichever is later (a new member's at joining), so every tier is held for at least a year. A year
on, the review moves them to the tier their rolling spend qualifies for, at most one step down
(the domain's soft landing), and records the outcome, kept or not. Members of the lowest tier
are never reviewed (there is nothing to lose). `review_due` works in batches for the sweeper.

Merges. Spend follows the member: `members.MembersMerged` moves the absorbed member's entries to
the survivor, which then holds the better of the two tiers (the absorbed one's only while its tier
year lasts), or what the joint spend qualifies for. Un-merging (`split_on_unmerge`, called by
the un-merge itself) gives each entry back to the member its order was placed under, and takes
back a tier that only the merge had given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from yipan.events import service as events
from yipan.events.domain import OutboxMessage
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import UtcDateTime, insert_for
from yipan.members.domain import tiers as rules
from yipan.members.domain.tiers import DEFAULT_LADDER, Benefits, Tier, TierLadder
from yipan.members.errors import UnknownMember
from yipan.members.events import TierChanged
from yipan.members.models import Member, SpendEntry, TierChange
from yipan.members.schemas import (
    MemberTierBenefits,
    MemberTierChangeOut,
    MemberTierOut,
    MemberTierStatus,
    MemberTierStep,
)
from yipan.members.service import store

SALE, RETURN = "sale", "return"
UPGRADE, MERGE, UNMERGE = "upgrade", "merge", "unmerge"


def ladder() -> TierLadder:
    """The tiers: `YIPAN_TIER_LADDER` if set, else the default four."""
    return _ladder(get_settings().tier_ladder)


_LADDER_CONFIG = TypeAdapter(list[MemberTierStep])


@lru_cache(maxsize=4)
def _ladder(configured: str) -> TierLadder:
    if not configured.strip():
        return DEFAULT_LADDER
    try:
        steps = _LADDER_CONFIG.validate_json(configured)
        return TierLadder(
            tuple(
                Tier(
                    step.code,
                    step.threshold_fen,
                    Benefits(
                        step.benefits.points_multiplier_bp,
                        member_price=step.benefits.member_price,
                        free_shipping=step.benefits.free_shipping,
                    ),
                    step.name,
                )
                for step in steps
            )
        )
    except ValueError as error:  # pydantic's ValidationError is one too
        raise ValueError(f"YIPAN_TIER_LADDER is not a tier ladder: {error}") from error


def ladder_out() -> list[MemberTierStep]:
    return [_step(tier) for tier in ladder().tiers]


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _tier(code: str) -> Tier:
    """The ladder's tier, or one with base benefits for a code the ladder does not know."""
    for tier in ladder().tiers:
        if tier.code == code:
            return tier
    return Tier(code, 0, name=code)


def benefits_of(code: str) -> Benefits:
    """What a tier gives; a code the ladder does not know gives the base benefits."""
    return _tier(code).benefits


def _rank(code: str) -> int:
    """Position on the ladder; a code the ladder does not know counts as the lowest tier."""
    codes = [t.code for t in ladder().tiers]
    return codes.index(code) if code in codes else 0


# --- the spend ledger -----------------------------------------------------------------------------


def rolling_spend(session: Session, member_id: int, as_of: datetime) -> int:
    """Net spend in fen of the member's sales in (as_of − 12 months, as_of]; never below zero."""
    total = session.scalar(
        select(func.coalesce(func.sum(SpendEntry.amount_fen), 0)).where(
            SpendEntry.member_id == member_id,
            SpendEntry.sold_at > rules.window_start(as_of, _tz()),
            SpendEntry.sold_at <= as_of,
        )
    )
    return max(0, int(total or 0))


def _origin(session: Session, member_id: object) -> Member | None:
    """The member an order was placed under, or None (no id, another system's id, erased)."""
    if not isinstance(member_id, str):
        return None
    try:
        member = store.load_member(session, member_id)
    except UnknownMember:
        return None
    return None if store.holder(session, member).status == store.ERASED else member


def _locked(session: Session, member_id: int) -> Member:
    """The member row, held until the commit: tier decisions for one member queue here."""
    return session.scalars(
        select(Member)
        .where(Member.id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _book(
    session: Session,
    origin: Member,
    holder_id: int,
    *,
    source_ref: str,
    order_ref: str,
    kind: str,
    amount_fen: int,
    sold_at: datetime | None,
    at: datetime,
    channel: str | None,
) -> bool:
    """Append one entry; False when the source event was booked before (a replay)."""
    booked = session.execute(
        insert_for(session, SpendEntry)
        .values(
            member_id=holder_id,
            origin_member_id=origin.id,
            source_ref=source_ref,
            order_ref=order_ref,
            kind=kind,
            channel=channel,
            amount_fen=amount_fen,
            sold_at=sold_at,
            at=at,
        )
        .on_conflict_do_nothing(index_elements=["source_ref"])
        .returning(SpendEntry.id)
    ).scalar_one_or_none()
    return booked is not None


def record_sale(
    session: Session,
    member_id: str | None,
    order_id: int,
    paid_fen: int,
    *,
    at: datetime,
    channel: str | None,
    clock: Clock | None = None,
) -> bool:
    """Book a completed order's spend and upgrade the member at once if it qualifies them.

    Returns False for a replay or an order with no (known) member: nothing is written.
    """
    origin = _origin(session, member_id)
    if origin is None:
        return False
    member = _locked(session, store.holder(session, origin).id)
    order_ref = f"order:{order_id}"
    if not _book(
        session,
        origin,
        member.id,
        source_ref=f"{SALE}:{order_ref}",
        order_ref=order_ref,
        kind=SALE,
        amount_fen=paid_fen,
        sold_at=at,
        at=at,
        channel=channel,
    ):
        return False
    # Returns taken before the order completed count from the sale's date.
    session.execute(
        update(SpendEntry)
        .where(SpendEntry.order_ref == order_ref, SpendEntry.sold_at.is_(None))
        .values(sold_at=at)
        .execution_options(synchronize_session=False)
    )
    now = (clock or SystemClock()).now()
    spend = rolling_spend(session, member.id, max(now, at))
    change = rules.evaluate_upgrade(ladder(), ladder().tiers[_rank(member.tier)].code, spend)
    if change.changed and _rank(change.current.code) > _rank(member.tier):
        _set_tier(session, member, change.current.code, UPGRADE, spend, order_ref, now, clock)
    return True


def record_return(
    session: Session,
    member_id: str | None,
    order_id: int,
    return_id: int,
    refund_fen: int,
    *,
    at: datetime,
    channel: str | None,
) -> bool:
    """Book a return's refund against spend, dated by its sale. Never downgrades by itself."""
    origin = _origin(session, member_id)
    if origin is None:
        return False
    member = _locked(session, store.holder(session, origin).id)
    order_ref = f"order:{order_id}"
    sale = session.execute(
        select(SpendEntry.sold_at, SpendEntry.channel).where(
            SpendEntry.source_ref == f"{SALE}:{order_ref}"
        )
    ).first()
    return _book(
        session,
        origin,
        member.id,
        source_ref=f"{RETURN}:{return_id}",
        order_ref=order_ref,
        kind=RETURN,
        amount_fen=-refund_fen,
        sold_at=None if sale is None else sale.sold_at,
        at=at,
        channel=channel or (None if sale is None else sale.channel),
    )


# --- tier changes ---------------------------------------------------------------------------------


def _set_tier(
    session: Session,
    member: Member,
    to_tier: str,
    reason: str,
    spend_fen: int,
    reference: str,
    now: datetime,
    clock: Clock | None,
) -> None:
    """Record a line of tier history; a new tier starts a new tier year and is announced."""
    before = member.tier
    session.add(
        TierChange(
            member_id=member.id,
            from_tier=before,
            to_tier=to_tier,
            reason=reason,
            spend_fen=spend_fen,
            reference=reference,
            at=now,
        )
    )
    if to_tier == before:
        return
    member.tier = to_tier
    member.tier_since = now
    member.updated_at = now
    session.flush()
    events.record(
        session,
        TierChanged(
            member=store.public_id(member.id),
            from_tier=before,
            to_tier=to_tier,
            reason=reason,
            spend_fen=spend_fen,
            reference=reference,
        ),
        clock=clock,
    )


# --- merges ---------------------------------------------------------------------------------------


def _rehome(session: Session, member_ids: Sequence[int]) -> None:
    """Give the entries held by `member_ids` to the member their orders' members now live in."""
    origins = session.scalars(
        select(SpendEntry.origin_member_id)
        .where(SpendEntry.member_id.in_(member_ids))
        .distinct()
        .order_by(SpendEntry.origin_member_id)
    ).all()
    for origin in origins:
        target = store.holder(session, session.get_one(Member, origin)).id
        session.execute(
            update(SpendEntry)
            .where(
                SpendEntry.member_id.in_(member_ids),
                SpendEntry.origin_member_id == origin,
                SpendEntry.member_id != target,
            )
            .values(member_id=target)
            .execution_options(synchronize_session=False)
        )


def merge_spend(
    session: Session, absorbed_id: str, merge_id: int, *, clock: Clock | None = None
) -> None:
    """After a merge: the survivor takes the absorbed member's spend and the better tier of the
    two (or what their joint spend qualifies for). Replays, and merges undone since, do nothing."""
    absorbed = store.load_member(session, absorbed_id)
    survivor = store.holder(session, absorbed)
    if survivor.id == absorbed.id:
        return
    for member_id in sorted((absorbed.id, survivor.id)):  # a fixed order: no deadlock
        _locked(session, member_id)
    _rehome(session, [absorbed.id])
    if survivor.status != store.ACTIVE:
        return
    now = (clock or SystemClock()).now()
    spend = rolling_spend(session, survivor.id, now)
    held = [survivor.tier, ladder().qualifying(spend).code]
    if _tier_year_start(absorbed) > rules.window_start(now, _tz()):
        held.append(absorbed.tier)  # a tier whose year ran out while merged is not passed on
    best = max(held, key=_rank)
    if _rank(best) > _rank(survivor.tier):
        _set_tier(session, survivor, best, MERGE, spend, f"merge:{merge_id}", now, clock)


def split_on_unmerge(
    session: Session,
    merge_id: int,
    holder_id: int,
    restored_ids: Sequence[int],
    *,
    clock: Clock | None = None,
) -> None:
    """After an un-merge (in its transaction): every spend entry goes back to the member its order
    was placed under. The member split from keeps its tier unless only this merge gave it (then
    it falls back to what it had, or what its own spend qualifies for); the members split off
    keep theirs and are upgraded if their own spend qualifies."""
    now = (clock or SystemClock()).now()
    for member_id in sorted({holder_id, *restored_ids}):
        _locked(session, member_id)
    _rehome(session, [holder_id])
    reference = f"unmerge:{merge_id}"
    holder = session.get_one(Member, holder_id)
    given = session.scalars(
        select(TierChange)
        .where(
            TierChange.member_id == holder_id,
            TierChange.reference == f"merge:{merge_id}",
            TierChange.reason == MERGE,
        )
        .order_by(TierChange.id.desc())
        .limit(1)
    ).first()
    if given is not None and holder.tier == given.to_tier:
        spend = rolling_spend(session, holder_id, now)
        fallback = max((given.from_tier, ladder().qualifying(spend).code), key=_rank)
        if _rank(fallback) < _rank(holder.tier):
            _set_tier(session, holder, fallback, UNMERGE, spend, reference, now, clock)
    for member_id in restored_ids:
        member = session.get_one(Member, member_id)
        spend = rolling_spend(session, member_id, now)
        qualifying = ladder().qualifying(spend).code
        if _rank(qualifying) > _rank(member.tier):
            _set_tier(session, member, qualifying, UNMERGE, spend, reference, now, clock)


# --- the yearly review ----------------------------------------------------------------------------


def _tier_year_start(member: Member) -> datetime:
    return max(member.last_review_at or member.created_at, member.tier_since or member.created_at)


def next_review_at(member: Member) -> datetime | None:
    """When the member's tier is next reviewed; None at the lowest tier (never reviewed)."""
    if _rank(member.tier) == 0:
        return None
    return rules.next_review_at(_tier_year_start(member), _tz())


def _or_joined(column: InstrumentedAttribute[datetime | None]) -> ColumnElement[datetime]:
    return func.coalesce(column, Member.created_at, type_=UtcDateTime())


def review_due(
    session: Session,
    now: datetime,
    *,
    limit: int = 200,
    max_steps_down: int | None = 1,
    clock: Clock | None = None,
) -> int:
    """Review up to `limit` members whose tier year is over (lowest ids first); returns how many
    were reviewed. Each review is recorded in the tier history, whatever its outcome."""
    bound = rules.window_start(now, _tz())
    due = session.scalars(
        select(Member.id)
        .where(
            Member.status == store.ACTIVE,
            Member.tier.in_([t.code for t in ladder().tiers[1:]]),
            _or_joined(Member.last_review_at) <= bound,
            _or_joined(Member.tier_since) <= bound,
        )
        .order_by(Member.id)
        .limit(limit)
    ).all()
    reviewed = 0
    for member_id in due:
        member = _locked(session, member_id)
        if _tier_year_start(member) > bound or _rank(member.tier) == 0:
            continue  # another sweeper or a sale got there first
        spend = rolling_spend(session, member.id, now)
        change = rules.yearly_review(ladder(), member.tier, spend, max_steps_down=max_steps_down)
        _set_tier(
            session, member, change.current.code, change.reason.value, spend, "review", now, clock
        )
        member.last_review_at = now
        member.updated_at = now
        reviewed += 1
    session.flush()
    return reviewed


# --- reads ----------------------------------------------------------------------------------------


def _benefits(tier: Tier) -> MemberTierBenefits:
    return MemberTierBenefits(
        points_multiplier_bp=tier.benefits.points_multiplier_bp,
        member_price=tier.benefits.member_price,
        free_shipping=tier.benefits.free_shipping,
    )


def _step(tier: Tier) -> MemberTierStep:
    return MemberTierStep(
        code=tier.code, name=tier.name, threshold_fen=tier.threshold_fen, benefits=_benefits(tier)
    )


def tier_status(session: Session, member: Member, now: datetime) -> MemberTierStatus:
    """The member's tier, its benefits, rolling spend and what the next tier needs."""
    tier = _tier(member.tier)
    spend = rolling_spend(session, member.id, now)
    above = ladder().tiers[_rank(member.tier) + 1 :]
    upper = above[0] if above else None
    return MemberTierStatus(
        tier=tier.code,
        name=tier.name,
        benefits=_benefits(tier),
        rolling_spend_fen=spend,
        window_start=rules.window_start(now, _tz()),
        qualifies_for=ladder().qualifying(spend).code,
        next_tier=None if upper is None else _step(upper),
        spend_to_next_tier_fen=None if upper is None else max(0, upper.threshold_fen - spend),
        tier_since=member.tier_since,
        next_review_at=next_review_at(member),
    )


def tier_of(
    session: Session, member_id: str, *, history_limit: int = 50, clock: Clock | None = None
) -> MemberTierOut:
    """The tier view of one member (a merged-away id answers with its survivor's), history newest
    first."""
    member = store.holder(session, store.load_member(session, member_id))
    now = (clock or SystemClock()).now()
    own = store.public_id(member.id)
    history = session.scalars(
        select(TierChange)
        .where(TierChange.member_id == member.id)
        .order_by(TierChange.id.desc())
        .limit(history_limit)
    )
    return MemberTierOut(
        member=own,
        resolved_from=member_id if member_id != own else None,
        **tier_status(session, member, now).model_dump(),
        history=[
            MemberTierChangeOut(
                id=row.id,
                from_tier=row.from_tier,
                to_tier=row.to_tier,
                reason=row.reason,
                spend_fen=row.spend_fen,
                reference=row.reference,
                at=row.at,
            )
            for row in history
        ],
    )


# --- event handlers -------------------------------------------------------------------------------


def on_order_completed(session: Session, message: OutboxMessage) -> None:
    """Handler of `orders.OrderCompleted`: book the sale's spend; upgrade at once."""
    payload = message.payload
    record_sale(
        session,
        payload.get("member_id"),
        int(payload["order_id"]),
        int(payload["paid_fen"]),
        at=message.occurred_at,
        channel=payload.get("channel"),
    )


def on_order_returned(session: Session, message: OutboxMessage) -> None:
    """Handler of `orders.OrderReturned`: the refund comes off the sale's spend."""
    payload = message.payload
    record_return(
        session,
        payload.get("member_id"),
        int(payload["order_id"]),
        int(payload["return_id"]),
        int(payload["refund_fen"]),
        at=message.occurred_at,
        channel=payload.get("channel"),
    )


def on_members_merged(session: Session, message: OutboxMessage) -> None:
    """Handler of `members.MembersMerged`: the survivor takes the absorbed member's spend."""
    merge_spend(session, message.payload["absorbed"], int(message.payload["merge_id"]))
