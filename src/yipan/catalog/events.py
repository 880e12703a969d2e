"""Events the catalogue records in the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class SkuSaved(DomainEvent):
    """A SKU was created or changed (price, name, barcode, status, product or category)."""

    name: ClassVar[str] = "catalog.SkuSaved"
    aggregate: ClassVar[str] = "sku"
    sku: str
    created: bool
    list_price_fen: int
    status: str

    def aggregate_id(self) -> str:
        return self.sku


@dataclass(frozen=True, kw_only=True)
class PriceExceptionSaved(DomainEvent):
    """A price exception was set or changed; `price_fen` is what that scope now pays."""

    name: ClassVar[str] = "catalog.PriceExceptionSaved"
    aggregate: ClassVar[str] = "sku"
    sku: str
    exception_id: int
    created: bool
    channel: str | None
    region: str | None
    price_fen: int
    reason: str
    valid_from: str | None
    valid_until: str | None
    actor: str

    def aggregate_id(self) -> str:
        return self.sku


@dataclass(frozen=True, kw_only=True)
class PriceExceptionRemoved(DomainEvent):
    """A price exception was taken away: its scope pays the next rule's price again."""

    name: ClassVar[str] = "catalog.PriceExceptionRemoved"
    aggregate: ClassVar[str] = "sku"
    sku: str
    exception_id: int
    channel: str | None
    region: str | None
    actor: str

    def aggregate_id(self) -> str:
        return self.sku
