"""Returns in any channel, at any node that takes returns, and exchanges.

A return is keyed by the caller's idempotency key. Only what reached the customer can come back,
within the order's channel return window counted from when it reached them. The refund follows
what the line really paid (its own discount and its share of the order discount), cumulatively,
so returning 1 + 1 of 2 units refunds exactly what returning 2 at once would. The sale's points
are settled in the same transaction (`settle_points_with`): if the member has spent points the
returned goods earned, their value is kept back from the refund, so the answer the till gets is
what it pays out. Resellable goods go
back into stock at the receiving node through the ledger; damaged goods are recorded on the return
and never become sellable. An order Yipan priced gives back the promotion budgets and, by policy,
the coupons it used (see `promotions.service.redemptions.restore_for_return`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from yipan.channels import service as channels
from yipan.events import service as events
from yipan.inventory.domain import MovementKind
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import movements
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.clock import Clock, SystemClock
from yipan.orders.domain.fulfilment import State
from yipan.orders.domain.money import refund_for, within_return_window
from yipan.orders.errors import (
    ReturnNotAllowed,
    ReturnReplayMismatch,
    UnknownLine,
    UnknownNodeRef,
    UnknownOrder,
)
from yipan.orders.events import OrderReturned
from yipan.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine, Return, ReturnLine
from yipan.orders.schemas import ExchangeIn, ExchangeOut, ReturnIn, ReturnOut
from yipan.orders.service import checkout, queries, trail
from yipan.orders.service.capture import place_order

returns_t = cast(Table, Return.__table__)
return_lines_t = cast(Table, ReturnLine.__table__)
_HANDED_OVER = (State.DELIVERED.value, State.PICKED_UP.value)


@dataclass(frozen=True)
class ReturnToSettle:
    """A return as its points are settled, inside the transaction that takes it."""

    order_id: int
    return_id: int
    channel: str | None
    refund_fen: int  # the lines' refunds, before anything is kept back
    refund_by_line: Mapping[int, int]  # line number → its refund
    at: datetime


# Answers the fen to keep back from the refund for points the sale earned and the member spent.
PointsSettler = Callable[[Session, ReturnToSettle], int]
_points_settlers: list[PointsSettler] = []


def settle_points_with(settler: PointsSettler) -> None:
    """Have `settler` settle the points of every return in the return's own transaction.

    The members' ledger registers itself here at start (`yipan.wiring.compose`): members read
    orders, so orders cannot ask members directly. Without it a return's points are still taken
    back, by the ledger's handler of `orders.OrderReturned`, but after the refund was paid."""
    if settler not in _points_settlers:
        _points_settlers.append(settler)


def take_return(
    session: Session, return_in: ReturnIn, *, clock: Clock | None = None
) -> tuple[ReturnOut, bool]:
    """Take goods back; returns the return and whether it is new (False for a replay)."""
    now = (clock or SystemClock()).now()
    digest = hashlib.sha256(return_in.model_dump_json().encode()).hexdigest()
    known = session.execute(
        select(Return.id, Return.payload_hash).where(
            Return.idempotency_key == return_in.idempotency_key
        )
    ).first()
    if known is not None:
        if known.payload_hash != digest:
            raise ReturnReplayMismatch(
                f"return {return_in.idempotency_key} was already taken with different contents",
                return_id=known.id,
            )
        return queries.get_return(session, known.id), False
    order = session.scalar(select(Order).where(Order.id == return_in.order_id).with_for_update())
    if order is None:
        raise UnknownOrder(f"no order {return_in.order_id}", order_id=return_in.order_id)
    _check_node(session, return_in.node)
    window = channels.get_channel(session, order.channel).return_window_days
    lines = {
        ln.line_no: ln
        for ln in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    }
    delivered, last_delivered = _delivered(session, order.id)
    asked: dict[int, int] = defaultdict(int)
    for r in return_in.lines:
        asked[r.line_no] += r.quantity
    for line_no, quantity in sorted(asked.items()):
        line = lines.get(line_no)
        if line is None:
            raise UnknownLine(f"order {order.id} has no line {line_no}", line_no=line_no)
        got = delivered.get(line.id, 0)
        if got - line.returned_quantity < quantity:
            raise ReturnNotAllowed(
                f"line {line_no}: {got} reached the customer and {line.returned_quantity} "
                f"came back already, so {quantity} cannot be returned",
                line_no=line_no,
                delivered=got,
                returned=line.returned_quantity,
                requested=quantity,
            )
        handed_at = last_delivered[line.id]
        if not within_return_window(handed_at, now, window):
            raise ReturnNotAllowed(
                f"line {line_no}: the {window}-day return window of channel {order.channel} "
                f"closed {window} days after {handed_at:%Y-%m-%d %H:%M} UTC",
                line_no=line_no,
                window_days=window,
                delivered_at=handed_at.isoformat(),
            )

    return_id = (
        session.connection()
        .execute(
            insert(returns_t).returning(returns_t.c.id),
            {
                "order_id": order.id,
                "idempotency_key": return_in.idempotency_key,
                "payload_hash": digest,
                "node": return_in.node,
                "channel": return_in.channel,
                "reason": return_in.reason,
                "actor": return_in.actor,
                "refund_fen": 0,
                "created_at": now,
            },
        )
        .scalar_one()
    )
    rows = []
    restock = []
    points_back = 0
    for i, r in enumerate(return_in.lines):
        line = lines[r.line_no]
        refund = refund_for(
            line.paid_fen, line.quantity, r.quantity, line.returned_quantity, line.refunded_fen
        )
        points_back += points_share(line, line.returned_quantity + r.quantity) - points_share(
            line, line.returned_quantity
        )
        line.returned_quantity += r.quantity
        line.refunded_fen += refund
        rows.append(
            {
                "return_id": return_id,
                "line_id": line.id,
                "quantity": r.quantity,
                "condition": r.condition,
                "refund_fen": refund,
            }
        )
        if r.condition == "resellable":
            restock.append(
                MovementIn(
                    sku=line.sku,
                    node=return_in.node,
                    kind=MovementKind.RETURN,
                    quantity=r.quantity,
                    reason=return_in.reason or "customer return",
                    reference=f"return:{return_id}",
                    channel=return_in.channel or order.channel,
                    idempotency_key=f"return:{return_in.idempotency_key}:{i}",
                )
            )
    session.connection().execute(insert(return_lines_t), rows)
    refunded = sum(r["refund_fen"] for r in rows)
    by_line: dict[int, int] = defaultdict(int)
    for r, row in zip(return_in.lines, rows, strict=True):
        by_line[r.line_no] += row["refund_fen"]
    settling = ReturnToSettle(order.id, return_id, return_in.channel, refunded, by_line, now)
    kept = min(refunded, sum(settle(session, settling) for settle in _points_settlers))
    total = refunded - kept
    if points_back:
        points_back = give_points_back(session, order, points_back, f"return:{return_id}")
    session.execute(
        returns_t.update()
        .where(returns_t.c.id == return_id)
        .values(refund_fen=total, points_deduction_fen=kept, points_restored=points_back)
    )
    for m in restock:
        movements.record_movement(session, m, clock=clock)
    given_back = checkout.give_back_for_return(
        session, order.channel, order.external_id, checkout.units_back(lines.values()), now
    )
    trail.note(
        session,
        order.id,
        "returned",
        now,
        actor=return_in.actor,
        terminal=return_in.node,
        details={
            "return_id": return_id,
            "node": return_in.node,
            "channel": return_in.channel,
            "refund_fen": total,
            **({"points_deduction_fen": kept} if kept else {}),
            **({"points_restored": points_back} if points_back else {}),
            **checkout.restored_details(given_back),
        },
    )
    events.record(
        session,
        OrderReturned(
            order_id=order.id,
            return_id=return_id,
            node=return_in.node,
            channel=return_in.channel,
            member_id=order.member_id,
            refund_fen=total,
            points_deduction_fen=kept,
            lines=[
                {
                    "line_no": r.line_no,
                    "sku": lines[r.line_no].sku,
                    "quantity": r.quantity,
                    "condition": r.condition,
                    "refund_fen": row["refund_fen"],
                }
                for r, row in zip(return_in.lines, rows, strict=True)
            ],
        ),
        clock=clock,
    )
    return queries.get_return(session, return_id), True


def points_share(line: OrderLine, units_back: int) -> int:
    """The points a line was paid with that `units_back` of its units account for, rounded down:
    the last unit back brings them all."""
    return line.points_used * units_back // line.quantity


def give_points_back(session: Session, order: Order, points: int, reference: str) -> int:
    """The member gets back the points that paid for goods they no longer have; how many."""
    tender = checkout.points_tender()
    if tender is None or order.member_id is None:
        raise RuntimeError(f"order {order.id} was paid with points, and nothing can give them back")
    return tender.give_back(
        session,
        order.member_id,
        points,
        f"{reference}:points",
        f"points that paid for order {order.id}'s goods, given back ({reference})",
    )


def exchange(
    session: Session, exchange_in: ExchangeIn, *, clock: Clock | None = None
) -> tuple[ExchangeOut, bool]:
    """A return and the replacement order, in one transaction; the order links the return."""
    ret, created = take_return(session, exchange_in.return_, clock=clock)
    placed = place_order(session, exchange_in.order, clock=clock, exchange_of_return_id=ret.id)
    return ExchangeOut(return_=ret, order=placed), created or placed.created


def _check_node(session: Session, code: str) -> None:
    if not inventory_nodes.find_node_ids(session, [code]):
        raise UnknownNodeRef(f"unknown node {code}", nodes=[code])
    node = inventory_nodes.get_node(session, code)
    if not node.active or not node.can_receive_returns:
        raise ReturnNotAllowed(f"{code} does not take returns", node=code)


def _delivered(session: Session, order_id: int) -> tuple[dict[int, int], dict[int, datetime]]:
    """Per line id: units that reached the customer, and when the last of them did."""
    got: dict[int, int] = defaultdict(int)
    when: dict[int, datetime] = {}
    rows = session.execute(
        select(FulfilmentLine.line_id, FulfilmentLine.quantity, Fulfilment.delivered_at)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .where(
            Fulfilment.order_id == order_id,
            Fulfilment.state.in_(_HANDED_OVER),
            FulfilmentLine.status == "committed",
        )
    )
    for line_id, quantity, delivered_at in rows:
        got[line_id] += quantity
        if delivered_at is None:
            continue
        if line_id not in when or delivered_at > when[line_id]:
            when[line_id] = delivered_at
    return got, when
