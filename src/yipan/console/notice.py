"""A sentence a page shows the visitor instead of (or above) its data, with its HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Notice:
    """An i18n key and the values it names; the status is the response's (404, 422, …)."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    status: int = 200
