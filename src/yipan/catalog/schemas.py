from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

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
