"""Recommendations as plain values: what a member is shown, and how the ranking is judged.

The unit recommended is the product (the style: a T-shirt, not the T-shirt in white, size M). A
style is what a guide shows and what co-purchase says something about; which of its SKUs to offer
is decided afterwards, by the member's sizes and by what can be delivered. Scores come from the
collaborative-filtering model the service fits (`implicit`'s item-item recommenders over the
members × products purchase matrix), blended with popularity so that a member with a thin
history still gets a full list; this module ranks those scores under the rules:

- already bought: a product the member bought within `recent_days` is not shown again, unless it
  is a consumable (its category code starts with one of the consumable prefixes: `fmcg-` in the
  demo: shampoo and milk run out, a kettle does not);
- sizes: a member's sizes are the sizes they bought, per category (`size` in the SKU's
  attributes); of a product with sizes only the SKUs in those sizes are offered. A category the
  member never bought in, and a SKU without a size, pass: nothing says what would not fit;
- deliverable: a product is shown only with SKUs that someone can deliver to the member (the
  service says which: in stock at a store near them or at a node that ships); a product with
  none is skipped.

Ties are broken by product code, so the same inputs always give the same list. The judging is
precision@k and recall@k over held-out purchases (`precision_recall_at_k`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

import numpy as np

DEFAULT_CONSUMABLE_PREFIXES = ("fmcg-",)


@dataclass(frozen=True)
class Variant:
    """One SKU of a product, with its size if it comes in sizes."""

    sku: str
    size: str | None = None


@dataclass(frozen=True)
class Item:
    """A product (style) that can be recommended, with its SKUs."""

    product: str
    name: str
    category: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Bought:
    """What a member bought of one item: on how many orders and the business day (an ordinal)
    of the last one."""

    item: int
    orders: int
    last_day: int


@dataclass(frozen=True)
class Pick:
    """A recommended item, its score and the SKUs offered (in the member's sizes, deliverable)."""

    item: int
    score: float
    skus: tuple[str, ...]


def is_consumable(category: str, prefixes: Collection[str] = DEFAULT_CONSUMABLE_PREFIXES) -> bool:
    return any(category.startswith(p) for p in prefixes)


def member_sizes(bought: Iterable[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """Sizes per category from the (category, size) of every SKU a member bought."""
    sizes: dict[str, set[str]] = {}
    for category, size in bought:
        if size:
            sizes.setdefault(category, set()).add(size)
    return {category: frozenset(found) for category, found in sizes.items()}


def fits(variant: Variant, sizes: Set[str] | None) -> bool:
    """A SKU fits when it has no size, when the member's sizes in its category are unknown, or
    when its size is one of them."""
    return variant.size is None or not sizes or variant.size in sizes


def excluded(
    bought: Iterable[Bought],
    items: Sequence[Item],
    *,
    today: int,
    recent_days: int,
    consumable: Callable[[str], bool] = is_consumable,
) -> set[int]:
    """Items not to show again: bought within `recent_days` before `today` (day ordinals),
    consumables excepted."""
    return {
        b.item
        for b in bought
        if today - b.last_day < recent_days and not consumable(items[b.item].category)
    }


def popularity(buyers: np.ndarray) -> np.ndarray:
    """Popularity scores: buyers per item scaled to [0, 1] (all zero when nobody bought)."""
    scores = np.asarray(buyers, dtype=np.float64)
    top = scores.max() if scores.size else 0.0
    result: np.ndarray = scores / top if top > 0 else np.zeros_like(scores)
    return result


def blend(model: np.ndarray, popular: np.ndarray, weight: float) -> np.ndarray:
    """The model's scores scaled to [0, 1] plus `weight` × popularity (already in [0, 1]): the
    model orders what it knows about, popularity fills in and breaks its ties."""
    scores = np.asarray(model, dtype=np.float64)
    top = scores.max() if scores.size else 0.0
    scaled = scores / top if top > 0 else np.zeros_like(scores)
    result: np.ndarray = scaled + weight * popular
    return result


def top_items(scores: np.ndarray, items: Sequence[Item], skip: Set[int], k: int) -> list[int]:
    """The `k` best items by score (ties by product code), leaving out `skip`; no other filter.
    The offline evaluation ranks with this."""
    order = sorted(
        (i for i in range(len(items)) if i not in skip),
        key=lambda i: (-float(scores[i]), items[i].product),
    )
    return order[:k]


def pick(
    items: Sequence[Item],
    ranked: Sequence[int],
    scores: np.ndarray,
    *,
    sizes: Mapping[str, frozenset[str]],
    deliverable: Set[str],
    limit: int,
) -> list[Pick]:
    """Of the `ranked` items (best first, see `top_items`), the first `limit` with a SKU in the
    member's sizes that can be delivered; each with those SKUs, in the product's SKU order."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    picks: list[Pick] = []
    for i in ranked:
        offered = offered_skus(items[i], sizes, deliverable)
        if offered:
            picks.append(Pick(i, float(scores[i]), offered))
            if len(picks) == limit:
                break
    return picks


def offered_skus(
    item: Item, sizes: Mapping[str, frozenset[str]], deliverable: Set[str] | None = None
) -> tuple[str, ...]:
    """The item's SKUs in the member's sizes (and deliverable, unless `deliverable` is None)."""
    wanted = sizes.get(item.category)
    return tuple(
        v.sku
        for v in item.variants
        if fits(v, wanted) and (deliverable is None or v.sku in deliverable)
    )


def precision_recall_at_k(
    recommended: Sequence[Sequence[int]], relevant: Sequence[Set[int]], k: int
) -> tuple[float, float]:
    """Mean precision@k and recall@k over the members with something relevant: precision is
    hits in the first k over k (a shorter list is not rewarded), recall hits over what the member
    bought. (0, 0) for no such member."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(recommended) != len(relevant):
        raise ValueError("one list of recommendations per member, please")
    precision = recall = 0.0
    members = 0
    for shown, wanted in zip(recommended, relevant, strict=True):
        if not wanted:
            continue
        hits = len(set(shown[:k]) & wanted)
        precision += hits / k
        recall += hits / len(wanted)
        members += 1
    if members == 0:
        return 0.0, 0.0
    return precision / members, recall / members
