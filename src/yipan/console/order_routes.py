"""One order's page, and its fulfilments' legal steps as buttons (pick, pack, ship, deliver,
mark ready, hand over with the customer's code, cancel).

A step is a POST carrying the session's CSRF token, taken by roles with `orders.write` on a
fulfilment their data scope covers; done, it redirects to the order with a notice
(post/redirect/get), so a reload does not act twice; refused, it shows the order again with the
service's reason in plain words and keeps nothing (but a wrong pickup code, which counts towards
the pickup's lock, as at the store desk).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from yipan.console.forms import attempt_write, csrf_ok
from yipan.console.fulfilment_steps import WRONG_CODE, count_wrong_code
from yipan.console.i18n import LANG_COOKIE, label, pick_lang, translator
from yipan.console.login_page import SignInRedirectRoute
from yipan.console.notice import Notice
from yipan.console.orders_page import ACT_PERMISSION, act_on_fulfilment, order_detail
from yipan.console.paging import record_id
from yipan.console.rendering import render
from yipan.console.user import ConsoleUser, SignedIn, console_user
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep
from yipan.orders.domain.fulfilment import Action

router = APIRouter(
    prefix="/console/orders",
    include_in_schema=False,
    dependencies=[Depends(console_user)],
    route_class=SignInRedirectRoute,
)

Field = Annotated[str, Form()]
STEPS = {a.value for a in Action}


def _show(
    request: Request, engine: EngineDep, user: ConsoleUser, order_id: str, notice: Notice | None
) -> Response:
    with unit_of_work(engine, readonly=True) as session:
        view = order_detail(session, user.scope, order_id)
    notice = view.notice or notice  # an order not to be seen says so, whatever was asked
    context = {"view": view, "notice": notice, "may_act": user.principal.may(ACT_PERMISSION)}
    status = notice.status if notice else 200
    return render(request, "order_detail.html", context, section="orders", status_code=status)


@router.get("/{order_id}")
def order_page(
    request: Request, engine: EngineDep, user: SignedIn, order_id: str, done: str = ""
) -> Response:
    notice = None
    if done in STEPS:
        t = translator(pick_lang(request.cookies.get(LANG_COOKIE)))
        notice = Notice("orders.step_done", {"action": label(t, "action", done)})
    return _show(request, engine, user, order_id, notice)


@router.post("/{order_id}/fulfilments/{fulfilment_id}/{action}")
def order_step(
    request: Request,
    engine: EngineDep,
    user: SignedIn,
    order_id: str,
    fulfilment_id: str,
    action: str,
    code: Field = "",
    csrf_token: Field = "",
) -> Response:
    if not user.principal.may(ACT_PERMISSION):
        return _show(request, engine, user, order_id, Notice("orders.may_not_act", status=403))
    if not csrf_ok(request, csrf_token):
        return _show(request, engine, user, order_id, Notice("orders.form_expired", status=403))
    notice = attempt_write(
        engine,
        lambda session: act_on_fulfilment(
            session, user.scope, order_id, fulfilment_id, action, code, user.username
        ),
    )
    if notice is None:
        return RedirectResponse(
            f"/console/orders/{quote(order_id, safe='')}?done={quote(action, safe='')}",
            status_code=303,
        )
    number = record_id(fulfilment_id)
    if notice.key == WRONG_CODE and number is not None:
        with unit_of_work(engine) as session:
            count_wrong_code(session, number, user.username)
    return _show(request, engine, user, order_id, notice)
