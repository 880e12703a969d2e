"""Why an offer was not applied: the reason codes every rejection carries.

Kept apart from the cart types so the promotion index can pre-build the most common rejection
(a promotion that touches nothing in the cart) once, instead of once per cart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    PROMOTION = "promotion"
    COUPON = "coupon"


class Reason(StrEnum):
    """Why a promotion or coupon did not apply. The first that holds is reported.

    Static reasons (the offer cannot apply to this cart at all) are checked in this order for
    promotions: NO_ELIGIBLE_LINES, NOT_STARTED, EXPIRED, WRONG_CHANNEL, WRONG_STORE,
    BUDGET_EXHAUSTED, MEMBER_LIMIT_REACHED, MEMBER_REQUIRED, TIER_NOT_ELIGIBLE, then whether it
    could take anything off at list prices (QUANTITY_NOT_MET, THRESHOLD_NOT_MET, NO_BENEFIT).
    Coupons: NOT_OWNER, NOT_STARTED, EXPIRED, WRONG_CHANNEL, WRONG_STORE, NO_ELIGIBLE_LINES, then
    the same list-price checks. An offer that could apply but is not in the best combination gets
    MUTUALLY_EXCLUSIVE, NOT_STACKABLE, THRESHOLD_NOT_MET (met at list prices, no longer after the
    discounts applied before it) or WORSE_THAN_CHOSEN.
    """

    NO_ELIGIBLE_LINES = "NO_ELIGIBLE_LINES"
    NOT_OWNER = "NOT_OWNER"
    NOT_STARTED = "NOT_STARTED"
    EXPIRED = "EXPIRED"
    WRONG_CHANNEL = "WRONG_CHANNEL"
    WRONG_STORE = "WRONG_STORE"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    MEMBER_LIMIT_REACHED = "MEMBER_LIMIT_REACHED"
    MEMBER_REQUIRED = "MEMBER_REQUIRED"
    TIER_NOT_ELIGIBLE = "TIER_NOT_ELIGIBLE"
    QUANTITY_NOT_MET = "QUANTITY_NOT_MET"
    THRESHOLD_NOT_MET = "THRESHOLD_NOT_MET"
    NO_BENEFIT = "NO_BENEFIT"
    MUTUALLY_EXCLUSIVE = "MUTUALLY_EXCLUSIVE"
    NOT_STACKABLE = "NOT_STACKABLE"
    WORSE_THAN_CHOSEN = "WORSE_THAN_CHOSEN"


@dataclass(frozen=True)
class Rejection:
    source: Source
    source_id: str
    reason: Reason
    detail: str
