"""The dashboard page: `?period=today|7d|30d` (7d when absent) and `?region=<province>`.

A bad period answers 422 with a sentence saying which periods there are; a region the user may not
see answers 404, as one that does not exist. Both still show the period switch, so the next click
recovers.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from yipan.console.dashboard_page import PERIODS, dashboard_view
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.rendering import render
from yipan.console.user import SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/dashboard",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "dashboard"


@router.get("")
def dashboard(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    period: str | None = None,
    region: str | None = None,
) -> Response:
    with unit_of_work(engine, readonly=True) as session:
        view = dashboard_view(session, user.scope, period, region)
    context = {"view": view, "periods": PERIODS, "notice": view.notice}
    status = view.notice.status if view.notice else 200
    return render(request, "dashboard.html", context, section=SECTION, status_code=status)
