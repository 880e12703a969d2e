"""After placement: fulfilment steps, pickups and their codes, cancellation, rejection and re-routing.

Every change locks the fulfilment (or order) row first, so two terminals acting on the same
parcel are serialised, and the second one sees the state the first one left. Sending the action
that led to the current state again is answered with that state: a terminal that lost the
response can retry safely.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels import service as channels
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import MovementKind
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import movements, reservations
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import Clock, SystemClock
from yipan.orders.domain.fulfilment import (
    Action,
    IllegalFulfilmentTransition,
    Kind,
    State,
    goods_leave,
    next_state,
    pickup_code,
    pickup_code_matches,
    pickup_expired,
    releases_stock,
)
from yipan.orders.domain.routing import Method
from yipan.orders.errors import (
    AlreadyShipped,
    PickupLocked,
    UnknownFulfilment,
    UnknownLine,
    UnknownOrder,
    WrongPickupCode,
)
from yipan.orders.events import (
    FulfilmentAdvanced,
    FulfilmentRejected,
    OrderCancelled,
    OrderCompleted,
    PickupReady,
)
from yipan.orders.models import Fulfilment, FulfilmentLine, Order, OrderEvent, OrderLine
from yipan.orders.schemas import ActionIn, CancelIn, OrderOut, RejectIn, TransitionOut
from yipan.orders.service import checkout, queries, returns, trail
from yipan.orders.service.sourcing import LineToSource, reservation_reference, source

RandomBytes = Callable[[int], bytes]
# States from which the goods are still at the node: cancelling or rejecting is still possible.
_BEFORE_LEAVING = frozenset({State.CREATED, State.ALLOCATED, State.PICKING, State.PACKED})
_BEFORE_LEAVING |= {State.READY_FOR_PICKUP}
_HANDED_OVER = frozenset({State.DELIVERED, State.PICKED_UP})
# Where a fulfilment ends without the customer holding the goods, and what its lines become.
_LINE_END = {
    State.CANCELLED: "cancelled",
    State.EXPIRED: "not_collected",
    State.RETURNED_TO_SENDER: "undelivered",
}
_ENDED_STATES = tuple(s.value for s in _LINE_END)
# Lines that will not reach the customer through this order any more.
_ENDED_LINES = frozenset(_LINE_END.values())
# Wrong codes tolerated per pickup: a 6-digit code must not be guessable at the counter.
MAX_CODE_ATTEMPTS = 5


def advance(
    session: Session,
    fulfilment_id: int,
    action: Action,
    act: ActionIn,
    *,
    clock: Clock | None = None,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> TransitionOut:
    """Take one step of a fulfilment's state machine, with what the step means for stock."""
    now = (clock or SystemClock()).now()
    f = _lock_fulfilment(session, fulfilment_id)
    if f.last_action == action.value and action is not Action.MARK_READY:
        return TransitionOut(fulfilment=queries.fulfilment_outs(session, [f])[0])
    if f.last_action == action.value:  # a replayed mark_ready hands out the same code again
        return TransitionOut(
            fulfilment=queries.fulfilment_outs(session, [f])[0], pickup_code=f.pickup_code
        )
    kind, before = Kind(f.kind), State(f.state)
    after = next_state(kind, before, action)
    order = _lock_order(session, f.order_id)
    recorded: list[DomainEvent] = []
    code = None
    if action is Action.HAND_OVER:
        _check_code(session, f, act)
    if action is Action.MARK_READY:
        code = pickup_code(random_bytes(8))
        f.pickup_code, f.ready_at = code, now
        recorded.append(
            PickupReady(
                order_id=f.order_id,
                fulfilment_id=f.id,
                node=f.node,
                member_id=order.member_id,
                pickup_code=code,
            )
        )
    if goods_leave(kind, after):
        _close_holds(session, [f], commit=True, clock=clock)
        f.left_at = now
    if after in _HANDED_OVER:
        f.delivered_at = now
    if releases_stock(after):
        _close_holds(session, [f], commit=False, clock=clock)
    if after is State.RETURNED_TO_SENDER:
        _restock_returned_parcel(session, f, order.channel, clock)
    _move(session, f, action, after, now, act)
    ended = _end_lines(session, f, _LINE_END[after]) if after in _LINE_END else []
    if after is State.CANCELLED and ended:
        recorded.append(
            OrderCancelled(
                order_id=f.order_id, reason=f"fulfilment {f.id} cancelled", line_nos=ended
            )
        )
    recorded.append(
        FulfilmentAdvanced(
            order_id=f.order_id,
            fulfilment_id=f.id,
            node=f.node,
            action=action.value,
            from_state=before.value,
            to_state=after.value,
        )
    )
    recorded.extend(_settle_order(session, order, now, act))
    events.record_many(session, recorded, clock=clock)
    return TransitionOut(fulfilment=queries.fulfilment_outs(session, [f])[0], pickup_code=code)


def cancel_order(
    session: Session, order_id: int, cancel: CancelIn, *, clock: Clock | None = None
) -> OrderOut:
    """Cancel everything not yet handed to a carrier or the customer; refuse if anything was."""
    now = (clock or SystemClock()).now()
    order = _lock_order(session, order_id)
    if order.state == "cancelled":
        return queries.get_order(session, order_id)
    fulfilments = _fulfilments_of(session, order_id)
    left = [f for f in fulfilments if f.left_at is not None]
    if left:
        raise AlreadyShipped(
            "part of this order has already left; cancel the remaining lines one by one",
            fulfilments=[f.id for f in left],
        )
    act = ActionIn(actor=cancel.actor, terminal=cancel.terminal)
    live = [f for f in fulfilments if State(f.state) in _BEFORE_LEAVING]
    _close_holds(session, live, commit=False, clock=clock)
    for f in live:
        _move(session, f, Action.CANCEL, State.CANCELLED, now, act)
    lines = _lines_of(session, order_id)
    newly = [ln.line_no for ln in lines if ln.status != "cancelled"]
    for ln in lines:
        ln.status = "cancelled"
    _set_order_state(session, order, "cancelled", now, act, cancel.reason)
    _give_back(session, order, lines, now, act, newly)
    events.record(
        session,
        OrderCancelled(
            order_id=order_id, reason=cancel.reason, line_nos=[ln.line_no for ln in lines]
        ),
        clock=clock,
    )
    return queries.get_order(session, order_id)


def cancel_line(
    session: Session, order_id: int, line_no: int, cancel: CancelIn, *, clock: Clock | None = None
) -> OrderOut:
    """Cancel one line before its goods leave; a fulfilment left with no lines is cancelled."""
    now = (clock or SystemClock()).now()
    order = _lock_order(session, order_id)
    line = session.scalar(
        select(OrderLine).where(OrderLine.order_id == order_id, OrderLine.line_no == line_no)
    )
    if line is None:
        raise UnknownLine(f"order {order_id} has no line {line_no}", line_no=line_no)
    if line.status == "cancelled":
        return queries.get_order(session, order_id)
    parts: list[tuple[FulfilmentLine, Fulfilment]] = [
        (fl, f)
        for fl, f in session.execute(
            select(FulfilmentLine, Fulfilment)
            .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
            .where(FulfilmentLine.line_id == line.id)
            .with_for_update()
        )
    ]
    left = sorted({f.id for _fl, f in parts if f.left_at is not None})
    if left or line.status not in ("open", "unfulfilled"):
        raise AlreadyShipped(
            f"line {line_no} is {line.status if line.status != 'open' else 'on its way'}; "
            "what has left can be returned instead",
            fulfilments=left,
            status=line.status,
        )
    node_ids = inventory_nodes.node_ids(session, {f.node for _fl, f in parts})
    parts = sorted(
        ((fl, f) for fl, f in parts if fl.status == "held"), key=lambda p: node_ids[p[1].node]
    )
    act = ActionIn(actor=cancel.actor, terminal=cancel.terminal)
    for fl, f in parts:
        reservations.release(session, reservation_reference(fl.id), clock=clock)
        fl.status = "cancelled"
        session.flush()
        still = session.scalar(
            select(FulfilmentLine.id).where(
                FulfilmentLine.fulfilment_id == f.id, FulfilmentLine.status == "held"
            )
        )
        if still is None:
            _move(session, f, Action.CANCEL, State.CANCELLED, now, act)
    line.status = "cancelled"
    _give_back(session, order, _lines_of(session, order_id), now, act, [line_no])
    trail.note(
        session,
        order_id,
        "line_cancelled",
        now,
        actor=cancel.actor,
        terminal=cancel.terminal,
        details={"line_no": line_no, "reason": cancel.reason},
    )
    recorded: list[DomainEvent] = [
        OrderCancelled(order_id=order_id, reason=cancel.reason, line_nos=[line_no])
    ]
    recorded.extend(_settle_order(session, order, now, act))
    events.record_many(session, recorded, clock=clock)
    return queries.get_order(session, order_id)


def reject_fulfilment(
    session: Session, fulfilment_id: int, reject: RejectIn, *, clock: Clock | None = None
) -> OrderOut:
    """A node cannot fulfil (damaged, not found): release it and route its lines elsewhere.

    The lines never go back to a node that rejected this order. A line no other node can serve
    is marked `unfulfilled`; the routing decision says what was considered.
    """
    now = (clock or SystemClock()).now()
    f = _lock_fulfilment(session, fulfilment_id)
    order = _lock_order(session, f.order_id)
    if f.rejected_reason is not None:
        return queries.get_order(session, f.order_id)
    if State(f.state) not in _BEFORE_LEAVING:
        raise IllegalFulfilmentTransition(
            f"cannot reject a {f.kind} fulfilment that is {f.state}",
            kind=f.kind,
            state=f.state,
            action="reject",
        )
    parts = list(
        session.execute(
            select(FulfilmentLine, OrderLine)
            .join(OrderLine, OrderLine.id == FulfilmentLine.line_id)
            .where(FulfilmentLine.fulfilment_id == f.id, FulfilmentLine.status == "held")
        ).all()
    )
    _close_holds(session, [f], commit=False, clock=clock)
    act = ActionIn(actor=reject.actor, terminal=reject.terminal)
    f.rejected_reason = reject.reason
    _move(session, f, Action.CANCEL, State.CANCELLED, now, act, note_type="rejected")
    session.flush()  # the unit of work does not autoflush; the query below must see the rejection
    refused_by = set(
        session.scalars(
            select(Fulfilment.node).where(
                Fulfilment.order_id == f.order_id, Fulfilment.rejected_reason.is_not(None)
            )
        )
    )
    channel = channels.get_channel(session, order.channel)
    sourced = source(
        session,
        f.order_id,
        channel,
        [
            LineToSource(
                line_id=ln.id,
                line_no=ln.line_no,
                sku=ln.sku,
                quantity=fl.quantity,
                method=Method(ln.method),
                pickup_node=ln.pickup_node,
                address=ln.address,
            )
            for fl, ln in parts
        ],
        now=now,
        trigger="reroute",
        exclude=frozenset(refused_by),
        partial=True,
    )
    unfulfilled = {int(u.line_id) for u in sourced.unfulfilled}
    for _fl, ln in parts:
        if ln.id in unfulfilled:
            ln.status = "unfulfilled"
    line_nos = sorted(ln.line_no for _fl, ln in parts if ln.id in unfulfilled)
    trail.note(
        session,
        f.order_id,
        "rerouted",
        now,
        fulfilment_id=f.id,
        actor=reject.actor,
        terminal=reject.terminal,
        details={
            "rejected_by": f.node,
            "reason": reject.reason,
            "new_fulfilments": sourced.fulfilment_ids,
            "nodes": sourced.nodes,
            "unfulfilled_line_nos": line_nos,
        },
    )
    recorded: list[DomainEvent] = [
        FulfilmentRejected(
            order_id=f.order_id,
            fulfilment_id=f.id,
            node=f.node,
            reason=reject.reason,
            rerouted_to=sourced.nodes,
            unfulfilled_line_nos=line_nos,
        )
    ]
    recorded.extend(_settle_order(session, order, now, act))
    events.record_many(session, recorded, clock=clock)
    return queries.get_order(session, f.order_id)


def expire_pickups(
    session: Session, *, hold_days: int, clock: Clock | None = None, limit: int = 200
) -> int:
    """Pickups that waited `hold_days` go back on sale. Returns how many expired."""
    now = (clock or SystemClock()).now()
    due = list(
        session.scalars(
            select(Fulfilment.id)
            .where(
                Fulfilment.state == State.READY_FOR_PICKUP.value,
                Fulfilment.ready_at <= now - timedelta(days=hold_days),
            )
            .order_by(Fulfilment.ready_at)
            .limit(limit)
        )
    )
    expired = 0
    for fid in due:
        f = _lock_fulfilment(session, fid)
        if f.ready_at is None or not pickup_expired(f.ready_at, now, hold_days):
            continue
        if f.state != State.READY_FOR_PICKUP.value:
            continue  # handed over while we were looking
        advance(session, fid, Action.EXPIRE, ActionIn(actor="system:pickup-expiry"), clock=clock)
        expired += 1
    return expired


def _lock_fulfilment(session: Session, fulfilment_id: int) -> Fulfilment:
    f = session.scalar(select(Fulfilment).where(Fulfilment.id == fulfilment_id).with_for_update())
    if f is None:
        raise UnknownFulfilment(f"no fulfilment {fulfilment_id}", fulfilment_id=fulfilment_id)
    return f


def _lock_order(session: Session, order_id: int) -> Order:
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise UnknownOrder(f"no order {order_id}", order_id=order_id)
    return order


def _fulfilments_of(session: Session, order_id: int) -> list[Fulfilment]:
    return list(
        session.scalars(
            select(Fulfilment)
            .where(Fulfilment.order_id == order_id)
            .order_by(Fulfilment.id)
            .with_for_update()
        )
    )


def _lines_of(session: Session, order_id: int) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


def _close_holds(
    session: Session, fulfilments: Sequence[Fulfilment], *, commit: bool, clock: Clock | None
) -> None:
    """Commit or release the holds of `fulfilments`, stock rows in (SKU id, node id) order like
    every other writer of levels, so two orders closing the same SKUs cannot deadlock."""
    if not fulfilments:
        return
    node_of = {f.id: f.node for f in fulfilments}
    held = list(
        session.scalars(
            select(FulfilmentLine).where(
                FulfilmentLine.fulfilment_id.in_(node_of), FulfilmentLine.status == "held"
            )
        )
    )
    sku_ids = catalog.sku_ids(session, {fl.sku for fl in held})
    node_ids = inventory_nodes.node_ids(session, set(node_of.values()))
    held.sort(key=lambda fl: (sku_ids[fl.sku], node_ids[node_of[fl.fulfilment_id]], fl.id))
    close = reservations.commit if commit else reservations.release
    for fl in held:
        close(session, reservation_reference(fl.id), clock=clock)
        fl.status = "committed" if commit else "released"


def _move(
    session: Session,
    f: Fulfilment,
    action: Action,
    after: State,
    now: datetime,
    act: ActionIn,
    *,
    note_type: str = "fulfilment",
) -> None:
    before = f.state
    f.state, f.last_action, f.updated_at = after.value, action.value, now
    trail.note(
        session,
        f.order_id,
        note_type if note_type != "fulfilment" else f"fulfilment.{action.value}",
        now,
        fulfilment_id=f.id,
        from_state=before,
        to_state=after.value,
        actor=act.actor,
        terminal=act.terminal,
        details={"node": f.node},
    )


def _settle_order(
    session: Session, order: Order, now: datetime, act: ActionIn
) -> Sequence[DomainEvent]:
    """Mark lines fulfilled and the order completed once every live line reached the customer."""
    if order.state != "open":
        return []
    session.flush()
    lines = _lines_of(session, order.id)
    handed: dict[int, int] = {}
    waiting: set[int] = set()
    for fl, state in session.execute(
        select(FulfilmentLine, Fulfilment.state)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(Fulfilment.order_id == order.id)
    ).all():
        if state in _HANDED_OVER:
            handed[fl.line_id] = handed.get(fl.line_id, 0) + fl.quantity
        elif fl.status == "held" or state == State.SHIPPED.value:
            waiting.add(fl.line_id)
    for ln in lines:
        if ln.status == "open" and handed.get(ln.id, 0) >= ln.quantity:
            ln.status = "fulfilled"
    live = [ln for ln in lines if ln.status not in _ENDED_LINES]
    if not live and not any(ln.status == "fulfilled" for ln in lines):
        _set_order_state(session, order, "cancelled", now, act, "no line reached the customer")
        return []
    if waiting or any(ln.status != "fulfilled" for ln in live):
        return []
    _set_order_state(session, order, "completed", now, act, None)
    return [
        OrderCompleted(
            order_id=order.id,
            channel=order.channel,
            member_id=order.member_id,
            paid_fen=sum(ln.paid_fen for ln in lines if ln.status == "fulfilled"),
        )
    ]


def _give_back(
    session: Session,
    order: Order,
    lines: Sequence[OrderLine],
    now: datetime,
    act: ActionIn,
    cancelled: list[int],
) -> None:
    """What an order Yipan priced used comes back as its lines are cancelled: the points that
    paid for them, the promotion budgets in proportion, and the coupons (by policy) and the uses
    once nothing is left."""
    session.flush()
    points = sum(ln.points_used for ln in lines if ln.line_no in cancelled)  # just cancelled
    if points:
        returns.give_points_back(session, order, points, f"cancel:{order.id}:{min(cancelled)}")
    given_back = checkout.give_back_for_return(
        session, order.channel, order.external_id, checkout.units_back(lines), now
    )
    if given_back is None or not (given_back.restored_fen or given_back.coupons_restored):
        return
    trail.note(
        session,
        order.id,
        "discounts_restored",
        now,
        actor=act.actor,
        terminal=act.terminal,
        details={"line_nos": cancelled, **checkout.restored_details(given_back)},
    )


def _set_order_state(
    session: Session, order: Order, state: str, now: datetime, act: ActionIn, reason: str | None
) -> None:
    before = order.state
    order.state, order.updated_at = state, now
    trail.note(
        session,
        order.id,
        f"order.{state}",
        now,
        from_state=before,
        to_state=state,
        actor=act.actor,
        terminal=act.terminal,
        details={"reason": reason} if reason else None,
    )


def _check_code(session: Session, f: Fulfilment, act: ActionIn) -> None:
    """Refuse a wrong code; after `MAX_CODE_ATTEMPTS` wrong ones, refuse every code.

    Wrong attempts are written by the caller in a transaction of their own
    (`record_wrong_code`), since this one rolls back with the refusal.
    """
    tried = session.scalar(
        select(func.count())
        .select_from(OrderEvent)
        .where(OrderEvent.fulfilment_id == f.id, OrderEvent.type == WRONG_CODE)
    )
    if (tried or 0) >= MAX_CODE_ATTEMPTS:
        raise PickupLocked(
            f"{MAX_CODE_ATTEMPTS} wrong codes were tried for this pickup; check the customer's "
            "ID and the order, then cancel and re-place it",
            fulfilment_id=f.id,
            attempts=tried,
        )
    if not pickup_code_matches(f.pickup_code or "", act.code or ""):
        raise WrongPickupCode(
            "the pickup code does not match; ask the customer for the code from their message",
            fulfilment_id=f.id,
            attempts_left=MAX_CODE_ATTEMPTS - (tried or 0) - 1,
        )


WRONG_CODE = "pickup_code_refused"


def record_wrong_code(
    session: Session, fulfilment_id: int, act: ActionIn, *, clock: Clock | None = None
) -> None:
    """Keep a wrong pickup code attempt in the audit trail (it counts towards the lock)."""
    f = session.get(Fulfilment, fulfilment_id)
    if f is None:
        return
    trail.note(
        session,
        f.order_id,
        WRONG_CODE,
        (clock or SystemClock()).now(),
        fulfilment_id=f.id,
        actor=act.actor,
        terminal=act.terminal,
    )


def _restock_returned_parcel(
    session: Session, f: Fulfilment, channel: str, clock: Clock | None
) -> None:
    """The carrier brought the parcel back: its goods are stock at the sending node again."""
    parts = list(
        session.scalars(
            select(FulfilmentLine).where(
                FulfilmentLine.fulfilment_id == f.id, FulfilmentLine.status == "committed"
            )
        )
    )
    for fl in parts:
        movements.record_movement(
            session,
            MovementIn(
                sku=fl.sku,
                node=f.node,
                kind=MovementKind.RETURN,
                quantity=fl.quantity,
                reason="parcel returned to sender",
                reference=f"order:{f.order_id}",
                channel=channel,
                idempotency_key=f"returned-to-sender:{fl.id}",
            ),
            clock=clock,
        )
        fl.status = "returned"


def _end_lines(session: Session, f: Fulfilment, status: str) -> list[int]:
    """Lines of `f` with no part left on its way to the customer take `status`; their numbers."""
    session.flush()
    line_ids = set(
        session.scalars(select(FulfilmentLine.line_id).where(FulfilmentLine.fulfilment_id == f.id))
    )
    still_going = set(
        session.scalars(
            select(FulfilmentLine.line_id)
            .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
            .where(
                FulfilmentLine.line_id.in_(line_ids),
                Fulfilment.id != f.id,
                Fulfilment.state.not_in(_ENDED_STATES),
            )
        )
    )
    ended = []
    for ln in session.scalars(select(OrderLine).where(OrderLine.id.in_(line_ids - still_going))):
        if ln.status == "open":
            ln.status = status
            ended.append(ln.line_no)
    return sorted(ended)
