from __future__ import annotations

from yipan.kernel.errors import Conflict, IdempotencyConflict, InvalidInput, NotFound


class UnknownOrder(NotFound):
    code = "UNKNOWN_ORDER"


class UnknownFulfilment(NotFound):
    code = "UNKNOWN_FULFILMENT"


class UnknownLine(NotFound):
    code = "UNKNOWN_LINE"


class UnknownReturn(NotFound):
    code = "UNKNOWN_RETURN"


class UnknownSkuRef(InvalidInput):
    """The order names a SKU the catalogue does not have."""

    code = "UNKNOWN_SKU"


class UnknownNodeRef(InvalidInput):
    """The order names a store or node the pool does not have."""

    code = "UNKNOWN_NODE"


class InvalidOrder(InvalidInput):
    code = "INVALID_ORDER"


class SumsDoNotAddUp(InvalidInput):
    code = "SUMS_DO_NOT_ADD_UP"


class PickupNotOffered(InvalidInput):
    code = "PICKUP_NOT_OFFERED"


class OutsideDeliveryArea(InvalidInput):
    code = "OUTSIDE_DELIVERY_AREA"


class OutOfStock(Conflict):
    """No node can serve some lines now; details say which, with alternatives where there are."""

    code = "OUT_OF_STOCK"


class ShippingIsFree(Conflict):
    """A shipping fee asked of a member whose tier ships free, on one of Yipan's own channels."""

    code = "SHIPPING_IS_FREE"


class PriceChanged(Conflict):
    """A line's price is not what Yipan's price policy charges on this channel now."""

    code = "PRICE_CHANGED"


class OrderReplayMismatch(IdempotencyConflict):
    code = "ORDER_REPLAY_MISMATCH"


class AlreadyShipped(Conflict):
    code = "ALREADY_SHIPPED"


class WrongPickupCode(Conflict):
    code = "WRONG_PICKUP_CODE"


class PickupLocked(Conflict):
    code = "PICKUP_LOCKED"


class ReturnNotAllowed(Conflict):
    code = "RETURN_NOT_ALLOWED"


class ReturnReplayMismatch(IdempotencyConflict):
    code = "RETURN_REPLAY_MISMATCH"
