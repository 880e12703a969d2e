"""The segments page (marketing): saved member segments with counts, a form to save one, and
deleting one. Reading needs `members.read`; writing `segments.write` and the session's CSRF
token. A write done redirects back with a notice; refused, the page comes back with the form as
typed and the reason, and nothing is written."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.paging import MAX_PAGE, positive_int, record_id
from yipan.console.rendering import render
from yipan.console.segments_page import (
    CHOICES,
    READ_PERMISSION,
    TYPED,
    WRITE_PERMISSION,
    SegmentForm,
    SegmentsPage,
    create_segment,
    delete_segment,
    read_form,
    segments_page,
)
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

HOME = "/console/marketing/segments"
SECTION = "segments"

router = APIRouter(
    prefix=HOME,
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)


def _render(request: Request, user: ConsoleUser, shown: SegmentsPage) -> Response:
    notices = [n for n in (shown.notice, shown.form_notice) if n is not None]
    status = max((n.status for n in notices), default=200)
    context = {
        "page": shown,
        "notice": shown.notice,
        "may_write": user.principal.may(WRITE_PERMISSION),
        "choices": CHOICES,
        "typed_fields": TYPED,
    }
    return render(request, "marketing_segments.html", context, section=SECTION, status_code=status)


def _refused(request: Request, key: str, status: int = 403) -> Response:
    notice = Notice(key, status=status)
    shown = SegmentsPage([], None, SegmentForm(), notice)
    context = {
        "page": shown,
        "notice": notice,
        "may_write": False,
        "choices": {},
        "typed_fields": (),
    }
    return render(request, "marketing_segments.html", context, section=SECTION, status_code=status)


def _show(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    page: int = 1,
    *,
    form: SegmentForm | None = None,
    notice: Notice | None = None,
    form_notice: Notice | None = None,
) -> Response:
    with unit_of_work(engine, readonly=True) as session:
        shown = segments_page(
            session, user.scope, page, form=form, notice=notice, form_notice=form_notice
        )
    return _render(request, user, shown)


@router.get("")
def segments_list(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    page: str | None = None,
    done: str = "",
    name: str = "",
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, "segments.may_not_read")
    try:
        number = positive_int(page, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        notice = Notice("segments.bad_page", {"max": MAX_PAGE}, status=422)
        return _render(request, user, SegmentsPage([], None, SegmentForm(), notice))
    shown = Notice(f"segments.{done}", {"name": name}) if done in ("created", "deleted") else None
    return _show(request, engine, user, number, notice=shown)


def _write_refusal(request: Request, user: ConsoleUser, csrf_token: str) -> Response | None:
    if not user.principal.may(WRITE_PERMISSION):
        return _refused(request, "segments.may_not_write")
    if not csrf_ok(request, csrf_token):
        return _refused(request, "segments.form_expired")
    return None


@router.post("")
async def segments_create(request: Request, engine: EngineDep, user: SignedIn) -> Response:
    data = await request.form()
    raw = {key: [str(v) for v in data.getlist(key)] for key in data}
    refusal = _write_refusal(request, user, (raw.get("csrf_token") or [""])[0])
    if refusal is not None:
        return refusal
    form = read_form(raw)
    outcome = attempt_write(engine, lambda session: create_segment(session, form, user.username))
    if isinstance(outcome, Notice):
        return _show(request, engine, user, form=form, form_notice=outcome)
    return RedirectResponse(f"{HOME}?{urlencode({'done': 'created', 'name': outcome})}", 303)


@router.post("/{segment_id}/delete")
def segments_delete(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    segment_id: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    outcome = attempt_write(engine, lambda session: delete_segment(session, record_id(segment_id)))
    if isinstance(outcome, Notice):
        return _show(request, engine, user, notice=outcome)
    return RedirectResponse(f"{HOME}?{urlencode({'done': 'deleted', 'name': outcome})}", 303)
