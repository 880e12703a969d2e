"""Pydantic shapes in and out of the promotions context.

Rules and benefits are tagged unions on `kind`, one member per domain rule type, field for field,
so what is stored is what the pricing engine is given. Shapes are checked here; whether a
definition makes sense (steps that rise, a threshold above its reduction) is the domain's call,
answered with 422 and its code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from yipan.kernel.fields import Timestamp
from yipan.promotions.domain.coupons import Stacking

MAX_FEN = 10**12
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]
Code = Annotated[str, Field(min_length=1, max_length=64)]
DefinitionCode = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
]
Key = Annotated[str, Field(min_length=1, max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _distinct_sorted(values: list[str]) -> list[str]:
    # Sets in meaning: the same set sent in another order is the same definition.
    return sorted(set(values))


class ScopeIn(_In):
    """The goods covered: listed SKUs or categories, all goods when both are empty."""

    skus: list[Code] = Field(default_factory=list, max_length=5000)
    categories: list[Code] = Field(default_factory=list, max_length=500)
    excluded_skus: list[Code] = Field(default_factory=list, max_length=5000)

    _sets = field_validator("skus", "categories", "excluded_skus")(_distinct_sorted)


# --- promotion rules --------------------------------------------------------------------------


class StepIn(_In):
    threshold_fen: Fen
    reduction_fen: Fen


class ThresholdReductionIn(_In):
    """满减: the best step met applies; with `repeat` (每满) once per whole threshold."""

    kind: Literal["threshold_reduction"]
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    repeat: StrictBool = False
    cap_fen: Fen | None = None


class PercentOffIn(_In):
    kind: Literal["percent_off"]
    percent: StrictInt = Field(description="12 means 8.8折")


class BuyXGetYIn(_In):
    kind: Literal["buy_x_get_y"]
    buy: StrictInt = Field(le=1000)
    get: StrictInt = Field(le=1000)


class NForPriceIn(_In):
    kind: Literal["n_for_price"]
    quantity: StrictInt = Field(le=1000)
    price_fen: Fen


class MemberPriceIn(_In):
    kind: Literal["member_price"]
    tier_prices: dict[Code, Fen] = Field(max_length=50)


RuleIn = Annotated[
    ThresholdReductionIn | PercentOffIn | BuyXGetYIn | NForPriceIn | MemberPriceIn,
    Field(discriminator="kind"),
]


class PromotionIn(_In):
    """A promotion; empty `channels` or `stores` mean all of them. Budgets left out are unlimited."""

    code: DefinitionCode
    name: str = Field(min_length=1, max_length=200)
    rule: RuleIn
    scope: ScopeIn = Field(default_factory=ScopeIn)
    channels: list[Code] = Field(default_factory=list, max_length=100)
    stores: list[Code] = Field(default_factory=list, max_length=5000)
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    exclusion_group: Code | None = None
    budget_fen: Fen | None = Field(default=None, description="Total discount it may give")
    budget_uses: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN)
    per_member_limit: StrictInt | None = Field(
        default=None, ge=1, le=1_000_000, description="Orders per member it may discount"
    )

    _sets = field_validator("channels", "stores")(_distinct_sorted)


class PromotionOut(PromotionIn):
    model_config = ConfigDict(from_attributes=True)

    status: Literal["active", "paused"]
    used_fen: int
    used_count: int
    created_at: datetime
    updated_at: datetime


# --- coupon templates and coupons -------------------------------------------------------------


class AmountOffIn(_In):
    kind: Literal["amount_off"]
    amount_fen: Fen


class CappedPercentOffIn(_In):
    kind: Literal["percent_off"]
    percent: StrictInt
    cap_fen: Fen | None = None


class ThresholdOffIn(_In):
    kind: Literal["threshold_off"]
    threshold_fen: Fen
    amount_fen: Fen


class FreeItemIn(_In):
    kind: Literal["free_item"]
    sku: Code
    quantity: StrictInt = Field(default=1, le=1000)


BenefitIn = Annotated[
    AmountOffIn | CappedPercentOffIn | ThresholdOffIn | FreeItemIn, Field(discriminator="kind")
]


class CouponTemplateIn(_In):
    """What every coupon issued from it offers. A coupon is valid from issue (or `valid_from`)
    for `valid_days` days, never past `valid_until`; `max_issued` bounds how many are issued."""

    code: DefinitionCode
    name: str = Field(min_length=1, max_length=200)
    benefit: BenefitIn
    min_spend_fen: Fen = 0
    stacking: Stacking = Stacking.WITH_PROMOTIONS
    scope: ScopeIn = Field(default_factory=ScopeIn)
    channels: list[Code] = Field(default_factory=list, max_length=100)
    stores: list[Code] = Field(default_factory=list, max_length=5000)
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    valid_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    max_issued: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN)

    _sets = field_validator("channels", "stores")(_distinct_sorted)


class CouponTemplateOut(CouponTemplateIn):
    model_config = ConfigDict(from_attributes=True)

    issued_count: int
    created_at: datetime
    updated_at: datetime


class IssueToMembersIn(_In):
    """One coupon per member; sending the same key again issues nothing new."""

    issue_key: Key
    member_ids: list[Code] = Field(min_length=1, max_length=5000)


class IssueBearerCodesIn(_In):
    """`count` codes anyone may redeem once (兑换码), e.g. for a live-stream campaign."""

    issue_key: Key
    count: StrictInt = Field(ge=1, le=10_000)


class CouponOut(BaseModel):
    code: str
    template: str
    owner_member_id: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    status: Literal["issued", "redeemed", "void"]
    issued_at: datetime
    redeemed_at: datetime | None
    redeemed_order_ref: str | None
    redeemed_channel: str | None


class IssuedOut(BaseModel):
    template: str
    issue_key: str
    created: int = Field(description="Coupons issued by this call; 0 for a replay")
    coupons: list[CouponOut]


# --- pricing ----------------------------------------------------------------------------------


class MemberIn(_In):
    id: Code
    tier: Code | None = Field(
        default=None,
        description="Only for a customer Yipan does not hold: a Yipan member is priced at "
        "their own tier, whatever is sent here",
    )


class QuoteLineIn(_In):
    line_no: StrictInt = Field(ge=1, le=10_000)
    sku: Code
    category: Code | None = Field(default=None, description="Left out: the catalogue's")
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_price_fen: Fen | None = Field(
        default=None,
        description="Left out: the price policy's for this channel and the store's region",
    )


class CartIn(_In):
    channel: Code
    store: Code | None = None
    member: MemberIn | None = None
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=200)
    coupon_codes: list[Code] = Field(default_factory=list, max_length=20)


class QuoteIn(CartIn):
    at: Timestamp | None = Field(
        default=None, description="Price as of this moment; now if left out"
    )


class RedeemIn(CartIn):
    """Price the cart again, now, and consume what applied, once per `order_ref`."""

    order_ref: Key
    expected_payable_fen: Fen | None = Field(
        default=None, description="Refuse with QUOTE_CHANGED if the price is no longer this"
    )


class TillRedeemIn(_In):
    """A coupon scanned at the till: judged against the order total (its threshold, validity,
    owner) and redeemed once."""

    order_ref: Key
    channel: Code
    store: Code | None = None
    member_id: Code | None = None
    order_total_fen: Fen


class ReturnedLineIn(_In):
    line_no: StrictInt = Field(ge=1, le=10_000)
    quantity: StrictInt = Field(ge=0, le=100_000)


class ReturnedUnitsIn(_In):
    """Units returned so far per line, in total (not this return's alone): sending the same state
    again gives back nothing more."""

    returned: list[ReturnedLineIn] = Field(max_length=200)


class ShareOut(BaseModel):
    line_no: int
    discount_fen: int


class LineDiscountOut(BaseModel):
    source: str
    id: str
    discount_fen: int


class QuoteLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    list_total_fen: int
    discounts: list[LineDiscountOut]
    payable_fen: int


class AppliedOut(BaseModel):
    source: str
    id: str
    kind: str
    layer: str
    discount_fen: int
    shares: list[ShareOut]


class RejectedOut(BaseModel):
    source: str
    id: str
    reason: str
    detail: str


class PriceQuoteOut(BaseModel):
    at: datetime
    lines: list[QuoteLineOut]
    applied: list[AppliedOut]
    rejected: list[RejectedOut]
    list_total_fen: int
    discount_fen: int
    payable_fen: int
    search_complete: bool
    free_shipping: bool = Field(
        default=False,
        description="the member's tier ships free: an order on Yipan's own channels takes no "
        "shipping fee",
    )


class RedemptionOut(BaseModel):
    order_ref: str
    created: bool
    channel: str
    member_id: str | None
    quote: PriceQuoteOut


class RestorationOut(BaseModel):
    order_ref: str
    restored_fen: int = Field(
        description="The returned units' share of the order's discounts, promotions' and coupons'"
    )
    promotion_budget_fen: int = Field(description="Of it, what went back into promotion budgets")
    full_return: bool
    coupons_restored: list[str]
