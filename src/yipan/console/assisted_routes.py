"""The guide-assisted order pages: the tablet page that builds and places the order, and the
placed order with its routing and, for a pickup here, the code to hand over.

Store staff (guide, manager) place for their own store; HQ names the store with `?store=`. Any
other store answers 404, as a desk that does not exist; other roles get a plain 403. Reading the
page (finding the customer, adding lines) is GET and writes nothing. Placing is a POST carrying
the session's CSRF token and the form's idempotency key; placed, it redirects to the order
(post/redirect/get), refused, it shows the page again with the reason and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from yipan.console.assisted_page import (
    AddressForm,
    CartRequest,
    PlacedView,
    PlaceForm,
    assist_store,
    assisted_order,
    may_assist,
    place,
    placed_view,
    ready_now,
)
from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.rendering import render
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/desk/assisted-order",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "store_desk"
TEMPLATE = "assisted_order.html"
Field = Annotated[str, Form()]
Many = Annotated[list[str] | None, Query()]


async def form_data(request: Request) -> FormData:
    """The posted form as it came: the order form has one radio group per line (`how_1`, …)."""
    return await request.form()


Posted = Annotated[FormData, Depends(form_data)]


def _show(request: Request, context: dict[str, Any], notice: Notice | None) -> Response:
    status = notice.status if notice else 200
    full = {"page": None, "placed": None, "refused": False, "notice": notice, **context}
    return render(request, TEMPLATE, full, section=SECTION, status_code=status)


def _refused(request: Request, key: str, status: int) -> Response:
    return _show(request, {"refused": True}, Notice(key, status=status))


def _store_or_refusal(request: Request, user: ConsoleUser, store: str) -> str | Response:
    if not may_assist(user.principal):
        return _refused(request, "assist.may_not", 403)
    chosen = assist_store(user.principal, store)
    if chosen is None:
        return _refused(request, "assist.not_yours", 404)
    return chosen


@router.get("")
def assisted(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    store: str = "",
    phone: str = "",
    member: str = "",
    walkin: str = "",
    sku: Many = None,
    qty: Many = None,
    add_sku: str | None = None,
    add_qty: str = "1",
) -> Response:
    asked = CartRequest(
        phone=phone,
        member=member,
        walk_in=walkin == "1",
        skus=sku or [],
        quantities=qty or [],
        add_sku=add_sku,
        add_quantity=add_qty,
    )
    if may_assist(user.principal) and user.scope.kind == "all" and not store.strip():
        # HQ first says for which store; what it came with (a member from the 360 page) stays.
        return _show(request, {"choose_store": True, "carry": asked}, None)
    chosen = _store_or_refusal(request, user, store)
    if not isinstance(chosen, str):
        return chosen
    with unit_of_work(engine, readonly=True) as session:
        page = assisted_order(session, user.scope, chosen, asked)
    return _show(request, {"page": page}, page.notice)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def read_place_form(form: FormData) -> PlaceForm:
    skus = _texts(form, "sku")
    hows = {no: _text(form, f"how_{no}") for no in range(1, len(skus) + 1)}
    address = AddressForm(
        line=_text(form, "address_line"),
        city=_text(form, "address_city"),
        name=_text(form, "address_name"),
        phone=_text(form, "address_phone"),
        latitude=_text(form, "address_lat"),
        longitude=_text(form, "address_lon"),
    )
    cart = CartRequest(
        phone=_text(form, "phone"),
        member=_text(form, "member"),
        walk_in=_text(form, "walkin") == "1",
        skus=skus,
        quantities=_texts(form, "qty"),
        hows=hows,
        address=address,
    )
    return PlaceForm(
        cart=cart,
        idempotency_key=_text(form, "idempotency_key"),
        prices=_texts(form, "price"),
        total=_text(form, "total"),
    )


@router.post("")
def assisted_place(request: Request, engine: EngineDep, user: SignedIn, form: Posted) -> Response:
    chosen = _store_or_refusal(request, user, _text(form, "store"))
    if not isinstance(chosen, str):
        return chosen
    if not csrf_ok(request, _text(form, "csrf_token")):
        return _refused(request, "desk.form_expired", 403)
    asked = read_place_form(form)
    outcome = attempt_write(
        engine, lambda session: place(session, user.scope, chosen, asked, user.username)
    )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            page = assisted_order(session, user.scope, chosen, asked.cart, notice=outcome)
        return _show(request, {"page": page}, outcome)
    where = urlencode({"store": chosen})
    return RedirectResponse(
        f"/console/desk/assisted-order/orders/{outcome.id}?{where}", status_code=303
    )


def _placed(request: Request, shown: PlacedView) -> Response:
    return _show(request, {"placed": shown}, shown.notice)


@router.get("/orders/{order_id}")
def assisted_placed(
    request: Request, engine: EngineDep, user: SignedIn, order_id: str, store: str = ""
) -> Response:
    chosen = _store_or_refusal(request, user, store)
    if not isinstance(chosen, str):
        return chosen
    with unit_of_work(engine, readonly=True) as session:
        shown = placed_view(session, chosen, order_id)
    return _placed(request, shown)


@router.post("/orders/{order_id}/pickups/{fulfilment_id}/ready")
def assisted_ready_now(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    order_id: str,
    fulfilment_id: str,
    store: Field = "",
    csrf_token: Field = "",
) -> Response:
    chosen = _store_or_refusal(request, user, store)
    if not isinstance(chosen, str):
        return chosen
    if not csrf_ok(request, csrf_token):
        return _refused(request, "desk.form_expired", 403)
    shown = attempt_write(
        engine,
        lambda session: ready_now(session, chosen, order_id, fulfilment_id, user.username),
    )
    # Rendered, not redirected: the code is not put in a URL. A reload sends the form again,
    # and the orders service answers a repeated mark-ready with the same code.
    return _placed(request, shown)
