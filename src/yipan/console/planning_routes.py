"""The planning page: `/console/planning` shows the latest demand forecast, its backtest and
the replenishment it suggests (`?sku=&node=` adds one series' forecast as a chart); roles with
`insights.plan` set the reorder points from it with a POST carrying the session's CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.planning_page import (
    PLAN_PERMISSION,
    READ_PERMISSION,
    PlanningView,
    planning_view,
    set_reorder_points,
)
from yipan.console.rendering import render
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/planning",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "planning"
Field = Annotated[str, Form()]


def _show(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    sku: str = "",
    node: str = "",
    notice: Notice | None = None,
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        view = PlanningView(Notice("planning.may_not_read", status=403))
    else:
        with unit_of_work(engine, readonly=True) as session:
            view = planning_view(session, user.scope, sku, node)
    shown = notice or view.notice
    status = shown.status if shown else (view.series_notice.status if view.series_notice else 200)
    context = {
        "view": view,
        "notice": shown,
        "may_plan": user.principal.may(PLAN_PERMISSION),
    }
    return render(request, "planning.html", context, section=SECTION, status_code=status)


@router.get("")
def planning(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    sku: str = "",
    node: str = "",
    changed: str = "",
) -> Response:
    notice = None
    if changed.isdigit():
        notice = Notice("planning.reorder_points_set", {"n": int(changed)})
    return _show(request, engine, user, sku, node, notice)


@router.post("/reorder-points")
def planning_reorder_points(
    request: Request, engine: EngineDep, user: SignedIn, csrf_token: Field = ""
) -> Response:
    if not user.principal.may(PLAN_PERMISSION):
        return _show(request, engine, user, notice=Notice("planning.may_not_plan", status=403))
    if not csrf_ok(request, csrf_token):
        return _show(request, engine, user, notice=Notice("planning.form_expired", status=403))
    outcome = attempt_write(engine, lambda session: set_reorder_points(session, user.scope))
    if isinstance(outcome, Notice):
        return _show(request, engine, user, notice=outcome)
    return RedirectResponse(f"/console/planning?changed={outcome}", status_code=303)
