from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime


class Node(Base):
    """A place that holds stock: store, warehouse, distribution centre or distributor store."""

    __tablename__ = "inventory_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(24), index=True)
    province: Mapped[str] = mapped_column(String(50), index=True)
    city: Mapped[str] = mapped_column(String(50))
    district: Mapped[str | None] = mapped_column(String(50))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    can_ship: Mapped[bool] = mapped_column(default=False)
    can_pickup: Mapped[bool] = mapped_column(default=False)
    can_local_delivery: Mapped[bool] = mapped_column(default=False)
    local_delivery_radius_km: Mapped[float] = mapped_column(Float, default=0)
    can_receive_returns: Mapped[bool] = mapped_column(default=False)
    daily_capacity: Mapped[int] = mapped_column(default=0)
    # Sales floor of a shop, for sales per m² (insights' KPIs); None where unknown or no shop.
    floor_area_m2: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("daily_capacity >= 0", name="capacity_not_negative"),
        Index("ix_inventory_nodes_lat_lon", "latitude", "longitude"),
    )


class StockLevel(Base):
    """Stock of one SKU at one node. `on_hand` always equals the sum of its movements."""

    __tablename__ = "inventory_stock_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("catalog_skus.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("inventory_nodes.id"), index=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    safety_stock: Mapped[int] = mapped_column(default=0)
    reorder_point: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("sku_id", "node_id"),
        # The database itself refuses an oversell, whatever code path tries it.
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
    )


class Movement(Base):
    """The append-only stock ledger: one row per change of `on_hand`, never updated or deleted.

    No foreign keys here, on purpose: a row is only ever written beside the stock level of the
    same SKU × node in the same transaction, and that level carries the keys. Checking them
    again per ledger row costs PostgreSQL a trigger query per row — nearly half the cost of a
    POS batch. `yipan inventory reconcile` reports any ledger row without its level.
    """

    __tablename__ = "inventory_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku_id: Mapped[int]
    node_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(24))
    quantity: Mapped[int]
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(50))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        Index("ix_inventory_movements_sku_node", "sku_id", "node_id", "id"),
        Index("ix_inventory_movements_reference", "reference"),
    )


class Reservation(Base):
    """A hold on stock for a reference (order, cart, transfer); released, committed or expired."""

    __tablename__ = "inventory_reservations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(100))
    sku_id: Mapped[int] = mapped_column(ForeignKey("catalog_skus.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("inventory_nodes.id"))
    quantity: Mapped[int]
    channel: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # One hold per (reference, SKU, node): replaying a reservation finds the first one.
        UniqueConstraint("reference", "sku_id", "node_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index(
            "ix_inventory_reservations_expiry",
            "expires_at",
            postgresql_where=text("status = 'active' AND expires_at IS NOT NULL"),
            sqlite_where=text("status = 'active' AND expires_at IS NOT NULL"),
        ),
    )


class ChannelBuffer(Base):
    """Stock a channel may not see at nodes of one type: a percentage of ATP or a number of units."""

    __tablename__ = "inventory_channel_buffers"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(50))
    node_type: Mapped[str] = mapped_column(String(24))
    mode: Mapped[str] = mapped_column(String(8))
    value: Mapped[int]

    __table_args__ = (
        UniqueConstraint("channel", "node_type"),
        CheckConstraint("mode IN ('percent', 'units')", name="mode_known"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )


class Transfer(Base):
    """Stock moving between two nodes: requested → shipped (in transit) → received → closed."""

    __tablename__ = "inventory_transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    source_node_id: Mapped[int] = mapped_column(ForeignKey("inventory_nodes.id"), index=True)
    dest_node_id: Mapped[int] = mapped_column(ForeignKey("inventory_nodes.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("source_node_id <> dest_node_id", name="distinct_nodes"),)


class TransferLine(Base):
    __tablename__ = "inventory_transfer_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("inventory_transfers.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("catalog_skus.id"))
    quantity_requested: Mapped[int]
    quantity_shipped: Mapped[int] = mapped_column(default=0)
    quantity_received: Mapped[int] = mapped_column(default=0)
    quantity_damaged: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("transfer_id", "sku_id"),
        CheckConstraint("quantity_requested > 0", name="requested_positive"),
        CheckConstraint(
            "quantity_received + quantity_damaged <= quantity_shipped",
            name="received_within_shipped",
        ),
    )


class Alert(Base):
    """A low-stock alert, raised once when ATP crosses under the threshold and kept until cleared."""

    __tablename__ = "inventory_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), default="low_stock")
    sku_id: Mapped[int] = mapped_column(ForeignKey("catalog_skus.id"))
    node_id: Mapped[int] = mapped_column(ForeignKey("inventory_nodes.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    atp: Mapped[int]
    threshold: Mapped[int]
    nearby_surplus: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # At most one live alert per SKU × node × kind: raised once, not on every sale.
        Index(
            "uq_inventory_alerts_live",
            "kind",
            "sku_id",
            "node_id",
            unique=True,
            postgresql_where=text("status <> 'cleared'"),
            sqlite_where=text("status <> 'cleared'"),
        ),
        Index("ix_inventory_alerts_status", "status", "raised_at"),
    )
