"""The marketing pages: promotions, coupon templates and coupons, the price-consistency report.

Everyone signed in may read them (`promotions.read` is every role's). The writes (create a
promotion or a coupon template, pause, resume, issue a coupon) are POST forms carrying the
session's CSRF token, allowed only to roles with `promotions.write`; anyone else gets a plain
403 page and nothing is written. Done, a write redirects back with a notice (post/redirect/get);
refused, it re-renders the page with the form as typed and the reason next to it, and writes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.marketing_forms import MAX_CODE
from yipan.console.marketing_page import (
    COUPON_KINDS,
    KINDS,
    STATUSES,
    STEPS,
    WRITE_PERMISSION,
    IssueForm,
    PriceReport,
    PromotionFilters,
    PromotionForm,
    PromotionList,
    TemplateForm,
    TemplateList,
    blank_issue_form,
    blank_promotion_form,
    blank_template_form,
    channel_codes,
    create_promotion,
    create_template,
    issue_coupon,
    list_promotions,
    list_templates,
    price_report,
    read_promotion_filters,
    set_promotion_status,
    tier_codes,
)
from yipan.console.notice import Notice
from yipan.console.paging import MAX_PAGE, positive_int
from yipan.console.rendering import render, wants_fragment
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/marketing",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "marketing"
HOME = "/console/marketing"
T = TypeVar("T")


def _page_number(raw: str | None) -> int | Notice:
    try:
        return positive_int(raw, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        return Notice("marketing.bad_page", {"max": MAX_PAGE}, status=422)


def _done(key: str, **values: str) -> Notice:
    return Notice(f"marketing.{key}", {k: v[:MAX_CODE] for k, v in values.items()})


def _page(
    request: Request, template: str, context: dict[str, Any], *notices: Notice | None
) -> Response:
    """Render with the status of the first refusal among the page's notices (200 without)."""
    status = next((n.status for n in notices if n is not None and n.status >= 400), 200)
    return render(request, template, context, section=SECTION, status_code=status)


def _refused(request: Request, key: str) -> Response:
    notice = Notice(key, status=403)
    return _page(request, "marketing_refused.html", {"notice": notice}, notice)


def _write_refusal(request: Request, user: ConsoleUser, csrf_token: str) -> Response | None:
    """A plain 403 page unless the user may write promotions and the form is the session's."""
    if not user.principal.may(WRITE_PERMISSION):
        return _refused(request, "marketing.may_not_write")
    if not csrf_ok(request, csrf_token):
        return _refused(request, "marketing.form_expired")
    return None


def _write(engine: EngineDep, action: Callable[[Session], T | Notice]) -> T | Notice:
    """Run one write in its own transaction, undone when refused. A form sent twice at once
    can lose the race for its code: the second try then finds the first's work and replays."""
    for attempt in (1, 2):
        try:
            return attempt_write(engine, action)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# --- promotions ------------------------------------------------------------------------------


def _promotions(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    listing: PromotionList,
    *,
    notice: Notice | None = None,
    form: PromotionForm | None = None,
    form_notice: Notice | None = None,
) -> Response:
    may_write = user.principal.may(WRITE_PERMISSION)
    context: dict[str, Any] = {
        "listing": listing,
        "notice": listing.notice or notice,
        "may_write": may_write,
        "statuses": STATUSES,
        "kinds": KINDS,
    }
    if wants_fragment(request):
        return _page(request, "marketing_promotions_result.html", context, listing.notice, notice)
    if may_write:
        with unit_of_work(engine, readonly=True) as session:
            context["channels"] = channel_codes(session)
        context |= {
            "form": form or blank_promotion_form(),
            "form_notice": form_notice,
            "steps": STEPS,
            "tiers": tier_codes(),
            "tz": get_settings().timezone,
        }
    return _page(request, "marketing.html", context, form_notice, listing.notice, notice)


def _listing(engine: EngineDep, filters: PromotionFilters, page: int | Notice) -> PromotionList:
    if isinstance(page, Notice):
        return PromotionList(filters, page)
    with unit_of_work(engine, readonly=True) as session:
        return list_promotions(session, filters, page)


@router.get("")
def promotions_page(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    status: str = "",
    kind: str = "",
    page: str | None = None,
    done: str = "",
    code: str = "",
) -> Response:
    filters, notice = read_promotion_filters(status, kind)
    listing = (
        PromotionList(filters, notice) if notice else _listing(engine, filters, _page_number(page))
    )
    shown = _done(done, code=code) if done in ("created", "paused", "resumed") else None
    return _promotions(request, engine, user, listing, notice=shown)


@router.post("/promotions")
def promotions_create(
    request: Request, engine: EngineDep, user: SignedIn, form: Annotated[PromotionForm, Form()]
) -> Response:
    refusal = _write_refusal(request, user, form.csrf_token)
    if refusal is not None:
        return refusal
    outcome = _write(engine, lambda session: create_promotion(session, form))
    if isinstance(outcome, Notice):
        listing = _listing(engine, PromotionFilters(), 1)
        return _promotions(request, engine, user, listing, form=form, form_notice=outcome)
    return RedirectResponse(f"{HOME}?{urlencode({'done': 'created', 'code': outcome})}", 303)


def _pause_or_resume(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    code: str,
    back: PromotionFilters,
    csrf_token: str,
    *,
    pause: bool,
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    outcome = _write(engine, lambda session: set_promotion_status(session, code, pause=pause))
    if isinstance(outcome, Notice):
        return _promotions(request, engine, user, _listing(engine, back, 1), notice=outcome)
    query = {**back.query(), "done": "paused" if pause else "resumed", "code": outcome.code}
    return RedirectResponse(f"{HOME}?{urlencode(query)}", status_code=303)


Field = Annotated[str, Form()]


def _back(status: str, kind: str) -> PromotionFilters:
    filters, _notice = read_promotion_filters(status, kind)
    return filters


@router.post("/promotions/{code}/pause")
def promotions_pause(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    code: str,
    status: Field = "",
    kind: Field = "",
    csrf_token: Field = "",
) -> Response:
    back = _back(status, kind)
    return _pause_or_resume(request, engine, user, code, back, csrf_token, pause=True)


@router.post("/promotions/{code}/resume")
def promotions_resume(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    code: str,
    status: Field = "",
    kind: Field = "",
    csrf_token: Field = "",
) -> Response:
    back = _back(status, kind)
    return _pause_or_resume(request, engine, user, code, back, csrf_token, pause=False)


# --- coupon templates and coupons ------------------------------------------------------------


def _coupons(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    listing: TemplateList,
    *,
    notice: Notice | None = None,
    template_form: TemplateForm | None = None,
    template_notice: Notice | None = None,
    issue_form: IssueForm | None = None,
    issue_notice: Notice | None = None,
    chosen: str = "",
) -> Response:
    context: dict[str, Any] = {
        "listing": listing,
        "notice": listing.notice or notice,
        "may_write": user.principal.may(WRITE_PERMISSION),
        "coupon_kinds": COUPON_KINDS,
        "template_form": template_form or blank_template_form(),
        "template_notice": template_notice,
        "issue_form": issue_form or blank_issue_form(chosen),
        "issue_notice": issue_notice,
    }
    notices = (template_notice, issue_notice, listing.notice)
    return _page(request, "marketing_coupons.html", context, *notices)


def _templates(engine: EngineDep, page: int | Notice) -> TemplateList:
    if isinstance(page, Notice):
        return TemplateList(page)
    with unit_of_work(engine, readonly=True) as session:
        return list_templates(session, page)


@router.get("/coupons")
def coupons_page(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    page: str | None = None,
    template: str = "",
    done: str = "",
    code: str = "",
    coupon: str = "",
    member: str = "",
) -> Response:
    shown = None
    if done == "template_created":
        shown = _done(done, code=code)
    elif done == "issued":
        shown = _done(done, coupon=coupon, member=member, code=code)
    listing = _templates(engine, _page_number(page))
    return _coupons(request, engine, user, listing, notice=shown, chosen=template)


@router.post("/coupons/templates")
def coupons_create_template(
    request: Request, engine: EngineDep, user: SignedIn, form: Annotated[TemplateForm, Form()]
) -> Response:
    refusal = _write_refusal(request, user, form.csrf_token)
    if refusal is not None:
        return refusal
    outcome = _write(engine, lambda session: create_template(session, form))
    if isinstance(outcome, Notice):
        listing = _templates(engine, 1)
        return _coupons(request, engine, user, listing, template_form=form, template_notice=outcome)
    query = {"done": "template_created", "code": outcome}
    return RedirectResponse(f"{HOME}/coupons?{urlencode(query)}", status_code=303)


@router.post("/coupons/issue")
def coupons_issue(
    request: Request, engine: EngineDep, user: SignedIn, form: Annotated[IssueForm, Form()]
) -> Response:
    refusal = _write_refusal(request, user, form.csrf_token)
    if refusal is not None:
        return refusal
    outcome = _write(engine, lambda session: issue_coupon(session, form))
    if isinstance(outcome, Notice):
        listing = _templates(engine, 1)
        return _coupons(request, engine, user, listing, issue_form=form, issue_notice=outcome)
    query = {
        "done": "issued",
        "code": outcome.template,
        "coupon": outcome.coupon,
        "member": outcome.member,
    }
    return RedirectResponse(f"{HOME}/coupons?{urlencode(query)}", status_code=303)


# --- the price-consistency report ------------------------------------------------------------


@router.get("/prices")
def prices_page(
    request: Request,
    engine: EngineDep,
    channel: str = "",
    unexplained: str = "",
    page: str | None = None,
) -> Response:
    number = _page_number(page)
    with unit_of_work(engine, readonly=True) as session:
        if isinstance(number, Notice):
            report = PriceReport(channel.strip()[:MAX_CODE], False, channel_codes(session), number)
        else:
            report = price_report(session, channel, unexplained, number)
    template = (
        "marketing_prices_result.html" if wants_fragment(request) else "marketing_prices.html"
    )
    context = {"report": report, "notice": report.notice}
    return _page(request, template, context, report.notice)
