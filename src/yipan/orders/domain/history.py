"""Orders from the past, as plain values: already priced, fulfilled and (partly) returned.

A data migration or the demo hands these to `orders.service.history.record_history`, which writes
them in their final state set at a time instead of replaying every step of the state machines.
They must say everything the live flow would have left behind: what each line paid (its own
discount and its share of the order discount), which node handed over which units and when, and
the returns taken since, with refunds that follow `money.refund_for`. `problems` checks that, so
a writer never stores history the live code could not have produced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from yipan.kernel.money import allocate_discount
from yipan.orders.domain.fulfilment import Kind, State
from yipan.orders.domain.money import refund_for, validate_order_sums

COMPLETED = "completed"
OPEN = "open"
FULFILLED = "fulfilled"
RESELLABLE = "resellable"
DAMAGED = "damaged"
# The states a historic parcel can be in: handed over, or out with the carrier (no stock held).
_FINAL = {
    Kind.COUNTER.value: {State.PICKED_UP.value},
    Kind.PICKUP.value: {State.PICKED_UP.value},
    Kind.SHIPMENT.value: {State.DELIVERED.value, State.SHIPPED.value},
}
_HANDED_OVER = {State.DELIVERED.value, State.PICKED_UP.value}


@dataclass(slots=True)
class HistoricLine:
    sku: str
    quantity: int
    unit_price_fen: int
    line_discount_fen: int = 0
    order_discount_fen: int = 0  # the line's share of the order discount
    method: str = "in_store"  # a routing method, or in_store for a till sale
    pickup_node: str | None = None
    status: str = FULFILLED  # fulfilled once every unit reached the customer, else open
    returned_quantity: int = 0
    refunded_fen: int = 0

    @property
    def subtotal_fen(self) -> int:
        return self.unit_price_fen * self.quantity - self.line_discount_fen

    @property
    def paid_fen(self) -> int:
        return self.subtotal_fen - self.order_discount_fen


@dataclass(slots=True)
class HistoricParcel:
    """What one node handed over in one way; `lines` are (line number, units)."""

    node: str
    kind: str  # counter, pickup or shipment
    method: str
    state: str
    lines: list[tuple[int, int]]
    created_at: datetime
    left_at: datetime | None = None
    delivered_at: datetime | None = None
    ready_at: datetime | None = None
    promised_by: datetime | None = None


@dataclass(slots=True)
class HistoricReturnLine:
    line_no: int
    quantity: int
    condition: str = RESELLABLE
    refund_fen: int = 0


@dataclass(slots=True)
class HistoricReturn:
    key: str  # the idempotency key the return was taken under
    node: str
    at: datetime
    lines: list[HistoricReturnLine]
    channel: str | None = None
    reason: str | None = None
    actor: str | None = None

    @property
    def refund_fen(self) -> int:
        return sum(r.refund_fen for r in self.lines)


@dataclass(slots=True)
class HistoricOrder:
    channel: str
    external_id: str
    kind: str  # pos, online or guide
    state: str  # completed, or open while a parcel is still with the carrier
    placed_at: datetime
    lines: list[HistoricLine]
    parcels: list[HistoricParcel]
    member_id: str | None = None
    guide: str | None = None
    store: str | None = None
    address: dict[str, object] | None = None
    shipping_fen: int = 0
    order_discount_fen: int = 0
    returns: list[HistoricReturn] = field(default_factory=list)

    @property
    def goods_fen(self) -> int:
        return sum(ln.unit_price_fen * ln.quantity for ln in self.lines)

    @property
    def total_fen(self) -> int:
        return (
            sum(ln.subtotal_fen for ln in self.lines) - self.order_discount_fen + self.shipping_fen
        )

    @property
    def completed_at(self) -> datetime | None:
        """When the last parcel reached the customer, for a completed order."""
        if self.state != COMPLETED:
            return None
        return max(p.delivered_at for p in self.parcels if p.delivered_at is not None)

    @property
    def paid_fen(self) -> int:
        """What the lines that reached the customer paid (the spend a completed order books)."""
        return sum(ln.paid_fen for ln in self.lines if ln.status == FULFILLED)


def share_order_discount(order: HistoricOrder) -> None:
    """Spread `order_discount_fen` over the lines as the live capture does."""
    shares = allocate_discount(order.order_discount_fen, [ln.subtotal_fen for ln in order.lines])
    for line, share in zip(order.lines, shares, strict=True):
        line.order_discount_fen = share


def take_return(order: HistoricOrder, ret: HistoricReturn) -> None:
    """Book `ret` on the order's lines: refunds computed cumulatively, as a live return does."""
    for r in ret.lines:
        line = order.lines[r.line_no - 1]
        r.refund_fen = refund_for(
            line.paid_fen, line.quantity, r.quantity, line.returned_quantity, line.refunded_fen
        )
        line.returned_quantity += r.quantity
        line.refunded_fen += r.refund_fen
    order.returns.append(ret)


def problems(order: HistoricOrder) -> list[str]:
    """Everything about `order` that the live flow could not have left behind; empty if none."""
    found = [
        f"{p.field}: expected {p.expected}, got {p.given}"
        for p in validate_order_sums(
            order.lines, order.shipping_fen, order.order_discount_fen, order.total_fen
        )
    ]
    if not order.lines or not order.parcels:
        return [*found, "an order needs lines and parcels"]
    if sum(ln.order_discount_fen for ln in order.lines) != order.order_discount_fen:
        found.append("the lines' shares do not add up to the order discount")
    carried: dict[int, int] = defaultdict(int)
    handed: dict[int, int] = defaultdict(int)
    for parcel in order.parcels:
        if parcel.state not in _FINAL.get(parcel.kind, ()):
            found.append(f"a {parcel.kind} parcel cannot be left {parcel.state}")
        if parcel.state in _HANDED_OVER and parcel.delivered_at is None:
            found.append(f"parcel at {parcel.node} was handed over without a time")
        for line_no, quantity in parcel.lines:
            carried[line_no] += quantity
            if parcel.state in _HANDED_OVER:
                handed[line_no] += quantity
    for no, line in enumerate(order.lines, start=1):
        if carried[no] != line.quantity:
            found.append(f"line {no}: parcels carry {carried[no]} of {line.quantity}")
        reached = handed[no] == line.quantity
        if (line.status == FULFILLED) != reached:
            found.append(f"line {no} is {line.status} but {handed[no]} reached the customer")
    if (order.state == COMPLETED) != all(ln.status == FULFILLED for ln in order.lines):
        found.append(f"order is {order.state} with lines {[ln.status for ln in order.lines]}")
    returned: dict[int, int] = defaultdict(int)
    refunded: dict[int, int] = defaultdict(int)
    for ret in order.returns:
        for r in ret.lines:
            returned[r.line_no] += r.quantity
            refunded[r.line_no] += r.refund_fen
    for no, line in enumerate(order.lines, start=1):
        if returned[no] != line.returned_quantity or refunded[no] != line.refunded_fen:
            found.append(f"line {no}: returns do not add up to what the line says came back")
        if line.returned_quantity > handed[no]:
            found.append(f"line {no}: more came back than reached the customer")
        if line.refunded_fen > line.paid_fen:
            found.append(f"line {no}: refunded more than it paid")
    return found
