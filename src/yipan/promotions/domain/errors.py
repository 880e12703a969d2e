"""Why a promotion, coupon or cart is refused before any pricing happens.

Each error is both a `ValueError` (it is one: a bad argument) and an `InvalidInput`, so the API
layer answers it with 422 and a machine-readable code without knowing this module.
"""

from __future__ import annotations

from yipan.kernel.errors import InvalidInput


class InvalidDefinition(InvalidInput, ValueError):
    code = "INVALID_DEFINITION"


class InvalidPromotion(InvalidDefinition):
    code = "INVALID_PROMOTION"


class InvalidCoupon(InvalidDefinition):
    code = "INVALID_COUPON"


class InvalidCart(InvalidDefinition):
    code = "INVALID_CART"
