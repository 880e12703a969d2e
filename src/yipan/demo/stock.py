"""The demo's stock, planned in pure Python: who carries what, how much, and what ran out.

The skew the field sees:

- popularity follows a long tail, and so do assortment and quantities: a store carries 30–50 %
  of the SKUs (the best sellers almost everywhere, the tail in few stores), warehouses
  and DCs carry most of them in depth;
- the best sellers have a safety stock and a reorder point at every node, and a share of the
  stores have sold them down under their reorder point (low-stock alerts have work to do);
- the skew case: the hero T-shirt is sold out in several Nanjing stores while the online
  warehouse in Linyi, about 300 km away, holds 600 or more of it. Rebalancing, "nearby stock"
  and routing all have a case to show.

Each stock level becomes an opening `receipt` and, where it sold down, a `sale`; the build writes
both through the ledger so that `on_hand` is always the sum of its movements.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from yipan.demo.catalogue import DemoSku, Family, hero_sku
from yipan.demo.geography import gazetteer
from yipan.demo.network import SHORT_CITY, SURPLUS_WAREHOUSE
from yipan.inventory.domain import NodeType, alert_threshold, atp, crossed_below, haversine_km
from yipan.inventory.schemas import NodeIn

# The best sellers get a stock policy; at scale 1 that is the top 25 SKUs at every node.
POLICY_SKUS = 25
# Share of store levels of the best sellers that sold down under their reorder point.
SOLD_DOWN_SHARE = 0.22
SURPLUS_MIN = 600
SKEW_DISTANCE_KM = (200.0, 400.0)
FAMILY_DEPTH = {
    Family.APPAREL: 1.0,
    Family.SHOES: 0.5,
    Family.APPLIANCE: 0.25,
    Family.FMCG: 1.6,
}


@dataclass(frozen=True)
class Line:
    """One stock level: its opening receipt, what sold since, and its policy if it has one."""

    sku: str
    node: str
    opening: int
    sold: int = 0
    safety_stock: int = 0
    reorder_point: int = 0

    @property
    def on_hand(self) -> int:
        return self.opening - self.sold

    @property
    def has_policy(self) -> bool:
        return self.safety_stock > 0 or self.reorder_point > 0

    @property
    def low(self) -> bool:
        """ATP under the alert threshold (what a low-stock scan finds)."""
        threshold = alert_threshold(self.reorder_point, self.safety_stock)
        return threshold > 0 and atp(self.on_hand, 0, self.safety_stock) < threshold

    @property
    def crossed(self) -> bool:
        """The sale took ATP under the threshold: the change that raises a low-stock alert."""
        threshold = alert_threshold(self.reorder_point, self.safety_stock)
        before = atp(self.opening, 0, self.safety_stock)
        return crossed_below(before, atp(self.on_hand, 0, self.safety_stock), threshold)


@dataclass(frozen=True)
class Shortage:
    node: str
    name: str
    on_hand: int
    distance_km: float


@dataclass(frozen=True)
class SkewCase:
    """The fast seller that is out in one city while a warehouse a few hundred km away has lots."""

    sku: str
    sku_name: str
    city: str
    warehouse: str
    warehouse_name: str
    warehouse_city: str
    warehouse_on_hand: int
    out_of_stock: tuple[Shortage, ...]
    low: tuple[Shortage, ...]
    latitude: float  # the short city's centre, for "near me" queries
    longitude: float


@dataclass(frozen=True)
class StockPlan:
    lines: tuple[Line, ...]
    skew: SkewCase


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(["yipan-demo", str(seed), "stock", *map(str, parts)]))


@dataclass(frozen=True)
class _Profile:
    """What the plan needs to know about one SKU."""

    sku: DemoSku
    rank: float  # 0.0 for the best seller, towards 1.0 down the tail
    depth: float

    @property
    def code(self) -> str:
        return self.sku.code


def _profiles(skus: Sequence[DemoSku]) -> list[_Profile]:
    ordered = sorted(skus, key=lambda s: (-s.popularity, s.code))
    n = len(ordered)
    return [
        _Profile(
            sku=s,
            rank=i / n,
            depth=FAMILY_DEPTH[s.family] * (0.4 if s.bulky else 1.0),
        )
        for i, s in enumerate(ordered)
    ]


def _store_size(node: NodeIn) -> float:
    return min(2.0, max(0.6, node.daily_capacity / 100))


def _store_expected(p: _Profile, size: float) -> float:
    return 22 * math.pow(p.sku.popularity, 0.55) * p.depth * size


def _site_expected(p: _Profile, node: NodeIn) -> float:
    depth = 1100 if node.type is NodeType.DC else 420 * node.daily_capacity / 5000
    return depth * math.sqrt(p.sku.popularity) * p.depth


def _store_line(rng: random.Random, p: _Profile, node: NodeIn, policy: bool) -> Line | None:
    size = _store_size(node)
    carry = (0.13 + 0.84 * (1 - p.rank) ** 2) * size**0.3
    if p.sku.bulky:
        carry *= 0.25
    if rng.random() >= carry:
        return None
    expected = _store_expected(p, size)
    opening = 1 + round(expected * rng.lognormvariate(0, 0.35))
    if not policy:
        return Line(p.code, node.code, opening)
    safety = 2 if p.sku.popularity >= 0.3 else 1
    reorder = max(safety + 2, round(expected * 0.35))
    sold = 0
    if rng.random() < SOLD_DOWN_SHARE:
        left = rng.randint(0, reorder - 1)
        sold = max(0, opening - left)
    return Line(p.code, node.code, opening, sold, safety, reorder)


def _site_line(rng: random.Random, p: _Profile, node: NodeIn, policy: bool) -> Line | None:
    base = 0.93 if node.type is NodeType.DC else 0.80
    if rng.random() >= base + (0.99 - base) * (1 - p.rank):
        return None
    expected = _site_expected(p, node)
    opening = 10 + round(expected * rng.lognormvariate(0, 0.4))
    if not policy:
        return Line(p.code, node.code, opening)
    return Line(
        p.code,
        node.code,
        opening,
        safety_stock=max(5, round(expected * 0.05)),
        reorder_point=max(20, round(expected * 0.2)),
    )


def plan_stock(
    seed: int, nodes: Sequence[NodeIn], skus: Sequence[DemoSku], *, scale: float = 1.0
) -> StockPlan:
    """Every stock level of the demo, deterministic for a seed, in (SKU, node) code order."""
    profiles = _profiles(skus)
    policy_count = max(5, round(POLICY_SKUS * scale))
    with_policy = {p.code for p in profiles[:policy_count]}
    hero = hero_sku(list(skus))
    lines: list[Line] = []
    for node in sorted(nodes, key=lambda n: n.code):
        rng = _rng(seed, node.code)
        store = node.type in (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)
        for p in profiles:
            if p.code == hero.code:
                continue  # planned below, by hand
            make = _store_line if store else _site_line
            line = make(rng, p, node, p.code in with_policy)
            if line is not None:
                lines.append(line)
    hero_lines, skew = _hero(seed, nodes, hero, next(p for p in profiles if p.code == hero.code))
    lines.extend(hero_lines)
    lines.sort(key=lambda line: (line.sku, line.node))
    return StockPlan(lines=tuple(lines), skew=skew)


def _hero(
    seed: int, nodes: Sequence[NodeIn], hero: DemoSku, profile: _Profile
) -> tuple[list[Line], SkewCase]:
    """The hero T-shirt: everywhere, sold out around Nanjing, piled up in Linyi."""
    rng = _rng(seed, "hero")
    surplus = next(n for n in nodes if n.code == SURPLUS_WAREHOUSE)
    city = gazetteer().city(SHORT_CITY)
    short = sorted(
        (
            n
            for n in nodes
            if n.type is NodeType.STORE
            and n.province == city.province
            and n.city == city.name
            and SKEW_DISTANCE_KM[0] <= _km(n, surplus) <= SKEW_DISTANCE_KM[1]
        ),
        key=lambda n: n.code,
    )
    short_codes = {n.code for n in short}
    out = {n.code for n in short[: max(2, math.ceil(len(short) * 0.6))]}
    lines: list[Line] = []
    out_of_stock: list[Shortage] = []
    low: list[Shortage] = []
    for node in sorted(nodes, key=lambda n: n.code):
        if node.type is NodeType.WAREHOUSE or node.type is NodeType.DC:
            expected = _site_expected(profile, node)
            # Elsewhere the hero was allocated to the stores already; what is left is thin.
            surplus_here = node.code == surplus.code
            opening = SURPLUS_MIN + rng.randint(0, 300) if surplus_here else rng.randint(20, 90)
            lines.append(
                Line(
                    hero.code,
                    node.code,
                    opening,
                    safety_stock=max(5, round(expected * 0.05)),
                    reorder_point=max(20, round(expected * 0.2)),
                )
            )
            continue
        size = _store_size(node)
        expected = _store_expected(profile, size)
        opening = 1 + round(expected * rng.lognormvariate(0, 0.25))
        reorder = max(4, round(expected * 0.35))
        sold = 0
        if node.code in out:
            sold = opening
        elif node.code in short_codes:
            sold = max(0, opening - rng.randint(1, 2))
        elif rng.random() < SOLD_DOWN_SHARE:
            sold = max(0, opening - rng.randint(0, reorder - 1))
        line = Line(hero.code, node.code, opening, sold, 2, reorder)
        lines.append(line)
        if node.code in short_codes:
            shortage = Shortage(node.code, node.name, line.on_hand, round(_km(node, surplus), 1))
            (out_of_stock if node.code in out else low).append(shortage)
    warehouse_line = next(line for line in lines if line.node == surplus.code)
    skew = SkewCase(
        sku=hero.code,
        sku_name=hero.sku.name,
        city=city.name,
        warehouse=surplus.code,
        warehouse_name=surplus.name,
        warehouse_city=surplus.city,
        warehouse_on_hand=warehouse_line.on_hand,
        out_of_stock=tuple(out_of_stock),
        low=tuple(low),
        latitude=round(city.place.latitude, 4),
        longitude=round(city.place.longitude, 4),
    )
    return lines, skew


def _km(a: NodeIn, b: NodeIn) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)
