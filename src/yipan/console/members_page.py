"""The members pages' view models: the phone or id search, the 360 view, the merge review queue,
and the decisions taken there (accept, reject, un-merge).

Read and written through the members context's services only (`profile`, `review`), with the
orders and inventory services answering the data-scope question: members are not tied to stores
in the data model, so a store or region user sees a member only through an order sold or
fulfilled at one of their nodes, or through the store the member is bound to. HQ-scope users see
everyone. A member outside the scope answers exactly as an unknown one, so a search cannot be
used to learn who shops elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE, Pager, pager
from yipan.data_scope import sees_member, visible_nodes
from yipan.insights.service import tags as member_tags
from yipan.insights.service.recommendations import (
    MemberRecommendations,
    recommend_for_member,
)
from yipan.insights.service.tags import MemberTags
from yipan.inventory.errors import UnknownNode
from yipan.kernel.errors import YipanError
from yipan.members.errors import (
    InvalidLookup,
    MergeAlreadyUndone,
    MergeCannotBeUndone,
    ReviewAlreadyResolved,
    UnknownMember,
    UnknownMerge,
    UnknownReview,
)
from yipan.members.schemas import DecisionIn, Member360, MemberOut, ReviewOut
from yipan.members.service import profile, review
from yipan.promotions.service import coupons

MAX_QUERY_LENGTH = 40
MAX_REASON_LENGTH = 500  # as the members service's DecisionIn.why
MERGE_PERMISSION = "members.merge"
READ_PERMISSION = "members.read"
PII_PERMISSION = "members.pii"  # phones and e-mails shown whole
RECOMMENDED = 8  # products shown on the 360 view
_MEMBER_ID = re.compile(r"[Mm]\d{1,18}")

T = TypeVar("T")


def yuan(fen: int) -> str:
    """Fen as the ¥ amount people read: ¥1,234.50."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    id: str
    name: str
    tier: str
    status: str
    identities: int
    resolved_from: str | None = None


@dataclass(frozen=True)
class MemberSearch:
    query: str
    notice: Notice | None = None
    rows: list[MemberRow] = field(default_factory=list)
    pager: Pager | None = None

    @property
    def by_id(self) -> bool:
        return bool(_MEMBER_ID.fullmatch(self.query))


def _unknown(query: str) -> Notice:
    return Notice("members.no_match", {"query": query}, status=404)


def search_members(session: Session, query: str, page: int, scope: Scope) -> MemberSearch:
    """Members by phone (any spelling) or by member id, those the scope may see, one page."""
    wanted = query.strip()
    if not wanted:
        return MemberSearch(query=wanted)
    if len(wanted) > MAX_QUERY_LENGTH:
        notice = Notice("members.query_too_long", {"max": MAX_QUERY_LENGTH}, status=422)
        return MemberSearch(query=wanted, notice=notice)
    found: list[MemberOut]
    if _MEMBER_ID.fullmatch(wanted):
        try:
            found = [profile.get_member(session, wanted.upper())]
        except UnknownMember:
            return MemberSearch(query=wanted, notice=_unknown(wanted))
    else:
        try:
            found = profile.find_members(session, phone=wanted)
        except InvalidLookup:
            return MemberSearch(
                query=wanted, notice=Notice("members.bad_query", {"query": wanted}, status=422)
            )
    visible = visible_nodes(session, scope)
    rows: list[MemberRow] = []
    for member in found:
        view = profile.member_360(session, member.id, order_limit=1)
        if not sees_member(session, view, visible):
            continue
        rows.append(
            MemberRow(
                id=member.id,
                name=member.name,
                tier=member.tier,
                status=member.status,
                identities=len(view.identities),
                resolved_from=member.resolved_from,
            )
        )
    if not rows:
        return MemberSearch(query=wanted, notice=_unknown(wanted))
    paging = pager(len(rows), page)
    if page > paging.pages:
        notice = Notice("members.page_past_end", {"page": page, "pages": paging.pages}, status=404)
        return MemberSearch(query=wanted, notice=notice)
    return MemberSearch(
        query=wanted, rows=rows[paging.offset : paging.offset + PAGE_SIZE], pager=paging
    )


# --- the 360 view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberPage:
    asked: str
    notice: Notice | None = None
    view: Member360 | None = None
    tags: MemberTags | None = None  # as the last refresh left them (insights)
    recommendations: MemberRecommendations | None = None  # insights, for the guide

    @property
    def merged_away(self) -> str | None:
        """The id asked for when it now lives in another member (its survivor)."""
        return self.view.profile.resolved_from if self.view else None


def _not_found(asked: str) -> MemberPage:
    return MemberPage(asked=asked, notice=Notice("members.not_found", {"id": asked}, status=404))


def member_page(
    session: Session,
    member_id: str,
    scope: Scope,
    *,
    notice: Notice | None = None,
    unmasked: bool = False,
) -> MemberPage:
    """The 360 view of a member the scope may see; an unknown or unseen one answers 404 alike."""
    asked = member_id.strip()
    if not _MEMBER_ID.fullmatch(asked):
        return _not_found(asked)
    try:
        view = profile.member_360(session, asked.upper(), unmasked=unmasked)
    except UnknownMember:
        return _not_found(asked)
    if not sees_member(session, view, visible_nodes(session, scope)):
        return _not_found(asked)
    view = coupons.with_coupons(session, view)
    tags = member_tags.tags_of(session, view.profile.id)
    shown = recommendations_for(session, view.profile.id, scope)
    return MemberPage(asked=asked, view=view, notice=notice, tags=tags, recommendations=shown)


def recommendations_for(session: Session, member_id: str, scope: Scope) -> MemberRecommendations:
    """What to show the member: deliverable from around the user's own store (a guide's), else
    around the member's store or from the online pool."""
    store = scope.value if scope.kind == "store" else None
    try:
        return recommend_for_member(session, member_id, limit=RECOMMENDED, store=store)
    except UnknownNode:  # the user's store is no active store: from the member's own
        return recommend_for_member(session, member_id, limit=RECOMMENDED)


# --- decisions: the review queue and un-merging ---------------------------------------------


@dataclass(frozen=True)
class ReviewQueue:
    reviews: list[ReviewOut]
    more: bool
    notice: Notice | None = None
    hq_only: bool = False


def review_queue(session: Session, scope: Scope, *, notice: Notice | None = None) -> ReviewQueue:
    """The oldest open reviews; a queue is worked from the front, so there is no page 2, only a
    note that more are waiting. The queue spans every store: HQ-scope users work it."""
    if scope.kind != "all":
        return ReviewQueue(reviews=[], more=False, notice=notice, hq_only=True)
    reviews = review.list_reviews(session, limit=PAGE_SIZE + 1)
    return ReviewQueue(reviews=reviews[:PAGE_SIZE], more=len(reviews) > PAGE_SIZE, notice=notice)


def checked_reason(reason: str) -> str | Notice:
    """The reason a decision is taken, or the notice saying what is wrong with it."""
    text = reason.strip()
    if not text:
        return Notice("members.reason_missing", status=422)
    if len(text) > MAX_REASON_LENGTH:
        return Notice("members.reason_too_long", {"max": MAX_REASON_LENGTH}, status=422)
    return text


_DECISION_NOTICES: dict[type[YipanError], tuple[str, int]] = {
    UnknownReview: ("members.unknown_review", 404),
    ReviewAlreadyResolved: ("members.review_resolved", 409),
    UnknownMerge: ("members.unknown_merge", 404),
    MergeAlreadyUndone: ("members.merge_undone", 409),
    MergeCannotBeUndone: ("members.merge_cannot_undo", 409),
}


def _decided(
    session: Session, act: Callable[[Session], T], subject: dict[str, object]
) -> T | Notice:
    try:
        return act(session)
    except tuple(_DECISION_NOTICES) as refused:
        key, status = _DECISION_NOTICES[type(refused)]
        return Notice(key, subject, status=status)


def decide_review(
    session: Session, review_id: int, *, accept: bool, who: str, why: str
) -> ReviewOut | Notice:
    """Accept (merge) or reject (keep apart) one open review; a notice when it cannot be."""
    decision = DecisionIn(who=who, why=why)
    decide = review.accept_review if accept else review.reject_review
    return _decided(session, lambda s: decide(s, review_id, decision), {"id": review_id})


def undo_merge(
    session: Session, member: Member360, merge_id: int, *, who: str, why: str
) -> str | Notice:
    """Un-merge one merge of this member's history; the member id to show afterwards."""
    if merge_id not in {m.id for m in member.merges}:
        return Notice("members.unknown_merge", {"id": merge_id}, status=404)
    decision = DecisionIn(who=who, why=why)
    done = _decided(session, lambda s: review.unmerge(s, merge_id, decision), {"id": merge_id})
    return done if isinstance(done, Notice) else member.profile.id
