"""Page numbers and keyset cursors from query strings, checked without turning a typo into a 500.

The console reads them as text and checks them here, rather than with FastAPI's validation,
so that a bad value gets the page back with a sentence in the visitor's language (and a 422),
not the API's JSON error body.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_ID = 2**62  # as the API's bound: beyond it SQLite's integers overflow


def positive_int(raw: str | None, *, default: int | None, ceiling: int) -> int | None:
    """The whole number in `raw` when it is 1..ceiling; `default` when absent; else ValueError."""
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not text.isdecimal() or len(text) > len(str(ceiling)):
        raise ValueError(raw)
    number = int(text)
    if not 1 <= number <= ceiling:
        raise ValueError(raw)
    return number


def record_id(raw: str) -> int | None:
    """A row id from a path or a form, or None when `raw` is not one (blank, not a number, out
    of range): the caller answers "no such thing" either way."""
    try:
        return positive_int(raw, default=None, ceiling=MAX_ID)
    except ValueError:
        return None


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    total: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def pager(total: int, page: int) -> Pager:
    return Pager(page=page, pages=max(1, -(-total // PAGE_SIZE)), total=total)
