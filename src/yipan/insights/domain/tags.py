"""Member tags as rules over a member's purchase facts: RFM scores and segment, preferred
categories and sizes, price band, channel and scene preference, lapse risk.

Pure functions over plain values; the service reads the facts (set-based SQL) and stores the
tags. docs/insights.md ("Tags and segments") defines every tag.

RFM is relative: a member's recency, frequency and monetary value are scored 1 … 5 against the
quintile cut points of every member who bought (`RfmCuts`, taken at the last full refresh and
kept, so that one member's tags can be recomputed after an order without reading everyone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class TagKind(StrEnum):
    RFM_SEGMENT = "rfm_segment"
    RECENCY_SCORE = "recency_score"
    FREQUENCY_SCORE = "frequency_score"
    MONETARY_SCORE = "monetary_score"
    CATEGORY = "category"
    SIZE = "size"
    PRICE_BAND = "price_band"
    CHANNEL = "channel"
    SCENE = "scene"
    LAPSE_RISK = "lapse_risk"
    NODE = "node"  # every node a member's completed orders were sold or fulfilled at


class RfmSegment(StrEnum):
    CHAMPIONS = "champions"
    LOYAL = "loyal"
    NEW = "new"
    PROMISING = "promising"
    AT_RISK = "at_risk"
    HIBERNATING = "hibernating"


class PriceBand(StrEnum):
    LOW = "low"
    MID = "mid"
    HIGH = "high"


class ChannelPreference(StrEnum):
    ONLINE = "online"
    STORE = "store"
    OMNICHANNEL = "omnichannel"


class Scene(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"
    IN_STORE = "in_store"


class LapseRisk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# The values a tag of each kind can take, where they are a closed set (segment filters check them).
CLOSED_VALUES: dict[TagKind, frozenset[str]] = {
    TagKind.RFM_SEGMENT: frozenset(RfmSegment),
    TagKind.RECENCY_SCORE: frozenset("12345"),
    TagKind.FREQUENCY_SCORE: frozenset("12345"),
    TagKind.MONETARY_SCORE: frozenset("12345"),
    TagKind.PRICE_BAND: frozenset(PriceBand),
    TagKind.CHANNEL: frozenset(ChannelPreference),
    TagKind.SCENE: frozenset(Scene),
    TagKind.LAPSE_RISK: frozenset(LapseRisk),
}

TOP_CATEGORIES = 3
TOP_SIZES = 3
# Share of a member's orders placed online at or above which they prefer online; at or below
# ONLINE_LOW they prefer stores; between, they are omnichannel.
ONLINE_HIGH = 0.7
ONLINE_LOW = 0.3
# 1 − probability alive: under LAPSE_MEDIUM low risk, from LAPSE_HIGH high risk.
LAPSE_MEDIUM = 0.3
LAPSE_HIGH = 0.7
# Fulfilment methods by scene.
DELIVERY_METHODS = frozenset({"ship", "local_delivery", "group_leader"})
IN_STORE_METHODS = frozenset({"in_store"})
PICKUP_METHODS = frozenset({"pickup"})


@dataclass(frozen=True)
class Tag:
    kind: TagKind
    value: str
    score: float | None = None


@dataclass(frozen=True)
class RfmCuts:
    """Quintile cut points (4 each, ascending) of every buying member's last purchase day (as an
    ordinal: later is better), number of purchases and net spend in fen."""

    recency: tuple[int, ...]
    frequency: tuple[int, ...]
    monetary: tuple[int, ...]
    members: int

    def as_json(self) -> dict[str, list[int] | int]:
        return {
            "recency": list(self.recency),
            "frequency": list(self.frequency),
            "monetary": list(self.monetary),
            "members": self.members,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> RfmCuts:
        def cuts(key: str) -> tuple[int, ...]:
            value = doc.get(key)
            return tuple(int(v) for v in value) if isinstance(value, list) else ()

        members = doc.get("members")
        return cls(
            cuts("recency"),
            cuts("frequency"),
            cuts("monetary"),
            int(members) if isinstance(members, int) else 0,
        )


@dataclass
class MemberFacts:
    """What a member bought, summed over every id they have had (completed orders, kept goods).

    `category_spend` and `category_price` are per category code: net fen, and the list-price
    position of what was bought there (Σ units × position, Σ units; position 0 low … 1 high).
    """

    member_id: int
    purchases: int = 0
    spend_fen: int = 0
    last_day: int = 0  # ordinal of the last purchase's business day
    category_spend: dict[str, int] = field(default_factory=dict)
    size_units: dict[str, int] = field(default_factory=dict)
    online_orders: int = 0
    store_orders: int = 0
    scene_units: dict[str, int] = field(default_factory=dict)
    price_position: float = 0.0  # Σ spend-weighted position
    price_weight: int = 0  # Σ spend weights
    nodes: dict[str, int] = field(default_factory=dict)
    probability_alive: float | None = None

    def add(self, other: MemberFacts) -> None:
        """Fold another id's facts (a member merged into this one) into these."""
        self.purchases += other.purchases
        self.spend_fen += other.spend_fen
        self.last_day = max(self.last_day, other.last_day)
        for mine, theirs in (
            (self.category_spend, other.category_spend),
            (self.size_units, other.size_units),
            (self.scene_units, other.scene_units),
            (self.nodes, other.nodes),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.online_orders += other.online_orders
        self.store_orders += other.store_orders
        self.price_position += other.price_position
        self.price_weight += other.price_weight


# --- quintiles ----------------------------------------------------------------------------------


def quintile_cuts(values: Sequence[int]) -> tuple[int, ...]:
    """The 20th, 40th, 60th and 80th percentiles of `values` (values from the data, the lower
    one at a boundary); empty for no values."""
    if not values:
        return ()
    ordered = sorted(values)
    n = len(ordered)
    return tuple(ordered[max(0, math.ceil(q * n / 5) - 1)] for q in range(1, 5))


def quintile_score(value: int, cuts: Sequence[int]) -> int:
    """1 … 5: one more than the number of cut points `value` is above (ties score lower); 3
    when there are no cut points (nobody to compare with)."""
    if not cuts:
        return 3
    return 1 + sum(1 for cut in cuts if value > cut)


def rfm_cuts(facts: Sequence[MemberFacts]) -> RfmCuts:
    buyers = [f for f in facts if f.purchases > 0]
    return RfmCuts(
        recency=quintile_cuts([f.last_day for f in buyers]),
        frequency=quintile_cuts([f.purchases for f in buyers]),
        monetary=quintile_cuts([f.spend_fen for f in buyers]),
        members=len(buyers),
    )


def rfm_segment(r: int, f: int, m: int) -> RfmSegment:
    """The named segment of R, F, M scores (each 1 … 5); the first rule that holds wins."""
    for score in (r, f, m):
        if not 1 <= score <= 5:
            raise ValueError(f"RFM scores are 1 … 5, got {(r, f, m)}")
    if r >= 4 and f >= 4 and m >= 4:
        return RfmSegment.CHAMPIONS
    if r >= 3 and f >= 4:
        return RfmSegment.LOYAL
    if r >= 4 and f <= 2:
        return RfmSegment.NEW
    if r >= 3:
        return RfmSegment.PROMISING
    if f >= 3:
        return RfmSegment.AT_RISK
    return RfmSegment.HIBERNATING


# --- the other rules ----------------------------------------------------------------------------


def tertile_cuts(prices: Sequence[int]) -> tuple[int, int] | None:
    """The 1/3 and 2/3 points of a category's list prices; None for no prices."""
    if not prices:
        return None
    ordered = sorted(prices)
    n = len(ordered)
    return ordered[max(0, math.ceil(n / 3) - 1)], ordered[max(0, math.ceil(2 * n / 3) - 1)]


def price_position(unit_price_fen: int, cuts: tuple[int, int] | None) -> float:
    """Where a price sits in its category: 0 in the lowest third, 0.5 the middle, 1 the top."""
    if cuts is None:
        return 0.5
    low, high = cuts
    if unit_price_fen <= low:
        return 0.0
    if unit_price_fen <= high:
        return 0.5
    return 1.0


def price_band(position: float) -> PriceBand:
    if position < 1 / 3:
        return PriceBand.LOW
    if position <= 2 / 3:
        return PriceBand.MID
    return PriceBand.HIGH


def channel_preference(online_orders: int, store_orders: int) -> tuple[ChannelPreference, float]:
    """Online, store or omnichannel, with the online share of orders."""
    total = online_orders + store_orders
    if total <= 0:
        raise ValueError("a channel preference needs at least one order")
    share = online_orders / total
    if share >= ONLINE_HIGH:
        return ChannelPreference.ONLINE, share
    if share <= ONLINE_LOW:
        return ChannelPreference.STORE, share
    return ChannelPreference.OMNICHANNEL, share


def scene_of(method: str) -> Scene:
    if method in PICKUP_METHODS:
        return Scene.PICKUP
    if method in IN_STORE_METHODS:
        return Scene.IN_STORE
    return Scene.DELIVERY


def lapse_risk(probability_alive: float) -> tuple[LapseRisk, float]:
    risk = min(1.0, max(0.0, 1.0 - probability_alive))
    if risk >= LAPSE_HIGH:
        return LapseRisk.HIGH, risk
    if risk >= LAPSE_MEDIUM:
        return LapseRisk.MEDIUM, risk
    return LapseRisk.LOW, risk


def _top(counts: Mapping[str, int], n: int) -> list[tuple[str, float]]:
    """The `n` biggest positive entries with their share of the total, biggest first (ties by
    key, so the answer never depends on reading order)."""
    positive = {k: v for k, v in counts.items() if v > 0}
    total = sum(positive.values())
    ranked = sorted(positive.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(k, round(v / total, 4)) for k, v in ranked]


def member_tags(facts: MemberFacts, cuts: RfmCuts) -> list[Tag]:
    """Every tag `facts` earn; none for a member without a purchase."""
    if facts.purchases <= 0:
        return []
    r = quintile_score(facts.last_day, cuts.recency)
    f = quintile_score(facts.purchases, cuts.frequency)
    m = quintile_score(facts.spend_fen, cuts.monetary)
    tags = [
        Tag(TagKind.RFM_SEGMENT, rfm_segment(r, f, m).value, round((r + f + m) / 3, 4)),
        Tag(TagKind.RECENCY_SCORE, str(r), float(r)),
        Tag(TagKind.FREQUENCY_SCORE, str(f), float(f)),
        Tag(TagKind.MONETARY_SCORE, str(m), float(m)),
    ]
    tags += [Tag(TagKind.CATEGORY, k, s) for k, s in _top(facts.category_spend, TOP_CATEGORIES)]
    tags += [Tag(TagKind.SIZE, k, s) for k, s in _top(facts.size_units, TOP_SIZES)]
    if facts.price_weight > 0:
        position = round(facts.price_position / facts.price_weight, 4)
        tags.append(Tag(TagKind.PRICE_BAND, price_band(position).value, position))
    if facts.online_orders + facts.store_orders > 0:
        channel, share = channel_preference(facts.online_orders, facts.store_orders)
        tags.append(Tag(TagKind.CHANNEL, channel.value, round(share, 4)))
    scenes = _top(facts.scene_units, 1)
    if scenes:
        tags.append(Tag(TagKind.SCENE, scenes[0][0], scenes[0][1]))
    if facts.probability_alive is not None:
        band, risk = lapse_risk(facts.probability_alive)
        tags.append(Tag(TagKind.LAPSE_RISK, band.value, round(risk, 4)))
    tags += [Tag(TagKind.NODE, k, float(n)) for k, n in sorted(facts.nodes.items())]
    return tags
