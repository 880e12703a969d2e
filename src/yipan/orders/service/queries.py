"""Reading orders: one order with its lines and fulfilments, lists, the audit trail, decisions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from yipan.orders.domain.fulfilment import Kind, State, allowed_actions
from yipan.orders.errors import UnknownFulfilment, UnknownOrder, UnknownReturn
from yipan.orders.models import (
    Fulfilment,
    FulfilmentLine,
    Order,
    OrderEvent,
    OrderLine,
    Return,
    ReturnLine,
    RoutingDecision,
)
from yipan.orders.schemas import (
    FulfilmentLineOut,
    FulfilmentOut,
    OrderEventOut,
    OrderLineOut,
    OrderOut,
    OrderSummary,
    ReturnLineOut,
    ReturnOut,
    ReturnSummary,
    RoutingDecisionOut,
)


def get_order(session: Session, order_id: int) -> OrderOut:
    session.flush()  # a service may have changed rows it is about to show
    order = session.get(Order, order_id)
    if order is None:
        raise UnknownOrder(f"no order {order_id}", order_id=order_id)
    lines = list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )
    fulfilments = list(
        session.scalars(
            select(Fulfilment).where(Fulfilment.order_id == order_id).order_by(Fulfilment.id)
        )
    )
    return _order_out(order, lines, fulfilment_outs(session, fulfilments, lines))


def _order_out(
    order: Order | SimpleNamespace,
    lines: Sequence[OrderLine | SimpleNamespace],
    fulfilments: list[FulfilmentOut],
) -> OrderOut:
    return OrderOut(
        id=order.id,
        channel=order.channel,
        external_id=order.external_id,
        kind=order.kind,
        state=order.state,
        member_id=order.member_id,
        guide=order.guide,
        store=order.store,
        currency=order.currency,
        goods_fen=order.goods_fen,
        line_discount_fen=order.line_discount_fen,
        order_discount_fen=order.order_discount_fen,
        shipping_fen=order.shipping_fen,
        total_fen=order.total_fen,
        points_used=order.points_used,
        points_fen=order.points_fen,
        exchange_of_return_id=order.exchange_of_return_id,
        placed_at=order.placed_at,
        created_at=order.created_at,
        lines=[
            OrderLineOut(
                line_no=ln.line_no,
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price_fen=ln.unit_price_fen,
                line_discount_fen=ln.line_discount_fen,
                order_discount_fen=ln.order_discount_fen,
                paid_fen=ln.paid_fen,
                points_used=ln.points_used,
                points_fen=ln.points_fen,
                method=ln.method,
                pickup_node=ln.pickup_node,
                status=ln.status,
                returned_quantity=ln.returned_quantity,
                refunded_fen=ln.refunded_fen,
            )
            for ln in lines
        ],
        fulfilments=fulfilments,
    )


def new_order_out(
    order: dict[str, Any], lines: Sequence[dict[str, Any]], fulfilments: list[FulfilmentOut]
) -> OrderOut:
    """The order just written, shown from what was written rather than read back."""
    return _order_out(
        SimpleNamespace(**order), [SimpleNamespace(**ln) for ln in lines], fulfilments
    )


def fulfilment_outs(
    session: Session, fulfilments: Sequence[Fulfilment], lines: Sequence[OrderLine] | None = None
) -> list[FulfilmentOut]:
    if not fulfilments:
        return []
    parts = list(
        session.scalars(
            select(FulfilmentLine)
            .where(FulfilmentLine.fulfilment_id.in_([f.id for f in fulfilments]))
            .order_by(FulfilmentLine.id)
        )
    )
    if lines is None:
        lines = list(
            session.scalars(select(OrderLine).where(OrderLine.id.in_({p.line_id for p in parts})))
        )
    line_no = {ln.id: ln.line_no for ln in lines}
    by_fulfilment: dict[int, list[FulfilmentLineOut]] = defaultdict(list)
    for p in parts:
        by_fulfilment[p.fulfilment_id].append(
            FulfilmentLineOut(
                line_no=line_no[p.line_id], sku=p.sku, quantity=p.quantity, status=p.status
            )
        )
    return [
        FulfilmentOut(
            id=f.id,
            node=f.node,
            kind=f.kind,
            method=f.method,
            state=f.state,
            allowed_actions=list(allowed_actions(Kind(f.kind), State(f.state))),
            promised_by=f.promised_by,
            ready_at=f.ready_at,
            left_at=f.left_at,
            delivered_at=f.delivered_at,
            rejected_reason=f.rejected_reason,
            lines=by_fulfilment[f.id],
        )
        for f in fulfilments
    ]


def get_fulfilment(session: Session, fulfilment_id: int) -> FulfilmentOut:
    f = session.get(Fulfilment, fulfilment_id)
    if f is None:
        raise UnknownFulfilment(f"no fulfilment {fulfilment_id}", fulfilment_id=fulfilment_id)
    return fulfilment_outs(session, [f])[0]


@dataclass(frozen=True)
class OrderQuery:
    """Which orders to list or count; every filter left out matches everything.

    `method`: orders with at least one line fulfilled that way. `placed_from` ≤ placed_at <
    `placed_before`. `visible_at`: orders sold at one of these nodes or with a fulfilment at one
    of them (a data scope); an empty collection matches nothing.
    """

    channel: str | None = None
    state: str | None = None
    store: str | None = None
    member_id: str | None = None
    method: str | None = None
    placed_from: datetime | None = None
    placed_before: datetime | None = None
    visible_at: Collection[str] | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.channel:
            where.append(Order.channel == self.channel)
        if self.state:
            where.append(Order.state == self.state)
        if self.store:
            where.append(Order.store == self.store)
        if self.member_id:
            where.append(Order.member_id == self.member_id)
        if self.method:
            where.append(
                exists().where(OrderLine.order_id == Order.id, OrderLine.method == self.method)
            )
        if self.placed_from is not None:
            where.append(Order.placed_at >= self.placed_from)
        if self.placed_before is not None:
            where.append(Order.placed_at < self.placed_before)
        if self.visible_at is not None:
            codes = sorted(set(self.visible_at))
            where.append(
                or_(
                    Order.store.in_(codes),
                    exists().where(Fulfilment.order_id == Order.id, Fulfilment.node.in_(codes)),
                )
            )
        return where


def list_orders(
    session: Session,
    query: OrderQuery = OrderQuery(),
    *,
    before_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[OrderSummary]:
    """Newest first; page with `before_id` = the last id of the previous page (or `offset`)."""
    stmt = select(Order).where(*query.conditions()).order_by(Order.id.desc())
    if before_id is not None:
        stmt = stmt.where(Order.id < before_id)
    return [_summary(o) for o in session.scalars(stmt.offset(offset).limit(limit))]


def count_orders(session: Session, query: OrderQuery = OrderQuery()) -> int:
    """How many orders `list_orders` pages through for the same query."""
    return session.scalar(select(func.count()).select_from(Order).where(*query.conditions())) or 0


def members_of(session: Session, order_ids: Collection[int]) -> dict[int, str | None]:
    """The member each order was placed under (None for a guest), for a page of summaries."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Order.id, Order.member_id).where(Order.id.in_(sorted(set(order_ids))))
    )
    return {row.id: row.member_id for row in rows}


def list_fulfilments(
    session: Session,
    *,
    node: str | None = None,
    state: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[FulfilmentOut]:
    """A node's work queue, e.g. the pickups waiting at a store (`state=ready_for_pickup`)."""
    stmt = select(Fulfilment).order_by(Fulfilment.id.desc()).limit(limit)
    if node:
        stmt = stmt.where(Fulfilment.node == node)
    if state:
        stmt = stmt.where(Fulfilment.state == state)
    if before_id is not None:
        stmt = stmt.where(Fulfilment.id < before_id)
    return fulfilment_outs(session, list(session.scalars(stmt)))


def order_events(session: Session, order_id: int) -> list[OrderEventOut]:
    _require(session, order_id)
    rows = session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return [
        OrderEventOut(
            id=e.id,
            type=e.type,
            fulfilment_id=e.fulfilment_id,
            from_state=e.from_state,
            to_state=e.to_state,
            actor=e.actor,
            terminal=e.terminal,
            details=e.details,
            at=e.at,
        )
        for e in rows
    ]


def routing_decisions(session: Session, order_id: int) -> list[RoutingDecisionOut]:
    _require(session, order_id)
    rows = session.scalars(
        select(RoutingDecision)
        .where(RoutingDecision.order_id == order_id)
        .order_by(RoutingDecision.id)
    )
    return [
        RoutingDecisionOut(
            id=d.id, trigger=d.trigger, explanation=d.explanation, created_at=d.created_at
        )
        for d in rows
    ]


def get_return(session: Session, return_id: int) -> ReturnOut:
    ret = session.get(Return, return_id)
    if ret is None:
        raise UnknownReturn(f"no return {return_id}", return_id=return_id)
    rows = session.execute(
        select(ReturnLine, OrderLine.line_no, OrderLine.sku)
        .join(OrderLine, OrderLine.id == ReturnLine.line_id)
        .where(ReturnLine.return_id == return_id)
        .order_by(OrderLine.line_no)
    ).all()
    return ReturnOut(
        id=ret.id,
        order_id=ret.order_id,
        node=ret.node,
        channel=ret.channel,
        reason=ret.reason,
        refund_fen=ret.refund_fen,
        points_deduction_fen=ret.points_deduction_fen,
        points_restored=ret.points_restored,
        created_at=ret.created_at,
        lines=[
            ReturnLineOut(
                line_no=no,
                sku=sku,
                quantity=r.quantity,
                condition=r.condition,
                refund_fen=r.refund_fen,
            )
            for r, no, sku in rows
        ],
    )


def _require(session: Session, order_id: int) -> None:
    if session.get(Order, order_id) is None:
        raise UnknownOrder(f"no order {order_id}", order_id=order_id)


def orders_for_customers(
    session: Session, member_ids: Sequence[str], *, limit: int | None = 50
) -> list[tuple[str, OrderSummary]]:
    """Orders from every channel placed under any of `member_ids`, newest first (`limit` of
    them; None: all), each with the member id it was placed under (a merged member's history
    spans several ids)."""
    if not member_ids:
        return []
    stmt = (
        select(Order)
        .where(Order.member_id.in_(list(member_ids)))
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return [(o.member_id or "", _summary(o)) for o in session.scalars(stmt)]


def returns_for_customers(
    session: Session, member_ids: Sequence[str], *, limit: int | None = 50
) -> list[tuple[str, ReturnSummary]]:
    """Returns of orders placed under any of `member_ids`, in any channel, newest first (`limit`
    of them; None: all), each with the member id its order was placed under."""
    if not member_ids:
        return []
    stmt = (
        select(Return, Order.member_id)
        .join(Order, Order.id == Return.order_id)
        .where(Order.member_id.in_(list(member_ids)))
        .order_by(Return.created_at.desc(), Return.id.desc())
        .limit(limit)
    )
    return [
        (
            member_id or "",
            ReturnSummary(
                id=r.id,
                order_id=r.order_id,
                node=r.node,
                channel=r.channel,
                refund_fen=r.refund_fen,
                points_deduction_fen=r.points_deduction_fen,
                created_at=r.created_at,
            ),
        )
        for r, member_id in session.execute(stmt)
    ]


def _summary(o: Order) -> OrderSummary:
    return OrderSummary(
        id=o.id,
        channel=o.channel,
        external_id=o.external_id,
        kind=o.kind,
        state=o.state,
        store=o.store,
        total_fen=o.total_fen,
        placed_at=o.placed_at,
    )
