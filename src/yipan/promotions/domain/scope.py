"""What promotions and coupons share: the goods they cover and where and when they are valid.

Checks here raise the caller's error type, so a bad promotion is an `InvalidPromotion` and a bad
coupon an `InvalidCoupon` although the rule broken is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yipan.promotions.domain.errors import InvalidDefinition


@dataclass(frozen=True)
class Scope:
    """The goods a rule covers: listed SKUs or categories, all goods when both are empty.

    `excluded_skus` carves items out (tobacco from a store-wide 满减, say) whatever else matches.
    """

    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    excluded_skus: frozenset[str] = frozenset()

    @property
    def is_all_goods(self) -> bool:
        return not self.skus and not self.categories

    def covers(self, sku: str, category: str) -> bool:
        if sku in self.excluded_skus:
            return False
        return self.is_all_goods or sku in self.skus or category in self.categories


ALL_GOODS = Scope()


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def check_window(
    error: type[InvalidDefinition], owner: str, start: datetime | None, end: datetime | None
) -> None:
    """A window is [start, end): open-ended on a missing side, never empty, always in UTC terms."""
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and not is_aware(moment):
            raise error(f"{owner}: the {name} of the validity window needs a time zone", id=owner)
    if start is not None and end is not None and end <= start:
        raise error(f"{owner}: the validity window ends before it starts", id=owner)


def check_restriction(
    error: type[InvalidDefinition], owner: str, name: str, allowed: frozenset[str] | None
) -> None:
    """None means unrestricted; an empty set would mean "nowhere", which is a mistake, not a rule."""
    if allowed is not None and not allowed:
        raise error(f"{owner}: {name} is empty; use None for no restriction", id=owner)


def check_id(error: type[InvalidDefinition], kind: str, value: str) -> None:
    if not value:
        raise error(f"a {kind} needs a non-empty id")
