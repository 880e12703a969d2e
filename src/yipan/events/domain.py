"""Event values and the retry policy, free of storage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened, named in the past tense (`StockReserved`).

    Subclasses set `name` (`"<context>.<Event>"`) and `aggregate`, and hold plain JSON values.
    """

    name: ClassVar[str]
    aggregate: ClassVar[str]

    def aggregate_id(self) -> str:
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        # Shallow on purpose: fields hold plain JSON values, and asdict's deep copy is costly
        # on paths that record an event per stock row or per imported record.
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in dataclasses.fields(self))
        return {name: getattr(self, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # per event class, asked for once


@dataclass(frozen=True)
class OutboxMessage:
    """An event as stored and delivered."""

    id: int
    name: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    occurred_at: datetime
    attempts: int


def retry_delay(
    attempts: int, *, base_seconds: float = 1.0, cap_seconds: float = 300.0
) -> timedelta:
    """Exponential back-off after `attempts` failed deliveries: 1 s, 2 s, 4 s … capped at 5 min."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))
