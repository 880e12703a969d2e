"""Pydantic shapes in and out of the inventory context (used by the API, CLI and services)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from yipan.inventory.domain import BufferMode, MovementKind, NodeType
from yipan.kernel.fields import Number, Timestamp

# Stock columns are 32-bit on PostgreSQL; no single movement or policy comes near this.
MAX_QUANTITY = 100_000_000

CodeStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NodeIn(_In):
    code: str = CodeStr
    name: str = Field(min_length=1, max_length=200)
    type: NodeType
    province: str = Field(min_length=1, max_length=50)
    city: str = Field(min_length=1, max_length=50)
    district: str | None = Field(default=None, max_length=50)
    latitude: Number = Field(ge=-90, le=90)
    longitude: Number = Field(ge=-180, le=180)
    can_ship: StrictBool = False
    can_pickup: StrictBool = False
    can_local_delivery: StrictBool = False
    local_delivery_radius_km: Number = Field(default=0, ge=0, le=100)
    can_receive_returns: StrictBool = False
    daily_capacity: StrictInt = Field(default=0, ge=0, le=MAX_QUANTITY)
    floor_area_m2: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    active: StrictBool = True


class NodeOut(NodeIn):
    model_config = ConfigDict(from_attributes=True)


class StockPolicyIn(_In):
    safety_stock: StrictInt = Field(ge=0, le=MAX_QUANTITY)
    reorder_point: StrictInt = Field(ge=0, le=MAX_QUANTITY)


class StockLevelOut(BaseModel):
    sku: str
    node: str
    on_hand: int
    reserved: int
    safety_stock: int
    reorder_point: int
    atp: int


class MovementIn(_In):
    """A change of stock reported by a POS terminal, a warehouse system or a person."""

    sku: str = Field(min_length=1, max_length=64)
    node: str = Field(min_length=1, max_length=64)
    kind: MovementKind
    quantity: StrictInt = Field(
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="Positive for receipts, sales, returns and transfers (the kind gives the "
        "sign); signed for adjustments; the counted quantity (>= 0) for counts",
    )
    reason: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=50)
    occurred_at: Timestamp | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class MovementOut(BaseModel):
    id: int
    sku: str
    node: str
    kind: str
    quantity: int
    reason: str | None
    reference: str | None
    channel: str | None
    occurred_at: datetime
    recorded_at: datetime


class LedgerPage(BaseModel):
    items: list[MovementOut]
    on_hand: int
    next_before_id: int | None


class ReserveLine(_In):
    sku: str = Field(min_length=1, max_length=64)
    node: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)


class ReserveIn(_In):
    reference: str = Field(
        min_length=1,
        max_length=100,
        description="What the stock is held for (order:123, cart:abc); replaying it is harmless",
    )
    lines: list[ReserveLine] = Field(min_length=1, max_length=200)
    channel: str | None = Field(default=None, max_length=50)
    expires_at: Timestamp | None = None
    ttl_seconds: StrictInt | None = Field(default=None, gt=0, le=30 * 24 * 3600)


class ReservationOut(BaseModel):
    id: int
    reference: str
    sku: str
    node: str
    quantity: int
    status: str
    channel: str | None
    expires_at: datetime | None
    created_at: datetime


class NodeAtp(BaseModel):
    node: str
    name: str
    type: str
    province: str
    city: str
    atp: int
    on_hand: int
    reserved: int
    distance_km: float | None = None
    can_pickup: bool
    can_ship: bool
    can_local_delivery: bool


class SkuAtp(BaseModel):
    sku: str
    channel: str | None
    total_atp: int
    nodes: list[NodeAtp]


class RegionAtp(BaseModel):
    region: str
    nodes: int
    nodes_in_stock: int
    atp: int
    on_hand: int


class ChannelBufferIn(_In):
    channel: str = Field(min_length=1, max_length=50)
    node_type: NodeType
    mode: BufferMode
    value: StrictInt = Field(ge=0, le=MAX_QUANTITY)


class ChannelBufferOut(ChannelBufferIn):
    pass


class BatchRowError(BaseModel):
    index: int = Field(description="0-based position of the row in the batch")
    idempotency_key: str | None
    code: str
    message: str


class BatchResult(BaseModel):
    accepted: int = Field(description="rows applied now")
    duplicates: int = Field(
        description="rows already applied earlier with the same key and payload"
    )
    rejected: int
    errors: list[BatchRowError]


class TransferLineIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)


class TransferIn(_In):
    code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
        description="Client-chosen transfer code; sending it twice is harmless. Omit it to get "
        "a generated one (TR-<yyyymmdd>-<n>)",
    )
    source: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=1, max_length=64)
    lines: list[TransferLineIn] = Field(min_length=1, max_length=500)
    reason: str | None = Field(default=None, max_length=200)
    requested_by: str | None = Field(default=None, max_length=100)


class ReceiveLineIn(_In):
    sku: str = Field(min_length=1, max_length=64)
    received: StrictInt = Field(ge=0, le=MAX_QUANTITY)
    damaged: StrictInt = Field(default=0, ge=0, le=MAX_QUANTITY)
    note: str | None = Field(default=None, max_length=200)


class ReceiveIn(_In):
    lines: list[ReceiveLineIn] | None = Field(
        default=None, description="What arrived per SKU; omit to receive everything shipped"
    )


class TransferLineOut(BaseModel):
    sku: str
    requested: int
    shipped: int
    received: int
    damaged: int
    in_transit: int
    difference: int
    note: str | None


class TransferOut(BaseModel):
    code: str
    source: str
    destination: str
    status: str
    reason: str | None
    requested_by: str | None
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None = None
    lines: list[TransferLineOut]


class TransferCancelIn(_In):
    reason: str | None = Field(default=None, max_length=200)


class InTransitTransfer(BaseModel):
    code: str
    source: str
    destination: str
    quantity: int


class InTransitOut(BaseModel):
    """Units of a SKU on the road to (inbound) and from (outbound) a node: shipped, not received."""

    sku: str
    node: str
    inbound: int
    outbound: int
    transfers: list[InTransitTransfer]


class NearbySurplus(BaseModel):
    node: str
    name: str
    distance_km: float
    surplus: int


class AlertOut(BaseModel):
    id: int
    kind: str
    sku: str
    node: str
    status: Literal["open", "acknowledged", "cleared"]
    atp: int
    threshold: int
    nearby_surplus: list[NearbySurplus]
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str | None = None
    cleared_at: datetime | None


class AcknowledgeIn(_In):
    by: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=1000)


class DriftRow(BaseModel):
    sku: str
    node: str
    on_hand: int
    ledger_sum: int
    drift: int


class ReconcileReport(BaseModel):
    rows_checked: int
    drifted: list[DriftRow]
