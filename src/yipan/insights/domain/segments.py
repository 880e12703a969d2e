"""Marketers' segments: saved filters over member tags and attributes, checked here.

A filter is a JSON object from a filter name to the values wanted, e.g.
`{"rfm_segment": ["at_risk", "hibernating"], "tier": ["gold"], "store": ["ST-SH-1"]}`. A member
is in the segment when, for every name given, one of its values matches (any of the values of
one name, all of the names). `store` matches the store a member is bound to or any node their
orders were sold or fulfilled at; `tier` the member's tier; every other name a tag of that kind.
An empty filter is every active member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yipan.insights.domain.tags import CLOSED_VALUES, TagKind
from yipan.kernel.errors import InvalidInput

MAX_VALUES = 50
MAX_VALUE_LENGTH = 64

# Filter name → the tag kind it matches; `tier` and `store` are the member's own attributes.
TAG_FILTERS: dict[str, TagKind] = {
    "rfm_segment": TagKind.RFM_SEGMENT,
    "recency_score": TagKind.RECENCY_SCORE,
    "frequency_score": TagKind.FREQUENCY_SCORE,
    "monetary_score": TagKind.MONETARY_SCORE,
    "category": TagKind.CATEGORY,
    "size": TagKind.SIZE,
    "price_band": TagKind.PRICE_BAND,
    "channel": TagKind.CHANNEL,
    "scene": TagKind.SCENE,
    "lapse_risk": TagKind.LAPSE_RISK,
}
ATTRIBUTE_FILTERS = ("tier", "store")
FILTER_NAMES = (*TAG_FILTERS, *ATTRIBUTE_FILTERS)


class InvalidSegmentFilter(InvalidInput):
    code = "INVALID_SEGMENT_FILTER"


@dataclass(frozen=True)
class SegmentFilter:
    """The checked filter: per tag kind and per attribute, the values any of which match."""

    tags: tuple[tuple[TagKind, tuple[str, ...]], ...] = ()
    tiers: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        doc = {name: list(values) for name, values in self._named()}
        return dict(sorted(doc.items()))

    def _named(self) -> list[tuple[str, tuple[str, ...]]]:
        by_kind = {kind: name for name, kind in TAG_FILTERS.items()}
        named = [(by_kind[kind], values) for kind, values in self.tags]
        if self.tiers:
            named.append(("tier", self.tiers))
        if self.stores:
            named.append(("store", self.stores))
        return named


def parse_filter(doc: Mapping[str, Any]) -> SegmentFilter:
    """The filter `doc` describes, or InvalidSegmentFilter (422) saying what is wrong with it."""
    if not isinstance(doc, Mapping):
        raise InvalidSegmentFilter("a segment filter is an object of filter name → values")
    unknown = sorted(str(k) for k in doc if k not in FILTER_NAMES)
    if unknown:
        raise InvalidSegmentFilter(
            f"unknown filter {', '.join(unknown)}; filters are: {', '.join(FILTER_NAMES)}",
            unknown=unknown,
            known=list(FILTER_NAMES),
        )
    tags: list[tuple[TagKind, tuple[str, ...]]] = []
    tiers: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    for name in FILTER_NAMES:
        if name not in doc:
            continue
        values = _values(name, doc[name])
        if name == "tier":
            tiers = values
        elif name == "store":
            stores = values
        else:
            kind = TAG_FILTERS[name]
            allowed = CLOSED_VALUES.get(kind)
            wrong = [v for v in values if allowed is not None and v not in allowed]
            if allowed is not None and wrong:
                raise InvalidSegmentFilter(
                    f"{name} cannot be {', '.join(wrong)}; it is one of: "
                    f"{', '.join(sorted(allowed))}",
                    filter=name,
                    wrong=wrong,
                    allowed=sorted(allowed),
                )
            tags.append((kind, values))
    return SegmentFilter(tuple(tags), tiers, stores)


def _values(name: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidSegmentFilter(
            f"{name} needs a list of one or more values", filter=name, got=repr(raw)[:100]
        )
    if len(raw) > MAX_VALUES:
        raise InvalidSegmentFilter(
            f"{name} takes at most {MAX_VALUES} values, got {len(raw)}", filter=name
        )
    values: list[str] = []
    for value in raw:
        if not isinstance(value, str) or not value.strip():
            raise InvalidSegmentFilter(
                f"{name}'s values are non-empty text, got {value!r}"[:200], filter=name
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidSegmentFilter(
                f"{name}'s values are at most {MAX_VALUE_LENGTH} characters", filter=name
            )
        values.append(value.strip())
    return tuple(sorted(set(values)))
