"""Decisions people take about identity: the review queue, and undoing a merge.

Accepting a review merges the two members; rejecting it records a separation, which every later
resolution honours. Un-merging re-resolves the member's records with the merge's two sides kept
apart (the domain's `plan_unmerge`): the absorbed member comes back with its records, and its id
stops resolving to the survivor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.kernel.clock import Clock, SystemClock
from yipan.members.domain import identifiers as ids
from yipan.members.domain import identity as resolution
from yipan.members.errors import (
    MergeAlreadyUndone,
    MergeCannotBeUndone,
    ReviewAlreadyResolved,
    UnknownMerge,
    UnknownReview,
)
from yipan.members.events import (
    MemberCreated,
    MembersMerged,
    MemberUnmerged,
    ReviewResolved,
)
from yipan.members.models import Member, Merge, Review, Separation, SourceRecord
from yipan.members.schemas import ClaimOut, DecisionIn, ReviewOut, UnmergeResult
from yipan.members.service import points, store, tiers

OPEN, ACCEPTED, REJECTED = "open", "accepted", "rejected"


def list_reviews(
    session: Session, *, status: str | None = OPEN, limit: int = 50
) -> list[ReviewOut]:
    """Oldest first, so the queue is worked in the order conflicts arose."""
    stmt = select(Review).order_by(Review.id).limit(limit)
    if status:
        stmt = stmt.where(Review.status == status)
    return _review_outs(session, list(session.scalars(stmt)))


def accept_review(
    session: Session, review_id: int, decision: DecisionIn, *, clock: Clock | None = None
) -> ReviewOut:
    """The two sides are one person after all: merge them (the older member survives)."""
    review = _open_review(session, review_id)
    now = (clock or SystemClock()).now()
    mine = store.holder(session, _member(session, review.member_id))
    theirs = store.holder(session, _member(session, review.other_member_id))
    recorded: list[DomainEvent] = []
    if mine.id != theirs.id and store.ERASED not in (mine.status, theirs.status):
        survivor, absorbed = (mine, theirs) if mine.id < theirs.id else (theirs, mine)
        left, right = sorted((review.left_record_id, review.right_record_id))
        # A person overrides an earlier "different people": the separation goes.
        session.execute(
            delete(Separation).where(
                and_(Separation.first_record_id == left, Separation.second_record_id == right)
            )
        )
        survivor_record, absorbed_record = _sides(session, review, survivor.id)
        store.absorb(session, survivor, absorbed, now)
        merge = Merge(
            survivor_id=survivor.id,
            absorbed_id=absorbed.id,
            survivor_record_id=survivor_record,
            absorbed_record_id=absorbed_record,
            via_record_id=review.record_id,
            kind="members_merged",
            rule="review_accepted",
            identifier_kind=review.shared_kind,
            actor=decision.who,
            reason=decision.why,
            created_at=now,
        )
        session.add(merge)
        session.flush()
        recorded.append(
            MembersMerged(
                member=store.public_id(survivor.id),
                absorbed=store.public_id(absorbed.id),
                merge_id=merge.id,
                rule=merge.rule,
                actor=decision.who,
            )
        )
    _resolve(review, ACCEPTED, decision, now)
    recorded.append(_resolved_event(review, accepted=True, actor=decision.who))
    session.flush()
    events.record_many(session, recorded, clock=clock)
    return _review_outs(session, [review])[0]


def reject_review(
    session: Session, review_id: int, decision: DecisionIn, *, clock: Clock | None = None
) -> ReviewOut:
    """Different people: keep their records apart from now on."""
    review = _open_review(session, review_id)
    now = (clock or SystemClock()).now()
    _separate(session, review.left_record_id, review.right_record_id, decision, now)
    _resolve(review, REJECTED, decision, now)
    session.flush()
    events.record(session, _resolved_event(review, accepted=False, actor=decision.who), clock=clock)
    return _review_outs(session, [review])[0]


def unmerge(
    session: Session, merge_id: int, decision: DecisionIn, *, clock: Clock | None = None
) -> UnmergeResult:
    """Undo one merge: both sides get their own records and identities back, kept apart for good."""
    merge = session.get(Merge, merge_id)
    if merge is None:
        raise UnknownMerge(f"no merge {merge_id}", merge_id=merge_id)
    if merge.undone_at is not None:
        raise MergeAlreadyUndone(f"merge {merge_id} was already undone", merge_id=merge_id)
    anchors = [
        session.get(SourceRecord, merge.survivor_record_id),
        session.get(SourceRecord, merge.absorbed_record_id),
    ]
    survivor_anchor, absorbed_anchor = anchors
    assert survivor_anchor is not None  # foreign keys
    assert absorbed_anchor is not None
    holder = _member(session, survivor_anchor.member_id)
    if absorbed_anchor.member_id != holder.id or holder.status != store.ACTIVE:
        raise MergeCannotBeUndone(
            f"the two sides of merge {merge_id} are no longer one active member",
            merge_id=merge_id,
        )
    now = (clock or SystemClock()).now()
    pairs = store.domain_records(session, [holder.id])[holder.id]
    row_of = {store.record_key(row): row for row, _ in pairs}
    separations = store.separations_for(session, [row.id for row, _ in pairs])
    plan = resolution.plan_unmerge(
        [record for _, record in pairs],
        resolution.MergeRecord(
            survivor=store.record_key(survivor_anchor),
            absorbed=store.record_key(absorbed_anchor),
            rule=merge.rule,
            identifier=ids.IdentifierKey(ids.IdentityKind(merge.identifier_kind or "phone"), ""),
            via=store.record_key(survivor_anchor),
            kind=resolution.MergeKind.MEMBERS_MERGED,
        ),
        separations=separations,
    )
    kept = plan.part_of(store.record_key(survivor_anchor))
    restored_part = plan.part_of(store.record_key(absorbed_anchor))
    recorded: list[DomainEvent] = []
    members = [holder]
    for part in plan.parts:
        if part is kept:
            continue
        if part is restored_part and merge.absorbed_id is not None:
            member = _member(session, merge.absorbed_id)
            member.status = store.ACTIVE
            member.survivor_id = None
            member.updated_at = now
        else:
            first = row_of[part.records[0]]
            member = Member(
                status=store.ACTIVE,
                name=first.name if ids.normalise_name(first.name) else "",
                tier=holder.tier,
                marketing_sms=False,
                social_messages=False,
                created_at=now,
                updated_at=now,
            )
            session.add(member)
            session.flush()
            recorded.append(
                MemberCreated(
                    member=store.public_id(member.id),
                    source=first.source,
                    record_id=first.record_id,
                )
            )
        store.move_records(session, [row_of[key].id for key in part.records], member.id)
        members.append(member)
    _separate(session, survivor_anchor.id, absorbed_anchor.id, decision, now)
    merge.undone_at = now
    merge.undone_by = decision.who
    merge.undone_reason = decision.why
    holder.updated_at = now
    session.flush()
    # Points and spend that came with the absorbed member go back to it.
    points.restore_on_unmerge(session, merge.id, clock=clock)
    tiers.split_on_unmerge(session, merge.id, holder.id, [m.id for m in members[1:]], clock=clock)
    restored = members[1] if len(members) > 1 else holder
    recorded.append(
        MemberUnmerged(
            member=store.public_id(holder.id),
            restored=store.public_id(restored.id),
            merge_id=merge.id,
            actor=decision.who,
        )
    )
    events.record_many(session, recorded, clock=clock)
    return UnmergeResult(
        merge=store.merge_outs(session, [merge])[0],
        members=[store.member_out(m) for m in members],
    )


def _member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    assert member is not None  # a foreign key
    return member


def _open_review(session: Session, review_id: int) -> Review:
    review = session.get(Review, review_id)
    if review is None:
        raise UnknownReview(f"no review {review_id}", review_id=review_id)
    if review.status != OPEN:
        raise ReviewAlreadyResolved(
            f"review {review_id} was already {review.status}", review_id=review_id
        )
    return review


def _sides(session: Session, review: Review, survivor_id: int) -> tuple[int, int]:
    """(survivor's record, absorbed's record) among the review's two clashing records."""
    left = session.get(SourceRecord, review.left_record_id)
    assert left is not None
    if left.member_id == survivor_id:
        return review.left_record_id, review.right_record_id
    return review.right_record_id, review.left_record_id


def _separate(session: Session, a: int, b: int, decision: DecisionIn, now: datetime) -> None:
    first, second = sorted((a, b))
    exists = session.scalar(
        select(Separation.id).where(
            Separation.first_record_id == first, Separation.second_record_id == second
        )
    )
    if exists is None:
        session.add(
            Separation(
                first_record_id=first,
                second_record_id=second,
                actor=decision.who,
                reason=decision.why,
                created_at=now,
            )
        )


def _resolve(review: Review, status: str, decision: DecisionIn, now: datetime) -> None:
    review.status = status
    review.resolved_by = decision.who
    review.resolution_reason = decision.why
    review.resolved_at = now


def _resolved_event(review: Review, *, accepted: bool, actor: str) -> ReviewResolved:
    return ReviewResolved(
        member=store.public_id(review.member_id),
        review_id=review.id,
        other_member=store.public_id(review.other_member_id),
        accepted=accepted,
        actor=actor,
    )


def _review_outs(session: Session, reviews: list[Review]) -> list[ReviewOut]:
    record_ids = {
        r
        for review in reviews
        for r in (review.record_id, review.left_record_id, review.right_record_id)
    }
    rows = {
        row.id: row
        for row in session.scalars(select(SourceRecord).where(SourceRecord.id.in_(record_ids)))
    }
    return [
        ReviewOut(
            id=review.id,
            reason=review.reason,
            record=str(store.record_key(rows[review.record_id])),
            member=store.public_id(review.member_id),
            other_member=store.public_id(review.other_member_id),
            left=ClaimOut(
                record=str(store.record_key(rows[review.left_record_id])),
                name=rows[review.left_record_id].name,
            ),
            right=ClaimOut(
                record=str(store.record_key(rows[review.right_record_id])),
                name=rows[review.right_record_id].name,
            ),
            shared_kind=review.shared_kind,
            status=review.status,
            resolved_by=review.resolved_by,
            resolution_reason=review.resolution_reason,
            created_at=review.created_at,
            resolved_at=review.resolved_at,
        )
        for review in reviews
    ]
