"""Reading the marketing forms: text, yuan, whole numbers, local times and code lists, each
checked with a sentence naming the field when it is wrong (`Refused`), before anything is
written. Money is typed in yuan and kept in fen; times are typed in the tenant's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from yipan.console.notice import Notice
from yipan.kernel.config import get_settings
from yipan.kernel.errors import YipanError

MAX_CODE = 64  # as the promotions schemas
MIN_YEAR, MAX_YEAR = 2000, 2199
_KEY = re.compile(r"[0-9a-f]{16}")
_DEFINITION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")
_MONEY = re.compile(r"(\d{1,10})(?:\.(\d{1,2}))?")
_LIST_SEPARATORS = re.compile(r"[\s,，、;；]+")


def is_form_key(key: str) -> bool:
    """Whether `key` is an idempotency key as the pages render them (`secrets.token_hex(8)`)."""
    return bool(_KEY.fullmatch(key))


class Refused(Exception):
    """A form value the page will not send on: the notice says which and why."""

    def __init__(self, key: str, field_key: str = "", status: int = 422, **values: Any) -> None:
        super().__init__(key)
        self.notice = Notice(key, {"field": field_key, **values}, status=status)


def refusal(error: YipanError) -> Notice:
    """A service's refusal as the page shows it: its own message, its own status."""
    return Notice("marketing.refused", {"message": error.message}, status=error.status)


@cache
def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def text(raw: str, field_key: str, *, limit: int, required: bool = True) -> str:
    value = raw.strip()
    if required and not value:
        raise Refused("marketing.missing", field_key)
    if len(value) > limit:
        raise Refused("marketing.too_long", field_key, max=limit)
    return value


def maybe_fen(raw: str, field_key: str) -> int | None:
    """Yuan as typed (`199`, `¥1,299.50`) in fen, above zero; None when left empty."""
    value = raw.strip().lstrip("¥￥").replace(",", "").strip()
    if not value:
        return None
    found = _MONEY.fullmatch(value)
    if found is None:
        raise Refused("marketing.not_money", field_key, value=raw.strip()[:20])
    amount = int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
    if amount <= 0:
        raise Refused("marketing.not_positive", field_key)
    return amount


def fen(raw: str, field_key: str) -> int:
    amount = maybe_fen(raw, field_key)
    if amount is None:
        raise Refused("marketing.missing", field_key)
    return amount


def maybe_whole(raw: str, field_key: str, *, low: int, high: int) -> int | None:
    """A whole number from `low` to `high`; None when left empty."""
    value = raw.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdecimal()) or len(value) > len(str(high)):
        raise Refused("marketing.not_whole", field_key, value=value[:20])
    number = int(value)
    if not low <= number <= high:
        raise Refused("marketing.out_of_range", field_key, low=low, high=high)
    return number


def whole(raw: str, field_key: str, *, low: int, high: int) -> int:
    number = maybe_whole(raw, field_key, low=low, high=high)
    if number is None:
        raise Refused("marketing.missing", field_key)
    return number


def moment(raw: str, field_key: str) -> datetime | None:
    """A time typed in the tenant's time zone (the browser's `datetime-local`), or None."""
    value = raw.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Refused("marketing.bad_time", field_key, value=value[:30]) from None
    # Years far off are typos, and the first and last years do not survive the move to UTC.
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise Refused("marketing.bad_time", field_key, value=value[:30])
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_zone())


def codes(raw: str, field_key: str) -> list[str]:
    """Codes separated by commas, spaces or 、, each at most `MAX_CODE` long."""
    found = sorted({c for c in _LIST_SEPARATORS.split(raw.strip()) if c})
    for code in found:
        if len(code) > MAX_CODE:
            raise Refused("marketing.too_long", field_key, max=MAX_CODE)
    return found


def percent_off(raw: str) -> int:
    """Percent off, 1 to 99: 100 would give the goods away."""
    value = raw.strip()
    if value.isascii() and value.isdecimal() and (len(value) > 2 or int(value) < 1):
        raise Refused("marketing.bad_percent", "marketing.field.percent")
    return whole(value, "marketing.field.percent", low=1, high=99)


def definition_code(raw: str, prefix: str, key: str) -> str:
    """The code typed, or one made from the form's key (so that sending it twice is a replay)."""
    typed = text(raw, "marketing.field.code", limit=MAX_CODE, required=False)
    if not typed:
        if not is_form_key(key):
            raise Refused("marketing.form_expired", status=403)
        return f"{prefix}{key.upper()}"
    if not _DEFINITION_CODE.fullmatch(typed):
        raise Refused("marketing.bad_code", "marketing.field.code")
    return typed
