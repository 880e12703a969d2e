"""Inventory rules over plain values: ATP, channel buffers, distance, alert thresholds, transfers.

Distances use the haversine formula on a sphere of the Earth's mean radius; it is four lines and
accurate to well under 1 % at city scale, so no geodesy library is pulled in for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from yipan.kernel.errors import Conflict

EARTH_RADIUS_KM = 6371.0088


class NodeType(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"
    DC = "dc"
    DISTRIBUTOR_STORE = "distributor_store"


class MovementKind(StrEnum):
    """Why `on_hand` changed. The sign of a movement's quantity is fixed by its kind."""

    RECEIPT = "receipt"
    SALE = "sale"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    RETURN = "return"
    RESERVATION_COMMIT = "reservation_commit"


INCREASING = frozenset({MovementKind.RECEIPT, MovementKind.TRANSFER_IN, MovementKind.RETURN})
DECREASING = frozenset(
    {MovementKind.SALE, MovementKind.TRANSFER_OUT, MovementKind.RESERVATION_COMMIT}
)
# Adjustments carry their own sign; a count is turned into the delta to the counted quantity.
SIGNED = frozenset({MovementKind.ADJUSTMENT, MovementKind.COUNT})


def signed_quantity(kind: MovementKind, quantity: int) -> int:
    """The ledger delta of a movement reported as (kind, quantity).

    Receipts, transfers in and returns add, sales and transfers out take away: callers send a
    positive quantity for those. Adjustments are signed as sent.
    """
    if quantity == 0:
        raise ValueError("quantity must not be zero")
    if kind in INCREASING or kind in DECREASING:
        if quantity < 0:
            raise ValueError(f"{kind.value} quantity must be positive; the kind gives the sign")
        return quantity if kind in INCREASING else -quantity
    return quantity


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    COMMITTED = "committed"
    EXPIRED = "expired"


def atp(on_hand: int, reserved: int, safety_stock: int) -> int:
    """Available to promise: what can still be sold from a node, never below zero."""
    return max(0, on_hand - reserved - safety_stock)


class BufferMode(StrEnum):
    PERCENT = "percent"
    UNITS = "units"


@dataclass(frozen=True)
class ChannelBuffer:
    mode: BufferMode
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("a buffer cannot be negative")
        if self.mode is BufferMode.PERCENT and self.value > 100:
            raise ValueError("a percentage buffer is at most 100")

    def apply(self, available: int) -> int:
        """ATP as the channel sees it. A percentage hides a share, rounded in the pool's favour."""
        if available <= 0:
            return 0
        if self.mode is BufferMode.UNITS:
            return max(0, available - self.value)
        return available * (100 - self.value) // 100


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """A box that contains every point within `radius_km`, for an index-friendly pre-filter."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return BoundingBox(lat - dlat, lat + dlat, lon - dlon, lon + dlon)


def alert_threshold(reorder_point: int, safety_stock: int) -> int:
    """A node is low when its ATP drops under its reorder point, or its safety stock if it has none."""
    return reorder_point if reorder_point > 0 else safety_stock


def crossed_below(before: int, after: int, threshold: int) -> bool:
    """True only on the change that takes ATP under the threshold, so an alert is raised once."""
    return threshold > 0 and before >= threshold > after


def surplus(available: int, reorder_point: int) -> int:
    """Units a node could give away and still sit at its own reorder point."""
    return max(0, available - reorder_point)


class TransferStatus(StrEnum):
    REQUESTED = "requested"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class TransferAction(StrEnum):
    SHIP = "ship"
    RECEIVE = "receive"
    CLOSE = "close"
    CANCEL = "cancel"


_TRANSFER_MOVES: dict[tuple[TransferStatus, TransferAction], TransferStatus] = {
    (TransferStatus.REQUESTED, TransferAction.SHIP): TransferStatus.SHIPPED,
    (TransferStatus.REQUESTED, TransferAction.CANCEL): TransferStatus.CANCELLED,
    (TransferStatus.SHIPPED, TransferAction.RECEIVE): TransferStatus.RECEIVED,
    (TransferStatus.RECEIVED, TransferAction.CLOSE): TransferStatus.CLOSED,
}


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


def transfer_next(status: TransferStatus, action: TransferAction) -> TransferStatus:
    try:
        return _TRANSFER_MOVES[(status, action)]
    except KeyError:
        allowed = sorted(a.value for (s, a) in _TRANSFER_MOVES if s == status)
        raise IllegalTransition(
            f"cannot {action.value} a transfer that is {status.value}",
            status=status.value,
            action=action.value,
            allowed=allowed,
        ) from None
