from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound


class UnknownNode(NotFound):
    code = "UNKNOWN_NODE"


class UnknownReservation(NotFound):
    code = "UNKNOWN_RESERVATION"


class UnknownTransfer(NotFound):
    code = "UNKNOWN_TRANSFER"


class UnknownAlert(NotFound):
    code = "UNKNOWN_ALERT"


class InsufficientStock(Conflict):
    code = "INSUFFICIENT_STOCK"


class StockWouldGoNegative(Conflict):
    code = "STOCK_WOULD_GO_NEGATIVE"


class ReservationClosed(Conflict):
    code = "RESERVATION_CLOSED"


class ReservationMismatch(Conflict):
    """The reference already holds a reservation for different lines."""

    code = "RESERVATION_MISMATCH"


class NodeInactive(Conflict):
    code = "NODE_INACTIVE"


class InvalidQuantity(InvalidInput):
    code = "INVALID_QUANTITY"


class InvalidMovement(InvalidInput):
    code = "INVALID_MOVEMENT"


class InvalidNode(InvalidInput):
    code = "INVALID_NODE"


class InvalidTransfer(InvalidInput):
    code = "INVALID_TRANSFER"


class InvalidBuffer(InvalidInput):
    code = "INVALID_BUFFER"
