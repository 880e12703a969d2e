"""The members pages: search, the 360 view, the merge review queue and un-merging.

Reads open a read-only unit of work; the three writes (accept, reject, un-merge) are POST forms
that carry the session's CSRF token, are allowed only to roles with `members.merge`, and end in a
redirect back to the page with a notice (post/redirect/get), so a reload does not decide twice.
A refused write re-renders its page with the reason in plain words and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.forms import csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.members_page import (
    MERGE_PERMISSION,
    PII_PERMISSION,
    READ_PERMISSION,
    MemberPage,
    ReviewQueue,
    checked_reason,
    decide_review,
    member_page,
    review_queue,
    search_members,
    undo_merge,
    yuan,
)
from yipan.console.notice import Notice
from yipan.console.paging import MAX_PAGE, positive_int, record_id
from yipan.console.rendering import render
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/members",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "members"
# What a redirect after a decision asks the page to say.
DONE_NOTICES = {
    "accepted": "members.review_accepted",
    "rejected": "members.review_rejected",
    "unmerged": "members.unmerged",
}
Reason = Annotated[str, Form()]
CsrfField = Annotated[str, Form()]


def _page(
    request: Request, template: str, context: dict[str, Any], notice: Notice | None
) -> Response:
    status = notice.status if notice else 200
    full = {"notice": notice, "yuan": yuan, **context}
    return render(request, template, full, section=SECTION, status_code=status)


def _refused(request: Request, key: str, status: int) -> Response:
    return _page(request, "members_refused.html", {}, Notice(key, status=status))


def _done(done: str | None) -> Notice | None:
    key = DONE_NOTICES.get(done or "")
    return Notice(key) if key else None


def _write_refusal(request: Request, user: ConsoleUser, csrf_token: str) -> Response | None:
    """A plain 403 page unless the user may merge and the form carries the session's token."""
    if not user.principal.may(MERGE_PERMISSION):
        return _refused(request, "members.may_not_merge", 403)
    if not csrf_ok(request, csrf_token):
        return _refused(request, "members.form_expired", 403)
    return None


@router.get("")
def members_search(
    request: Request, engine: EngineDep, user: SignedIn, q: str = "", page: str | None = None
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, "members.may_not_read", 403)
    try:
        number = positive_int(page, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        notice = Notice("members.bad_page", {"max": MAX_PAGE}, status=422)
        return _page(request, "members.html", {"search": None, "query": q.strip()}, notice)
    with unit_of_work(engine, readonly=True) as session:
        search = search_members(session, q, number, user.scope)
    context = {"search": search, "query": search.query}
    return _page(request, "members.html", context, search.notice)


# Declared before `/{member_id}` so that "reviews" is not taken for a member id.
@router.get("/reviews")
def members_reviews(
    request: Request, engine: EngineDep, user: SignedIn, done: str | None = None
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, "members.may_not_read", 403)
    with unit_of_work(engine, readonly=True) as session:
        queue = review_queue(session, user.scope, notice=_done(done))
    return _reviews_page(request, user, queue, {})


def _reviews_page(
    request: Request, user: ConsoleUser, queue: ReviewQueue, typed: dict[int, str]
) -> Response:
    context = {"queue": queue, "may_merge": user.principal.may(MERGE_PERMISSION), "typed": typed}
    return _page(request, "members_reviews.html", context, queue.notice)


@router.post("/reviews/{review_id}/{verdict}")
def members_review_decision(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    review_id: str,
    verdict: str,
    reason: Reason = "",
    csrf_token: CsrfField = "",
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    if verdict not in ("accept", "reject"):
        return _refused(request, "members.unknown_decision", 404)
    number = record_id(review_id)
    checked = checked_reason(reason)
    outcome: object = checked
    if number is None:
        outcome = Notice("members.unknown_review", {"id": review_id}, status=404)
    elif isinstance(checked, str):
        with unit_of_work(engine) as session:
            outcome = decide_review(
                session, number, accept=verdict == "accept", who=user.username, why=checked
            )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            queue = review_queue(session, user.scope, notice=outcome)
        return _reviews_page(request, user, queue, {number or 0: reason})
    done = "accepted" if verdict == "accept" else "rejected"
    return RedirectResponse(f"/console/members/reviews?done={done}", status_code=303)


@router.get("/{member_id}")
def members_360(
    request: Request, engine: EngineDep, user: SignedIn, member_id: str, done: str | None = None
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, "members.may_not_read", 403)
    with unit_of_work(engine, readonly=True) as session:
        shown = member_page(
            session,
            member_id,
            user.scope,
            notice=_done(done),
            unmasked=user.principal.may(PII_PERMISSION),
        )
    return _member_page(request, user, shown, {})


def _member_page(
    request: Request, user: ConsoleUser, shown: MemberPage, typed: dict[int, str]
) -> Response:
    context = {"page": shown, "may_merge": user.principal.may(MERGE_PERMISSION), "typed": typed}
    return _page(request, "members_360.html", context, shown.notice)


@router.post("/{member_id}/merges/{merge_id}/unmerge")
def members_unmerge(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    member_id: str,
    merge_id: str,
    reason: Reason = "",
    csrf_token: CsrfField = "",
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    number = record_id(merge_id)
    checked = checked_reason(reason)
    with unit_of_work(engine) as session:
        shown = member_page(session, member_id, user.scope)
        if shown.view is None:
            return _member_page(request, user, shown, {})
        outcome: object = checked
        if number is None:
            outcome = Notice("members.unknown_merge", {"id": merge_id}, status=404)
        elif isinstance(checked, str):
            outcome = undo_merge(session, shown.view, number, who=user.username, why=checked)
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            shown = member_page(session, member_id, user.scope, notice=outcome)
        return _member_page(request, user, shown, {number or 0: reason})
    return RedirectResponse(f"/console/members/{outcome}?done=unmerged", status_code=303)
