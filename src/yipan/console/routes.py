"""The console's pages: each route reads its query, builds its view model in one read-only unit
of work, and renders it. Kept out of the OpenAPI schema: these are pages, not the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.i18n import LANG_COOKIE, pick_lang
from yipan.console.inventory_page import StockSearch, search_stock
from yipan.console.ledger_page import LedgerView, ledger_view
from yipan.console.notice import Notice
from yipan.console.paging import MAX_ID, MAX_PAGE, positive_int
from yipan.console.rendering import NAV, render, wants_fragment
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(prefix="/console", include_in_schema=False)

COMING = {item.path: item for item in NAV if not item.ready}
ONE_YEAR = 365 * 24 * 3600


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/console/inventory", status_code=303)


@router.get("/lang/{lang}")
def switch_language(
    lang: str, back_to: Annotated[str, Query(alias="next")] = "/console"
) -> RedirectResponse:
    """Remember the language in a cookie and go back where the visitor was."""
    # Only back into the console: a `next` naming another site would make this an open redirect.
    inside = back_to.startswith("/console") and not back_to.startswith("//")
    target = back_to if inside else "/console"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LANG_COOKIE, pick_lang(lang), max_age=ONE_YEAR, path="/", samesite="lax", httponly=True
    )
    return response


@router.get("/inventory")
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


@router.get("/inventory/{sku}/{node}")
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


def _coming(section_path: str) -> Callable[[Request], Response]:
    item = COMING[section_path]

    def page(request: Request) -> Response:
        return render(request, "coming.html", {"item": item}, section=item.section)

    return page


for _path in COMING:
    router.add_api_route(_path.removeprefix("/console"), _coming(_path), methods=["GET"])
