"""Events the inventory context records in the outbox (past tense, plain JSON values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class _StockEvent(DomainEvent):
    aggregate: ClassVar[str] = "stock"
    sku: str
    node: str

    def aggregate_id(self) -> str:
        return f"{self.sku}@{self.node}"


@dataclass(frozen=True, kw_only=True)
class StockReserved(_StockEvent):
    name: ClassVar[str] = "inventory.StockReserved"
    reference: str
    quantity: int
    reservation_id: int


@dataclass(frozen=True, kw_only=True)
class ReservationReleased(_StockEvent):
    name: ClassVar[str] = "inventory.ReservationReleased"
    reference: str
    quantity: int
    reservation_id: int
    expired: bool = False


@dataclass(frozen=True, kw_only=True)
class ReservationCommitted(_StockEvent):
    name: ClassVar[str] = "inventory.ReservationCommitted"
    reference: str
    quantity: int
    reservation_id: int


@dataclass(frozen=True, kw_only=True)
class StockMoved(DomainEvent):
    """On-hand stock changed at one node. One entry per SKU, net of the rows applied together:
    a POS upload of a thousand sales at a store is one event, not a thousand."""

    name: ClassVar[str] = "inventory.StockMoved"
    aggregate: ClassVar[str] = "node"
    node: str
    changes: list[dict[str, int | str]]  # {"sku", "kind", "quantity", "on_hand"}
    reference: str | None = None
    channel: str | None = None

    def aggregate_id(self) -> str:
        return self.node


@dataclass(frozen=True, kw_only=True)
class StockFellBelowThreshold(_StockEvent):
    """ATP crossed under the reorder point (or safety stock): the alert handler takes it from here."""

    name: ClassVar[str] = "inventory.StockFellBelowThreshold"
    atp: int
    threshold: int


@dataclass(frozen=True, kw_only=True)
class StockPolicyChanged(_StockEvent):
    name: ClassVar[str] = "inventory.StockPolicyChanged"
    safety_stock: int
    reorder_point: int


@dataclass(frozen=True, kw_only=True)
class NodeSaved(DomainEvent):
    name: ClassVar[str] = "inventory.NodeSaved"
    aggregate: ClassVar[str] = "node"
    node: str
    created: bool

    def aggregate_id(self) -> str:
        return self.node


@dataclass(frozen=True, kw_only=True)
class _TransferEvent(DomainEvent):
    aggregate: ClassVar[str] = "transfer"
    transfer: str

    def aggregate_id(self) -> str:
        return self.transfer


@dataclass(frozen=True, kw_only=True)
class TransferRequested(_TransferEvent):
    name: ClassVar[str] = "inventory.TransferRequested"
    source: str
    destination: str
    lines: list[dict[str, int | str]]


@dataclass(frozen=True, kw_only=True)
class TransferShipped(_TransferEvent):
    name: ClassVar[str] = "inventory.TransferShipped"
    lines: list[dict[str, int | str]]


@dataclass(frozen=True, kw_only=True)
class TransferReceived(_TransferEvent):
    name: ClassVar[str] = "inventory.TransferReceived"
    lines: list[dict[str, int | str]]
    discrepancies: list[dict[str, int | str]]


@dataclass(frozen=True, kw_only=True)
class TransferClosed(_TransferEvent):
    name: ClassVar[str] = "inventory.TransferClosed"


@dataclass(frozen=True, kw_only=True)
class TransferCancelled(_TransferEvent):
    name: ClassVar[str] = "inventory.TransferCancelled"
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class LowStockAlertRaised(DomainEvent):
    name: ClassVar[str] = "inventory.LowStockAlertRaised"
    aggregate: ClassVar[str] = "alert"
    alert_id: int
    sku: str
    node: str
    atp: int
    threshold: int
    nearby: list[dict[str, object]]

    def aggregate_id(self) -> str:
        return str(self.alert_id)


@dataclass(frozen=True, kw_only=True)
class AlertAcknowledged(DomainEvent):
    name: ClassVar[str] = "inventory.AlertAcknowledged"
    aggregate: ClassVar[str] = "alert"
    alert_id: int
    by: str | None

    def aggregate_id(self) -> str:
        return str(self.alert_id)


@dataclass(frozen=True, kw_only=True)
class AlertCleared(DomainEvent):
    """The node's ATP is back at or above the threshold; a later drop raises a new alert."""

    name: ClassVar[str] = "inventory.AlertCleared"
    aggregate: ClassVar[str] = "alert"
    alert_id: int
    sku: str
    node: str

    def aggregate_id(self) -> str:
        return str(self.alert_id)
