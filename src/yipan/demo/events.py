"""Events the demo build records in the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class DemoDataBuilt(DomainEvent):
    """The whole demo data set was written; its summary is what `yipan demo` tells on a re-run.

    The opening stock is reported here as one bulk load instead of a `StockMoved` per level.
    """

    name: ClassVar[str] = "demo.DemoDataBuilt"
    aggregate: ClassVar[str] = "demo"
    seed: int
    scale: float
    summary: dict[str, Any]

    def aggregate_id(self) -> str:
        return f"seed-{self.seed}"
