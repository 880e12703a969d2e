"""Error codes of the promotions context; every one of them leaves nothing written."""

from __future__ import annotations

from yipan.kernel.errors import Conflict, IdempotencyConflict, InvalidInput, NotFound


class UnknownPromotion(NotFound):
    code = "UNKNOWN_PROMOTION"


class UnknownCouponTemplate(NotFound):
    code = "UNKNOWN_COUPON_TEMPLATE"


class UnknownCoupon(NotFound):
    code = "UNKNOWN_COUPON"


class UnknownRedemption(NotFound):
    code = "UNKNOWN_REDEMPTION"


class DefinitionTaken(IdempotencyConflict):
    """A promotion or template code sent again with another definition (PUT changes one)."""

    code = "CODE_TAKEN"


class CouponNotValid(Conflict):
    """Not yet valid or expired; details carry valid_from and valid_until."""

    code = "COUPON_NOT_VALID"


class NotYourCoupon(Conflict):
    code = "NOT_YOUR_COUPON"


class CouponAlreadyUsed(Conflict):
    code = "COUPON_ALREADY_USED"


class CouponVoid(Conflict):
    code = "COUPON_VOID"


class CouponNotApplicable(Conflict):
    """The coupon is valid and free but this order cannot use it (threshold, channel, goods)."""

    code = "COUPON_NOT_APPLICABLE"


class IssueBudgetExhausted(Conflict):
    code = "ISSUE_BUDGET_EXHAUSTED"


class BudgetExhausted(Conflict):
    """A promotion's budget ran out between the quote and the redemption."""

    code = "BUDGET_EXHAUSTED"


class MemberLimitReached(Conflict):
    code = "MEMBER_LIMIT_REACHED"


class QuoteChanged(Conflict):
    """The price at redemption differs from the one the customer was shown."""

    code = "QUOTE_CHANGED"


class RedemptionReplayMismatch(IdempotencyConflict):
    code = "REDEMPTION_REPLAY_MISMATCH"


class IssueReplayMismatch(IdempotencyConflict):
    code = "ISSUE_REPLAY_MISMATCH"


class InvalidReturn(InvalidInput):
    code = "INVALID_RETURN"


class CodeMismatch(InvalidInput):
    code = "CODE_MISMATCH"
