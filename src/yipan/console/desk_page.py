"""The store desk's view models: the pickups a store has to prepare and hand over, and the
returns it takes back, whatever channel sold the goods.

Read and written through the orders context's services only (`queries`, `lifecycle`,
`returns`). A pickup belongs to the desk of the store that fulfils it; a pickup of another store
answers exactly as an unknown one. The service's own refusal (a wrong pickup code with the
attempts left, more returned than reached the customer) is shown as it is: it is already written
for the person at the counter.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.console.fulfilment_steps import take_step
from yipan.console.members_page import yuan
from yipan.console.notice import Notice
from yipan.kernel.errors import YipanError
from yipan.orders.domain.fulfilment import Action, Kind, State
from yipan.orders.errors import UnknownFulfilment, UnknownOrder
from yipan.orders.schemas import OrderOut, ReturnIn, ReturnLineIn, ReturnOut
from yipan.orders.service import queries, returns

DESK_PERMISSION = "orders.write"
RETURN_CHANNEL = "pos"
MAX_REASON_LENGTH = 200  # as the orders service's ReturnIn.reason
# Enough for a store's open pickups on one screen; the desk works the oldest first.
MAX_OPEN_ORDERS = 200
_DUE = (State.ALLOCATED.value, State.READY_FOR_PICKUP.value)
_HANDED_OVER = (State.DELIVERED.value, State.PICKED_UP.value)


def desk_store(scope: Scope, asked: str) -> str | None:
    """The store whose desk this user works: their own store, or any store HQ names.

    None when the user may not work the desk asked for (another store, or a region scope)."""
    wanted = asked.strip()
    if scope.kind == "all":
        return wanted or None
    if scope.kind == "store" and wanted in ("", scope.value):
        return scope.value
    return None


# --- pickups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickupItem:
    sku: str
    quantity: int


@dataclass(frozen=True)
class PickupRow:
    fulfilment_id: int
    order_id: int
    channel: str
    external_id: str
    customer: str | None
    state: str
    items: list[PickupItem]

    @property
    def may_mark_ready(self) -> bool:
        return self.state == State.ALLOCATED.value

    @property
    def may_hand_over(self) -> bool:
        return self.state == State.READY_FOR_PICKUP.value


def pickups_due(session: Session, store: str) -> list[PickupRow]:
    """The store's pickups still to prepare (allocated) or to hand over (ready), oldest first."""
    query = queries.OrderQuery(state="open", method="pickup", visible_at=[store])
    rows: list[PickupRow] = []
    for summary in queries.list_orders(session, query, limit=MAX_OPEN_ORDERS):
        order = queries.get_order(session, summary.id)
        for f in order.fulfilments:
            if f.node != store or f.kind != Kind.PICKUP.value or f.state not in _DUE:
                continue
            rows.append(
                PickupRow(
                    fulfilment_id=f.id,
                    order_id=order.id,
                    channel=order.channel,
                    external_id=order.external_id,
                    customer=order.member_id,
                    state=f.state,
                    items=[PickupItem(sku=ln.sku, quantity=ln.quantity) for ln in f.lines],
                )
            )
    return sorted(rows, key=lambda r: r.fulfilment_id)


def _store_pickup(session: Session, store: str, fulfilment_id: int) -> bool:
    try:
        f = queries.get_fulfilment(session, fulfilment_id)
    except UnknownFulfilment:
        return False
    return f.node == store and f.kind == Kind.PICKUP.value


def unknown_pickup(fulfilment_id: object) -> Notice:
    return Notice("desk.unknown_pickup", {"id": fulfilment_id}, status=404)


def mark_ready(session: Session, store: str, fulfilment_id: int, who: str) -> Notice | None:
    """Put the goods on the pickup shelf (the customer gets their code); a notice if refused."""
    if not _store_pickup(session, store, fulfilment_id):
        return unknown_pickup(fulfilment_id)
    return take_step(session, fulfilment_id, Action.MARK_READY, who)


def hand_over(
    session: Session, store: str, fulfilment_id: int, code: str, who: str
) -> Notice | None:
    """Hand the goods over against the customer's code; a notice when refused (a wrong code:
    see `take_step`)."""
    if not _store_pickup(session, store, fulfilment_id):
        return unknown_pickup(fulfilment_id)
    return take_step(session, fulfilment_id, Action.HAND_OVER, who, code)


# --- returns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnableLine:
    line_no: int
    sku: str
    paid_fen: int
    quantity: int
    returnable: int


@dataclass(frozen=True)
class ReturnDesk:
    asked: str
    notice: Notice | None = None
    order: OrderOut | None = None
    lines: list[ReturnableLine] = field(default_factory=list)
    idempotency_key: str = ""


def returnable_lines(order: OrderOut) -> list[ReturnableLine]:
    """The order's lines that reached the customer, with how many may still come back."""
    got: dict[int, int] = defaultdict(int)
    for f in order.fulfilments:
        if f.state in _HANDED_OVER:
            for part in f.lines:
                if part.status == "committed":
                    got[part.line_no] += part.quantity
    return [
        ReturnableLine(
            line_no=ln.line_no,
            sku=ln.sku,
            paid_fen=ln.paid_fen,
            quantity=ln.quantity,
            returnable=got[ln.line_no] - ln.returned_quantity,
        )
        for ln in order.lines
        if got[ln.line_no] > 0
    ]


def return_desk(session: Session, asked: str, *, notice: Notice | None = None) -> ReturnDesk:
    """The form for returning goods of one order; a fresh idempotency key for each form shown,
    so that sending the same form twice takes the goods back once."""
    text = asked.strip()
    if not text:
        return ReturnDesk(asked=text, notice=notice)
    if not text.isdecimal() or len(text) > 18:
        return ReturnDesk(asked=text, notice=Notice("desk.unknown_order", {"id": text}, 404))
    try:
        order = queries.get_order(session, int(text))
    except UnknownOrder:
        return ReturnDesk(asked=text, notice=Notice("desk.unknown_order", {"id": text}, 404))
    lines = returnable_lines(order)
    return ReturnDesk(
        asked=text,
        notice=notice or (None if lines else Notice("desk.nothing_to_return", {"id": text})),
        order=order,
        lines=lines,
        idempotency_key=secrets.token_urlsafe(16),
    )


@dataclass(frozen=True)
class ReturnForm:
    order_id: str
    line_no: str
    quantity: str
    condition: str
    reason: str
    idempotency_key: str


def take_return(session: Session, store: str, form: ReturnForm, who: str) -> ReturnOut | Notice:
    """Take the goods back at the store; the notice saying why not, with nothing written."""
    reason = form.reason.strip()
    if not reason:
        return Notice("desk.reason_missing", status=422)
    if len(reason) > MAX_REASON_LENGTH:
        return Notice("desk.reason_too_long", {"max": MAX_REASON_LENGTH}, status=422)
    numbers = [form.order_id.strip(), form.line_no.strip(), form.quantity.strip()]
    if not all(n.isdecimal() and len(n) <= 18 for n in numbers):
        return Notice("desk.bad_number", status=422)
    order_id, line_no, quantity = (int(n) for n in numbers)
    try:
        return_in = ReturnIn(
            order_id=order_id,
            node=store,
            idempotency_key=form.idempotency_key,
            lines=[ReturnLineIn(line_no=line_no, quantity=quantity, condition=form.condition)],
            channel=RETURN_CHANNEL,
            reason=reason,
            actor=who,
        )
    except ValidationError as invalid:
        problems = "; ".join(str(e["msg"]) for e in invalid.errors())
        return Notice("desk.refused", {"message": problems}, status=422)
    try:
        ret, _created = returns.take_return(session, return_in)
    except YipanError as refused:
        return Notice("desk.refused", {"message": refused.message}, status=refused.status)
    return ret


def returned(session: Session, return_id: int) -> Notice | None:
    """The notice after a return: what was refunded."""
    try:
        ret = queries.get_return(session, return_id)
    except YipanError:
        return None
    return Notice(
        "desk.returned", {"id": ret.id, "order": ret.order_id, "refund": yuan(ret.refund_fen)}
    )
