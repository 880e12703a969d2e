"""The audit log page, for HQ administrators; everyone else gets a plain 403 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from yipan.console.audit_page import READ_PERMISSION, audit_page
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.rendering import render
from yipan.console.user import SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

SECTION = "audit"
router = APIRouter(
    prefix="/console/audit",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)


@router.get("")
def audit_log(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    actor: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        notice = Notice("audit.refused", status=403)
        return render(
            request,
            "audit.html",
            {"view": None, "notice": notice},
            section=SECTION,
            status_code=notice.status,
        )
    with unit_of_work(engine, readonly=True) as session:
        view = audit_page(session, actor, action, before)
    status = view.notice.status if view.notice else 200
    return render(
        request,
        "audit.html",
        {"view": view, "notice": view.notice},
        section=SECTION,
        status_code=status,
    )
