"""The console's pages: each route reads its query, builds its view model in one read-only unit
of work, and renders it. Kept out of the OpenAPI schema: these are pages, not the API.

Every page sits behind `console_user` (a valid session, else the login form); only the login form
and the language switch are public, and the static files, which the app mounts apart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.alerts_routes import router as alert_pages
from yipan.console.assisted_routes import router as assisted_pages
from yipan.console.audit_routes import router as audit_pages
from yipan.console.dashboard_routes import router as dashboard_pages
from yipan.console.desk_routes import router as desk_pages
from yipan.console.i18n import LANG_COOKIE, pick_lang
from yipan.console.inventory_page import StockSearch, search_stock
from yipan.console.ledger_page import LedgerView, ledger_view
from yipan.console.login_page import SignInRedirectRoute, log_out, safe_next
from yipan.console.login_page import router as login_router
from yipan.console.marketing_routes import router as marketing_pages
from yipan.console.member_routes import router as member_pages
from yipan.console.notice import Notice
from yipan.console.order_routes import router as order_pages
from yipan.console.orders_page import (
    OrderList,
    list_orders,
    read_filters,
    read_page,
)
from yipan.console.paging import MAX_ID, MAX_PAGE, positive_int
from yipan.console.planning_routes import router as planning_pages
from yipan.console.rendering import render, wants_fragment
from yipan.console.segments_routes import router as segment_pages
from yipan.console.transfers_routes import router as transfer_pages
from yipan.console.user import ConsoleUser, console_user, current_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

public = APIRouter(prefix="/console", include_in_schema=False)
pages = APIRouter(
    prefix="/console",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

ONE_YEAR = 365 * 24 * 3600


@pages.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/console/dashboard", status_code=303)


@public.get("/lang/{lang}")
def switch_language(
    lang: str, back_to: Annotated[str, Query(alias="next")] = "/console"
) -> RedirectResponse:
    """Remember the language in a cookie and go back where the visitor was."""
    response = RedirectResponse(safe_next(back_to, login_too=True), status_code=303)
    response.set_cookie(
        LANG_COOKIE, pick_lang(lang), max_age=ONE_YEAR, path="/", samesite="lax", httponly=True
    )
    return response


@pages.get("/inventory")
def inventory(
    request: Request, engine: EngineDep, sku: str = "", page: str | None = None
) -> Response:
    template = "_stock_result.html" if wants_fragment(request) else "inventory.html"
    try:
        number = positive_int(page, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        notice = Notice("inventory.bad_page", {"max": MAX_PAGE}, status=422)
        return _stock_page(request, template, None, sku.strip(), notice)
    with unit_of_work(engine, readonly=True) as session:
        search = search_stock(session, sku, number)
    return _stock_page(request, template, search, search.query, search.notice)


def _stock_page(
    request: Request,
    template: str,
    search: StockSearch | None,
    query: str,
    notice: Notice | None,
) -> Response:
    context = {"search": search, "query": query, "notice": notice}
    status = notice.status if notice else 200
    return render(request, template, context, section="inventory", status_code=status)


@pages.get("/inventory/{sku}/{node}")
def inventory_ledger(
    request: Request, engine: EngineDep, sku: str, node: str, before: str | None = None
) -> Response:
    try:
        before_id = positive_int(before, default=None, ceiling=MAX_ID)
    except ValueError:
        return _ledger_page(request, None, sku, node, Notice("ledger.bad_before", status=422))
    with unit_of_work(engine, readonly=True) as session:
        view = ledger_view(session, sku, node, before_id)
    return _ledger_page(request, view, sku, node, view.notice)


def _ledger_page(
    request: Request, view: LedgerView | None, sku: str, node: str, notice: Notice | None
) -> Response:
    context = {"view": view, "sku_code": sku, "node_code": node, "notice": notice}
    status = notice.status if notice else 200
    return render(request, "ledger.html", context, section="inventory", status_code=status)


def _signed_in(request: Request) -> ConsoleUser:
    user = current_user(request)
    assert user is not None  # every page sits behind console_user
    return user


@pages.get("/orders")
def orders(
    request: Request,
    engine: EngineDep,
    channel: str = "",
    state: str = "",
    method: str = "",
    store: str = "",
    date_from: Annotated[str, Query(alias="from")] = "",
    date_to: Annotated[str, Query(alias="to")] = "",
    page: str | None = None,
) -> Response:
    template = "_order_result.html" if wants_fragment(request) else "orders.html"
    filters, notice = read_filters(
        channel=channel,
        state=state,
        method=method,
        store=store,
        date_from=date_from,
        date_to=date_to,
    )
    number, page_notice = read_page(page)
    notice = notice or page_notice
    if notice:
        listing = OrderList(filters=filters, notice=notice)
    else:
        with unit_of_work(engine, readonly=True) as session:
            listing = list_orders(session, _signed_in(request).scope, filters, number)
    status = listing.notice.status if listing.notice else 200
    context = {"listing": listing, "notice": listing.notice}
    return render(request, template, context, section="orders", status_code=status)


pages.add_api_route("/logout", log_out, methods=["POST"])

router = APIRouter(include_in_schema=False)
router.include_router(public)
router.include_router(login_router)
# Before `pages`: its ledger route `/inventory/{sku}/{node}` would take `/inventory/transfers/…`.
router.include_router(transfer_pages)
router.include_router(alert_pages)
router.include_router(order_pages)
router.include_router(planning_pages)
router.include_router(pages)
router.include_router(member_pages)
router.include_router(desk_pages)
router.include_router(audit_pages)
router.include_router(assisted_pages)
router.include_router(segment_pages)
router.include_router(marketing_pages)
router.include_router(dashboard_pages)
