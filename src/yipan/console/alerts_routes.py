"""The inventory alerts page: `/console/inventory/alerts` lists the low-stock alerts of the
user's scope (live ones by default), and roles with `inventory.write` acknowledge them with a
POST carrying the session's CSRF token (post/redirect/get; refused, the page says why)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.alerts_page import (
    ACK_PERMISSION,
    READ_PERMISSION,
    AlertFilters,
    AlertList,
    acknowledge,
    list_page,
    unknown_alert,
)
from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.paging import MAX_PAGE, positive_int, record_id
from yipan.console.rendering import render, wants_fragment
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/inventory/alerts",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

Field = Annotated[str, Form()]


def _show(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    filters: AlertFilters,
    page: int,
    notice: Notice | None = None,
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        listing = AlertList(filters, Notice("alerts.may_not_read", status=403))
    else:
        with unit_of_work(engine, readonly=True) as session:
            listing = list_page(session, user.scope, filters, page)
    shown = notice or listing.notice
    template = "_alerts_result.html" if wants_fragment(request) else "alerts.html"
    context = {
        "listing": listing,
        "notice": shown,
        "may_acknowledge": user.principal.may(ACK_PERMISSION),
    }
    status = shown.status if shown else 200
    return render(request, template, context, section="inventory", status_code=status)


@router.get("")
def alerts_list(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    status: str = "live",
    sku: str = "",
    node: str = "",
    page: str | None = None,
    done: str = "",
) -> Response:
    filters = AlertFilters(status=status, sku=sku, node=node)
    try:
        number = positive_int(page, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        bad = Notice("alerts.bad_page", {"page": (page or "")[:20]}, status=422)
        return _show(request, engine, user, AlertFilters(), 1, bad)
    notice = Notice("alerts.acknowledged") if done == "acknowledged" else None
    return _show(request, engine, user, filters, number, notice)


@router.post("/{alert_id}/acknowledge")
def alerts_acknowledge(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    alert_id: str,
    note: Field = "",
    csrf_token: Field = "",
) -> Response:
    filters = AlertFilters()
    if not user.principal.may(ACK_PERMISSION):
        refusal = Notice("alerts.may_not_acknowledge", status=403)
        return _show(request, engine, user, filters, 1, refusal)
    if not csrf_ok(request, csrf_token):
        return _show(request, engine, user, filters, 1, Notice("alerts.form_expired", status=403))
    number = record_id(alert_id)
    if number is None:
        return _show(request, engine, user, filters, 1, unknown_alert(alert_id))
    outcome = attempt_write(
        engine, lambda session: acknowledge(session, user.scope, number, user.username, note)
    )
    if outcome is not None:
        return _show(request, engine, user, filters, 1, outcome)
    return RedirectResponse("/console/inventory/alerts?done=acknowledged", status_code=303)
