"""Field types every context's request bodies share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator


def _not_a_boolean(value: object) -> object:
    # JSON true/false would otherwise pass as 1.0/0.0.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean)]


def _not_a_number(value: object) -> object:
    # A bare number would otherwise be read as seconds since 1970.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-22T10:00:00+08:00")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_not_a_number)]
