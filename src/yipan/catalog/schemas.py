from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from yipan.kernel.fields import Timestamp

ImportFormat = Literal["csv", "jsonl"]

# `list_price_fen` is a 32-bit INTEGER column on PostgreSQL; refuse bigger prices as bad input.
MAX_PRICE_FEN = 2**31 - 1

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


class SkuIn(BaseModel):
    """One sellable item, with its product and category (created on the fly when new)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Code
    barcode: str | None = Field(default=None, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    product_code: str = Code
    product_name: str | None = Field(default=None, max_length=200)
    category_code: str = Code
    category_name: str | None = Field(default=None, max_length=200)
    brand: str | None = Field(default=None, max_length=100)
    attributes: dict[str, str] = Field(default_factory=dict)
    list_price_fen: StrictInt = Field(
        ge=0, le=MAX_PRICE_FEN, description="List price in fen (1 yuan = 100 fen)"
    )
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    status: Literal["active", "inactive"] = "active"


class SkuOut(BaseModel):
    code: str
    barcode: str | None
    name: str
    product_code: str
    product_name: str
    category_code: str
    category_name: str
    attributes: dict[str, str]
    list_price_fen: int
    currency: str
    status: str


class SkuPage(BaseModel):
    items: list[SkuOut]
    total: int
    offset: int
    limit: int


class CategoryOut(BaseModel):
    code: str
    name: str
    parent_code: str | None
    sku_count: int


class ImportRowError(BaseModel):
    row: int = Field(description="1-based line (JSONL) or data row (CSV) number")
    key: str | None = Field(description="the row's SKU code when it could be read")
    code: str
    message: str


class ImportReport(BaseModel):
    """What a bulk import did: every row is counted once, as created, updated, unchanged or in
    `errors`; rows in `errors` wrote nothing."""

    total: int = Field(description="rows read, good and bad")
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]


# -- price policy ------------------------------------------------------------------------------


def _not_seconds_as_text(value: object) -> object:
    # A query string's "0.5" would otherwise be read as seconds since 1970.
    if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-11T00:00:00+08:00")
    return value


def _with_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-11-11T00:00:00+08:00")
    return value


_SECONDS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
AwareTimestamp = Annotated[
    Timestamp, BeforeValidator(_not_seconds_as_text), AfterValidator(_with_offset)
]
SkuCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ChannelCode = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9._\-]*$")]
RegionName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=50,
        description="A province as the nodes spell it, e.g. 广东省",
    ),
]
PriceExceptionStatus = Literal["scheduled", "in_force", "ended"]


class PriceExceptionIn(BaseModel):
    """An explicit departure from a SKU's list price, for a channel, a region or both.

    The most specific exception in force wins: channel + region, then channel, then region, then
    the list price. Exceptions of one SKU and one scope may not overlap in time.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sku: SkuCode
    channel: ChannelCode | None = Field(default=None, description="Channel code; empty: any")
    region: RegionName | None = Field(default=None, description="Province; empty: any")
    price_fen: StrictInt = Field(gt=0, le=MAX_PRICE_FEN, description="Price in fen")
    reason: str = Field(min_length=1, max_length=500, description="Why this price differs")
    valid_from: AwareTimestamp | None = Field(
        default=None, description="Inclusive; empty: no start"
    )
    valid_until: AwareTimestamp | None = Field(default=None, description="Exclusive; empty: open")
    actor: str = Field(min_length=1, max_length=64, description="Who sets it (staff id)")

    @model_validator(mode="after")
    def _scope_and_window(self) -> PriceExceptionIn:
        if self.channel is None and self.region is None:
            raise ValueError(
                "an exception names a channel, a region or both; the list price is for everyone"
            )
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until <= self.valid_from
        ):
            raise ValueError("valid_until must be later than valid_from")
        return self


class PriceExceptionRef(BaseModel):
    """The exception that sets a price, as reports and price look-ups cite it."""

    id: int
    channel: str | None
    region: str | None
    price_fen: int
    reason: str


class PriceExceptionOut(PriceExceptionRef):
    sku: str
    list_price_fen: int
    currency: str
    valid_from: datetime | None
    valid_until: datetime | None
    status: PriceExceptionStatus
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class PriceExceptionPage(BaseModel):
    items: list[PriceExceptionOut]
    total: int
    offset: int
    limit: int


class EffectivePrice(BaseModel):
    """The price of a SKU through one channel in one region at one instant, before promotions."""

    sku: str
    channel: str | None
    region: str | None
    at: datetime
    list_price_fen: int
    price_fen: int
    currency: str
    category: str = Field(description="The SKU's category code, what promotions go by")
    exception: PriceExceptionRef | None = Field(description="Empty: the list price applies")


# -- price consistency -------------------------------------------------------------------------


class ObservedPrices(BaseModel):
    """Unit prices charged through one channel in the window, before promotion discounts."""

    units: int
    lines: int
    min_fen: int
    max_fen: int
    most_common_fen: int = Field(description="The price most units sold at (lowest on a tie)")


class ChannelPrice(BaseModel):
    channel: str
    effective_price_fen: int = Field(description="What the policy says now (no region)")
    exception: PriceExceptionRef | None
    observed: ObservedPrices | None = Field(description="Empty: nothing sold in the window")


class PriceDifference(BaseModel):
    """One departure from the list price, or from the policy, and what explains it."""

    source: Literal["policy", "sales"] = Field(
        description="policy: an exception in force now; sales: unit prices charged"
    )
    channel: str | None = Field(description="Empty for a region exception of every channel")
    region: str | None
    price_fen: int = Field(description="The exception's price, or the unit price charged")
    list_price_fen: int
    expected_fen: int = Field(description="What the policy said the price was")
    explained: bool
    reason: str = Field(description="The exception's reason, or 'no rule'")
    exception: PriceExceptionRef | None
    units: int | None = None
    lines: int | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None


class SkuPriceConsistency(BaseModel):
    sku: str
    name: str
    category_code: str
    list_price_fen: int
    currency: str
    status: Literal["consistent", "explained", "unexplained"] = Field(
        description="unexplained: some difference has no rule"
    )
    unexplained: int = Field(description="How many differences have no rule")
    channels: list[ChannelPrice]
    differences: list[PriceDifference]


class PriceConsistencyPage(BaseModel):
    since: datetime
    until: datetime
    items: list[SkuPriceConsistency]
    total: int
    offset: int
    limit: int
