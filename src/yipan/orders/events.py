"""Events the orders context records in the outbox, for members, promotions and channels to follow.

Money is in fen. Line items carry what later contexts need to earn or reverse points and coupons
without reading this context's tables: SKU, quantity and the amount paid or refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class _OrderEvent(DomainEvent):
    aggregate: ClassVar[str] = "order"
    order_id: int

    def aggregate_id(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(_OrderEvent):
    name: ClassVar[str] = "orders.OrderPlaced"
    channel: str
    external_id: str
    kind: str
    member_id: str | None
    store: str | None
    guide: str | None
    total_fen: int
    lines: list[dict[str, Any]]
    exchange_of_return_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class OrderCompleted(_OrderEvent):
    """Every line has reached the customer or was cancelled: a completed sale for points."""

    name: ClassVar[str] = "orders.OrderCompleted"
    channel: str
    member_id: str | None
    paid_fen: int


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(_OrderEvent):
    name: ClassVar[str] = "orders.OrderCancelled"
    reason: str
    line_nos: list[int]


@dataclass(frozen=True, kw_only=True)
class FulfilmentAdvanced(_OrderEvent):
    name: ClassVar[str] = "orders.FulfilmentAdvanced"
    fulfilment_id: int
    node: str
    action: str
    from_state: str
    to_state: str


@dataclass(frozen=True, kw_only=True)
class PickupReady(_OrderEvent):
    """Tell the customer their pickup is waiting, with the code to show at the counter."""

    name: ClassVar[str] = "orders.PickupReady"
    fulfilment_id: int
    node: str
    member_id: str | None
    pickup_code: str


@dataclass(frozen=True, kw_only=True)
class FulfilmentRejected(_OrderEvent):
    name: ClassVar[str] = "orders.FulfilmentRejected"
    fulfilment_id: int
    node: str
    reason: str
    rerouted_to: list[str]
    unfulfilled_line_nos: list[int]


@dataclass(frozen=True, kw_only=True)
class OrderReturned(_OrderEvent):
    """Goods came back: reverse points and coupons in proportion to `lines[].refund_fen`."""

    name: ClassVar[str] = "orders.OrderReturned"
    return_id: int
    node: str
    channel: str | None
    member_id: str | None
    refund_fen: int  # paid back: the lines' refunds less points_deduction_fen
    lines: list[dict[str, Any]]
    points_deduction_fen: int = 0
