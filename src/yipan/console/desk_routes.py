"""The store desk pages: the pickups due at a store and the returns it takes back.

A store's staff work their own store's desk; HQ chooses a store with `?store=`. Anyone else, or
a pickup of another store, gets a 404, as for a desk that does not exist. The writes (mark ready,
hand over, take a return) are POST forms carrying the session's CSRF token; done, they redirect
back to the desk with a notice (post/redirect/get), so a reload does not act twice. Refused, they
re-render the desk with the service's reason and write nothing (but a wrong pickup code, which
counts towards the pickup's lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from yipan.console.desk_page import (
    DESK_PERMISSION,
    ReturnDesk,
    ReturnForm,
    desk_store,
    hand_over,
    mark_ready,
    pickups_due,
    return_desk,
    returned,
    take_return,
    unknown_pickup,
)
from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.fulfilment_steps import WRONG_CODE, count_wrong_code
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.paging import record_id
from yipan.console.rendering import render
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

router = APIRouter(
    prefix="/console/desk",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

SECTION = "store_desk"
DONE_NOTICES = {"ready": "desk.marked_ready", "handed_over": "desk.handed_over"}
Field = Annotated[str, Form()]


def _desk(
    request: Request,
    engine: EngineDep,
    store: str | None,
    notice: Notice | None,
    returns_desk: ReturnDesk | None = None,
) -> Response:
    """The desk page; without a store (HQ not having chosen one) only the store picker."""
    pickups = []
    if store is not None:
        with unit_of_work(engine, readonly=True) as session:
            pickups = pickups_due(session, store)
    context = {
        "store": store,
        "pickups": pickups,
        "returns": returns_desk or ReturnDesk(asked=""),
        "notice": notice,
    }
    status = notice.status if notice else 200
    return render(request, "desk.html", context, section=SECTION, status_code=status)


def _not_yours(request: Request) -> Response:
    notice = Notice("desk.not_yours", status=404)
    return render(
        request, "desk.html", {"store": None, "notice": notice, "refused": True},
        section=SECTION, status_code=404,
    )  # fmt: skip


def _store_of(user: ConsoleUser, asked: str) -> str | None:
    if not user.principal.may(DESK_PERMISSION):
        return None
    return desk_store(user.scope, asked)


def _back(store: str, **query: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/desk?{urlencode({'store': store, **query})}", status_code=303
    )


@router.get("")
def desk(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    store: str = "",
    order: str = "",
    done: str = "",
    returned_id: str = "",
) -> Response:
    if user.scope.kind == "all" and not store.strip() and user.principal.may(DESK_PERMISSION):
        return _desk(request, engine, None, None)
    chosen = _store_of(user, store)
    if chosen is None:
        return _not_yours(request)
    key = DONE_NOTICES.get(done)
    notice = Notice(key) if key else None
    with unit_of_work(engine, readonly=True) as session:
        number = record_id(returned_id)
        if number is not None:
            notice = returned(session, number) or notice
        returns_desk = return_desk(session, order)
    return _desk(request, engine, chosen, notice or returns_desk.notice, returns_desk)


def _refusal(request: Request, user: ConsoleUser, store: str, csrf_token: str) -> Response | str:
    """The store to act at, or the page saying why not (404 for another store, 403 for a form
    without the session's token)."""
    chosen = _store_of(user, store)
    if chosen is None:
        return _not_yours(request)
    if not csrf_ok(request, csrf_token):
        notice = Notice("desk.form_expired", status=403)
        return render(
            request, "desk.html", {"store": None, "notice": notice, "refused": True},
            section=SECTION, status_code=403,
        )  # fmt: skip
    return chosen


# A pickup action: (session, store, fulfilment id) → None when done, or why not.
PickupAction = Callable[[Session, str, int], Notice | None]


def _on_pickup(
    request: Request,
    engine: EngineDep,
    user: ConsoleUser,
    fulfilment_id: str,
    store: str,
    csrf_token: str,
    action: PickupAction,
    done: str,
) -> Response:
    """Run `action` on one of the store's pickups in its own transaction, undone when refused;
    back to the desk with a notice either way. A wrong code still counts towards the lock."""
    chosen = _refusal(request, user, store, csrf_token)
    if not isinstance(chosen, str):
        return chosen
    number = record_id(fulfilment_id)
    if number is None:
        return _desk(request, engine, chosen, unknown_pickup(fulfilment_id))
    notice = attempt_write(engine, lambda session: action(session, chosen, number))
    if notice is None:
        return _back(chosen, done=done)
    if notice.key == WRONG_CODE:
        with unit_of_work(engine) as session:
            count_wrong_code(session, number, user.username)
    return _desk(request, engine, chosen, notice)


@router.post("/pickups/{fulfilment_id}/ready")
def desk_mark_ready(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    fulfilment_id: str,
    store: Field = "",
    csrf_token: Field = "",
) -> Response:
    def ready(session: Session, chosen: str, number: int) -> Notice | None:
        return mark_ready(session, chosen, number, user.username)

    return _on_pickup(request, engine, user, fulfilment_id, store, csrf_token, ready, "ready")


@router.post("/pickups/{fulfilment_id}/hand-over")
def desk_hand_over(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    fulfilment_id: str,
    store: Field = "",
    code: Field = "",
    csrf_token: Field = "",
) -> Response:
    def give(session: Session, chosen: str, number: int) -> Notice | None:
        return hand_over(session, chosen, number, code, user.username)

    return _on_pickup(request, engine, user, fulfilment_id, store, csrf_token, give, "handed_over")


@router.post("/returns")
def desk_take_return(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    store: Field = "",
    order_id: Field = "",
    line_no: Field = "",
    quantity: Field = "",
    condition: Field = "resellable",
    reason: Field = "",
    idempotency_key: Field = "",
    csrf_token: Field = "",
) -> Response:
    chosen = _refusal(request, user, store, csrf_token)
    if not isinstance(chosen, str):
        return chosen
    form = ReturnForm(order_id, line_no, quantity, condition, reason, idempotency_key)
    outcome = attempt_write(
        engine, lambda session: take_return(session, chosen, form, user.username)
    )
    if isinstance(outcome, Notice):
        with unit_of_work(engine, readonly=True) as session:
            returns_desk = return_desk(session, order_id, notice=outcome)
        return _desk(request, engine, chosen, outcome, returns_desk)
    return _back(chosen, returned_id=str(outcome.id))
