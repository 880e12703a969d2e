"""Pydantic shapes in and out of the orders context."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from yipan.kernel.fields import Number, Timestamp
from yipan.orders.domain.fulfilment import Action
from yipan.orders.domain.routing import Method

# One line of one order; far above any real basket, far below what 64-bit sums could overflow.
MAX_LINE_QUANTITY = 100_000
MAX_FEN = 10**12
Code = Field(min_length=1, max_length=64)
Fen = Field(ge=0, le=MAX_FEN)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_In):
    """Where goods go. Coordinates are required: routing and delivery radii work on them."""

    line: str = Field(min_length=1, max_length=300)
    city: str | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    latitude: Number = Field(ge=-90, le=90)
    longitude: Number = Field(ge=-180, le=180)


class Customer(_In):
    member_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=3, max_length=32)


class OrderLineIn(_In):
    sku: str = Code
    quantity: StrictInt = Field(gt=0, le=MAX_LINE_QUANTITY)
    unit_price_fen: StrictInt = Fen
    line_discount_fen: StrictInt = Field(default=0, ge=0, le=MAX_FEN)
    method: Method = Method.SHIP
    pickup_node: str | None = Field(default=None, min_length=1, max_length=64)
    address: Address | None = Field(
        default=None, description="Deliver this line elsewhere (a gift to a friend)"
    )

    @model_validator(mode="after")
    def _pickup_names_a_store(self) -> OrderLineIn:
        if self.method is Method.PICKUP and self.pickup_node is None:
            raise ValueError("a pickup line needs pickup_node")
        if self.method is not Method.PICKUP and self.pickup_node is not None:
            raise ValueError("pickup_node is only for pickup lines")
        return self


class OrderIn(_In):
    """An order as a channel sends it: prices as charged, sums that must add up."""

    channel: str = Field(min_length=1, max_length=50)
    external_id: str = Field(
        min_length=1,
        max_length=100,
        description="The channel's order id; sending it again returns the same order",
    )
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)
    customer: Customer | None = None
    address: Address | None = None
    shipping_fen: StrictInt = Field(default=0, ge=0, le=MAX_FEN)
    order_discount_fen: StrictInt = Field(default=0, ge=0, le=MAX_FEN)
    total_fen: StrictInt = Fen
    coupon_codes: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Coupons the customer offers; Yipan's own channels only, where Yipan "
        "computes the discounts",
    )
    points_used: StrictInt = Field(
        default=0,
        ge=0,
        le=10**12,
        description="Points the member pays part of the goods with; Yipan's own channels only. "
        "Their value comes off what the order charges: total_fen is what is paid in money",
    )
    currency: Literal["CNY"] = "CNY"
    guide: str | None = Field(
        default=None, min_length=1, max_length=64, description="Guide who placed it (代客下单)"
    )
    store: str | None = Field(
        default=None, min_length=1, max_length=64, description="Store credited with the order"
    )
    placed_at: Timestamp | None = None

    @model_validator(mode="after")
    def _guide_needs_store(self) -> OrderIn:
        if self.guide is not None and self.store is None:
            raise ValueError("a guide-assisted order names the guide's store")
        return self


class PosLineIn(_In):
    sku: str = Code
    quantity: StrictInt = Field(gt=0, le=MAX_LINE_QUANTITY)
    unit_price_fen: StrictInt = Fen
    line_discount_fen: StrictInt = Field(default=0, ge=0, le=MAX_FEN)


class PosReceiptIn(_In):
    """A sale already made at a till; uploading it twice (an offline terminal) is harmless."""

    channel: str = Field(min_length=1, max_length=50)
    receipt_id: str = Field(min_length=1, max_length=100)
    store: str = Code
    terminal: str | None = Field(default=None, max_length=64)
    cashier: str | None = Field(default=None, max_length=64)
    lines: list[PosLineIn] = Field(min_length=1, max_length=200)
    order_discount_fen: StrictInt = Field(default=0, ge=0, le=MAX_FEN)
    total_fen: StrictInt = Fen
    customer: Customer | None = None
    sold_at: Timestamp


class ActionIn(_In):
    actor: str | None = Field(default=None, max_length=64, description="Who acts (staff id)")
    terminal: str | None = Field(default=None, max_length=64, description="From which device")
    code: str | None = Field(
        default=None, max_length=32, description="The customer's pickup code (hand_over)"
    )


class CancelIn(_In):
    reason: str = Field(min_length=1, max_length=200)
    actor: str | None = Field(default=None, max_length=64)
    terminal: str | None = Field(default=None, max_length=64)


class RejectIn(CancelIn):
    """A node cannot fulfil (damaged, not found): the lines go to another node."""


class ReturnLineIn(_In):
    line_no: StrictInt = Field(ge=1, le=1000)
    quantity: StrictInt = Field(gt=0, le=MAX_LINE_QUANTITY)
    condition: Literal["resellable", "damaged"] = "resellable"


class ReturnIn(_In):
    order_id: StrictInt = Field(ge=1, le=2**62)
    node: str = Field(min_length=1, max_length=64, description="Where the goods are handed back")
    idempotency_key: str = Field(min_length=1, max_length=200)
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=100)
    channel: str | None = Field(default=None, max_length=50, description="Where it was taken")
    reason: str | None = Field(default=None, max_length=200)
    actor: str | None = Field(default=None, max_length=64)


class ExchangeIn(_In):
    """Return goods and place the replacement order in one step; the order links the return."""

    return_: ReturnIn = Field(alias="return")
    order: OrderIn

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FulfilmentLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    status: str


class FulfilmentOut(BaseModel):
    id: int
    node: str
    kind: str
    method: str
    state: str
    allowed_actions: list[Action]
    promised_by: datetime | None
    ready_at: datetime | None
    left_at: datetime | None
    delivered_at: datetime | None
    rejected_reason: str | None
    lines: list[FulfilmentLineOut]


class OrderLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    unit_price_fen: int
    line_discount_fen: int
    order_discount_fen: int
    paid_fen: int = Field(description="paid in money, after discounts and points")
    points_used: int = Field(default=0, description="points that paid part of the line …")
    points_fen: int = Field(default=0, description="… and what they paid")
    method: str
    pickup_node: str | None
    status: str
    returned_quantity: int
    refunded_fen: int


class OrderOut(BaseModel):
    id: int
    channel: str
    external_id: str
    kind: str
    state: str
    member_id: str | None
    guide: str | None
    store: str | None
    currency: str
    goods_fen: int
    line_discount_fen: int
    order_discount_fen: int
    shipping_fen: int
    total_fen: int = Field(
        description="paid in money: goods less discounts and points, plus shipping"
    )
    points_used: int = 0
    points_fen: int = 0
    exchange_of_return_id: int | None
    placed_at: datetime
    created_at: datetime
    lines: list[OrderLineOut]
    fulfilments: list[FulfilmentOut]


class OrderSummary(BaseModel):
    id: int
    channel: str
    external_id: str
    kind: str
    state: str
    store: str | None
    total_fen: int
    placed_at: datetime


class ReturnSummary(BaseModel):
    id: int
    order_id: int
    node: str = Field(description="where the goods came back")
    channel: str | None = Field(description="the channel that took the return (null: the order's)")
    refund_fen: int = Field(description="paid back")
    points_deduction_fen: int = Field(description="kept back for points already spent")
    created_at: datetime


class PlacedOrder(BaseModel):
    created: bool = Field(description="False when this was a replay of an order already taken")
    order: OrderOut


class TransitionOut(BaseModel):
    fulfilment: FulfilmentOut
    pickup_code: str | None = Field(
        default=None, description="Issued on mark_ready, for the terminal to pass to the customer"
    )


class OrderEventOut(BaseModel):
    id: int
    type: str
    fulfilment_id: int | None
    from_state: str | None
    to_state: str | None
    actor: str | None
    terminal: str | None
    details: dict[str, Any] | None
    at: datetime


class RoutingDecisionOut(BaseModel):
    id: int
    trigger: str
    explanation: dict[str, Any]
    created_at: datetime


class ReturnLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    condition: str
    refund_fen: int


class ReturnOut(BaseModel):
    id: int
    order_id: int
    node: str
    channel: str | None
    reason: str | None
    refund_fen: int = Field(
        description="what is paid back: the lines' refunds less `points_deduction_fen`"
    )
    points_deduction_fen: int = Field(
        description="kept back for points the sale earned that the member had already spent"
    )
    points_restored: int = Field(
        default=0, description="points that paid for the returned goods, given back to the member"
    )
    created_at: datetime
    lines: list[ReturnLineOut]


class ExchangeOut(BaseModel):
    return_: ReturnOut = Field(serialization_alias="return")
    order: PlacedOrder


class QuoteOut(BaseModel):
    """Where an order would go now, without placing it."""

    assignments: list[dict[str, Any]]
    unfulfillable: list[dict[str, Any]]
    explanation: dict[str, Any]
