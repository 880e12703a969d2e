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
