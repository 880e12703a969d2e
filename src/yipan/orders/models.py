"""Orders, their lines, fulfilments, routing decisions, the audit trail and returns.

SKUs and nodes are referred to by code, not by foreign key: they belong to other contexts, and an
order must keep saying what was sold where even if a node is renamed away later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime


class Order(Base):
    __tablename__ = "orders_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(100))
    # What a replay of (channel, external_id) must match to be the same order.
    payload_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    guide: Mapped[str | None] = mapped_column(String(64))
    store: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    currency: Mapped[str] = mapped_column(String(3))
    goods_fen: Mapped[int] = mapped_column(BigId)
    line_discount_fen: Mapped[int] = mapped_column(BigId)
    order_discount_fen: Mapped[int] = mapped_column(BigId)
    shipping_fen: Mapped[int] = mapped_column(BigId)
    total_fen: Mapped[int] = mapped_column(BigId)  # in money: less what points paid
    points_used: Mapped[int] = mapped_column(BigId, server_default="0")  # points paid …
    points_fen: Mapped[int] = mapped_column(BigId, server_default="0")  # … worth this
    exchange_of_return_id: Mapped[int | None] = mapped_column(BigId)
    # The dashboard's figures are all "orders placed in these days".
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        CheckConstraint("total_fen >= 0", name="total_not_negative"),
    )


class OrderLine(Base):
    __tablename__ = "orders_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_orders.id"))
    line_no: Mapped[int] = mapped_column()
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column()
    unit_price_fen: Mapped[int] = mapped_column(BigId)
    line_discount_fen: Mapped[int] = mapped_column(BigId)
    # The line's share of the order discount: what a refund of this line gives back follows it.
    order_discount_fen: Mapped[int] = mapped_column(BigId)
    paid_fen: Mapped[int] = mapped_column(BigId)  # in money
    points_used: Mapped[int] = mapped_column(BigId, server_default="0")  # the line's points …
    points_fen: Mapped[int] = mapped_column(BigId, server_default="0")  # … and what they paid
    method: Mapped[str] = mapped_column(String(16))
    pickup_node: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16))
    returned_quantity: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(BigId, default=0)

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("paid_fen >= 0", name="paid_not_negative"),
        CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= quantity", name="returned_within"
        ),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refund_within"),
    )


class Fulfilment(Base):
    """What one node hands over in one way: a parcel, a pickup, a local delivery."""

    __tablename__ = "orders_fulfilments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_orders.id"), index=True)
    node: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    # The action that led to `state`: sending it again is a replay, answered without change.
    last_action: Mapped[str | None] = mapped_column(String(24))
    pickup_code: Mapped[str | None] = mapped_column(String(16))
    promised_by: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rejected_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_orders_fulfilments_node_state", "node", "state"),
        Index("ix_orders_fulfilments_state_ready", "state", "ready_at"),
        Index("ix_orders_fulfilments_created", "created_at"),
    )


class FulfilmentLine(Base):
    """How many units of a line one fulfilment carries; its stock hold is `reservation_ref`."""

    __tablename__ = "orders_fulfilment_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders_fulfilments.id"), index=True
    )
    line_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_lines.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class RoutingDecision(Base):
    __tablename__ = "orders_routing_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_orders.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OrderEvent(Base):
    """The audit trail of an order: what happened, to which fulfilment, who did it, from where."""

    __tablename__ = "orders_order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_orders.id"), index=True)
    fulfilment_id: Mapped[int | None] = mapped_column(BigId)
    type: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str | None] = mapped_column(String(64))
    terminal: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Return(Base):
    __tablename__ = "orders_returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_orders.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(64))
    refund_fen: Mapped[int] = mapped_column(BigId)  # paid back: the lines' refunds less the next
    # What the refund kept back for points the sale earned and the member had spent already.
    points_deduction_fen: Mapped[int] = mapped_column(BigId, server_default="0")
    # Points paid for the returned goods, given back to the member.
    points_restored: Mapped[int] = mapped_column(BigId, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReturnLine(Base):
    __tablename__ = "orders_return_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_returns.id"), index=True)
    line_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders_lines.id"))
    quantity: Mapped[int] = mapped_column()
    condition: Mapped[str] = mapped_column(String(16))
    refund_fen: Mapped[int] = mapped_column(BigId)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)
