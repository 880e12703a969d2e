"""The transfers pages: the list, the request form, one transfer, and its ship, receive and
cancel steps.

Everyone who reads inventory sees the transfers of their scope; roles with `inventory.transfer`
act on them (see transfers_page for who may take which step). Every write is a POST carrying the
session's CSRF token; done, it redirects to the transfer with a notice (post/redirect/get);
refused, it shows the page again with the reason in plain words and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.paging import MAX_PAGE, positive_int
from yipan.console.rendering import render, wants_fragment
from yipan.console.transfers_page import (
    READ_PERMISSION,
    STATES,
    TRANSFER_PERMISSION,
    TransferList,
    TransferView,
    apply_suggestion,
    cancel,
    list_page,
    receive,
    ship,
    suggested_moves,
    transfer_form,
    transfer_view,
)
from yipan.console.transfers_page import request as request_transfer
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.inventory.schemas import TransferOut
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/inventory/transfers",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "inventory"
TEMPLATE = "transfers.html"
DONE_NOTICES = {
    "created": "transfers.created",
    "shipped": "transfers.shipped",
    "received": "transfers.received",
    "cancelled": "transfers.cancelled",
}
Field = Annotated[str, Form()]
# A step on one transfer the user sees: the transfer after it, or why not.
Step = Callable[[Session, TransferView], TransferOut | Notice]
Fields = Annotated[list[str] | None, Form()]


def _show(
    request: Request, user: ConsoleUser, mode: str, context: dict[str, Any], notice: Notice | None
) -> Response:
    status = notice.status if notice else 200
    full = {
        "mode": mode,
        "notice": notice,
        "states": STATES,
        "may_transfer": user.principal.may(TRANSFER_PERMISSION),
        **context,
    }
    return render(request, TEMPLATE, full, section=SECTION, status_code=status)


def _refused(request: Request, user: ConsoleUser, key: str, status: int) -> Response:
    return _show(request, user, "refused", {}, Notice(key, status=status))


@router.get("")
def transfers_list(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    state: str = "",
    node: str = "",
    page: str | None = None,
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, user, "transfers.may_not_read", 403)
    try:
        number = positive_int(page, default=1, ceiling=MAX_PAGE) or 1
    except ValueError:
        listing = TransferList(
            state=state.strip(), node=node.strip(),
            notice=Notice("transfers.bad_page", {"max": MAX_PAGE}, status=422),
        )  # fmt: skip
        return _show(request, user, "list", {"listing": listing}, listing.notice)
    with unit_of_work(engine, readonly=True) as session:
        listing = list_page(session, user.scope, state, node, number)
    return _show(request, user, "list", {"listing": listing}, listing.notice)


# Declared before `/{code}` so that "new" is not taken for a transfer code.
@router.get("/new")
def transfers_new(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    sku: str = "",
    to: str = "",
    source: str = "",
    qty: str = "",
) -> Response:
    if not user.principal.may(TRANSFER_PERMISSION):
        return _refused(request, user, "transfers.may_not", 403)
    with unit_of_work(engine, readonly=True) as session:
        form = transfer_form(session, sku=sku, source=source, destination=to, quantity=qty)
    return _show(request, user, "form", {"form": form}, form.notice)


# The transfer plan's suggested moves: a fragment the list page loads after it shows (working
# the plan out takes a moment), or a page of its own without HTMX.
@router.get("/suggested")
def transfers_suggested(request: Request, engine: EngineDep, user: SignedIn) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, user, "transfers.may_not_read", 403)
    with unit_of_work(engine, readonly=True) as session:
        suggestions = suggested_moves(session, user.scope)
    if wants_fragment(request):
        context = {
            "suggestions": suggestions,
            "may_transfer": user.principal.may(TRANSFER_PERMISSION),
        }
        return render(request, "_transfer_suggestions.html", context, section=SECTION)
    return _show(request, user, "suggested", {"suggestions": suggestions}, None)


@router.post("/suggested/apply")
def transfers_apply_suggestion(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    basis: Field = "",
    sku: Field = "",
    source: Field = "",
    destination: Field = "",
    quantity: Field = "",
    csrf_token: Field = "",
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    move = {"sku": sku, "source": source, "destination": destination, "quantity": quantity}
    outcome = attempt_write(
        engine, lambda session: apply_suggestion(session, user.principal, basis=basis, **move)
    )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            suggestions = suggested_moves(session, user.scope, notice=outcome)
        return _show(request, user, "suggested", {"suggestions": suggestions}, outcome)
    return _to_transfer(outcome.code, "created")


def _write_refusal(request: Request, user: ConsoleUser, csrf_token: str) -> Response | None:
    """A plain 403 page unless the user may move stock and the form is the session's."""
    if not user.principal.may(TRANSFER_PERMISSION):
        return _refused(request, user, "transfers.may_not", 403)
    if not csrf_ok(request, csrf_token):
        return _refused(request, user, "transfers.form_expired", 403)
    return None


def _to_transfer(code: str, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/inventory/transfers/{quote(code, safe='')}?done={done}", status_code=303
    )


@router.post("")
def transfers_create(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    sku: Field = "",
    source: Field = "",
    destination: Field = "",
    quantity: Field = "",
    reason: Field = "",
    idempotency_key: Field = "",
    csrf_token: Field = "",
) -> Response:
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    asked = {"sku": sku, "source": source, "destination": destination, "quantity": quantity}
    outcome = attempt_write(
        engine,
        lambda session: request_transfer(
            session, user.principal, **asked, reason=reason, idempotency_key=idempotency_key
        ),
    )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            form = transfer_form(session, **asked, reason=reason, notice=outcome)
        return _show(request, user, "form", {"form": form}, outcome)
    return _to_transfer(outcome.code, "created")


@router.get("/{code}")
def transfers_detail(
    request: Request, engine: EngineDep, user: SignedIn, code: str, done: str = ""
) -> Response:
    if not user.principal.may(READ_PERMISSION):
        return _refused(request, user, "transfers.may_not_read", 403)
    key = DONE_NOTICES.get(done)
    with unit_of_work(engine, readonly=True) as session:
        notice = Notice(key, {"code": code}) if key else None
        view = transfer_view(session, user.principal, code, notice=notice)
    return _show(request, user, "detail", {"view": view}, view.notice)


def _step(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    code: str,
    csrf_token: str,
    done: str,
    act: Step,
) -> Response:
    """Run one step on a transfer the user sees, in its own transaction, undone when refused."""
    refusal = _write_refusal(request, user, csrf_token)
    if refusal is not None:
        return refusal
    outcome = attempt_write(
        engine, lambda session: act(session, transfer_view(session, user.principal, code))
    )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            view = transfer_view(session, user.principal, code, notice=outcome)
        if view.transfer is None:
            return _show(request, user, "detail", {"view": view}, view.notice)
        return _show(request, user, "detail", {"view": view}, outcome)
    return _to_transfer(outcome.code, done)


@router.post("/{code}/ship")
def transfers_ship(
    request: Request, engine: EngineDep, user: SignedIn, code: str, csrf_token: Field = ""
) -> Response:
    return _step(request, engine, user, code, csrf_token, "shipped", ship)


@router.post("/{code}/receive")
def transfers_receive(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    code: str,
    csrf_token: Field = "",
    line_sku: Fields = None,
    received: Fields = None,
    damaged: Fields = None,
) -> Response:
    def act(session: Session, view: TransferView) -> TransferOut | Notice:
        return receive(session, view, line_sku or [], received or [], damaged or [])

    return _step(request, engine, user, code, csrf_token, "received", act)


@router.post("/{code}/cancel")
def transfers_cancel(
    request: Request, engine: EngineDep, user: SignedIn, code: str, csrf_token: Field = ""
) -> Response:
    return _step(request, engine, user, code, csrf_token, "cancelled", cancel)
