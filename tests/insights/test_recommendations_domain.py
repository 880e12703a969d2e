"""The recommendation rules on plain values, and the trained model on a purchase world with taste:
members who keep to one of a few groups of products, where co-purchase says something."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from yipan.insights.domain import recommendations as rules
from yipan.insights.service.recommendations import RecommendationSettings, train


def item(product: str, category: str = "misc", *sizes: str) -> rules.Item:
    variants = tuple(rules.Variant(f"{product}-{s}", s) for s in sizes) or (rules.Variant(product),)
    return rules.Item(product, product, category, variants)


ITEMS = [
    item("TEE", "apparel-tops", "S", "M", "L"),
    item("SHIRT", "apparel-tops", "M", "L"),
    item("SHORTS", "apparel-pants", "M", "L"),
    item("KETTLE", "appliance-kitchen"),
    item("MILK", "fmcg-dairy"),
]
ALL_SKUS = {v.sku for i in ITEMS for v in i.variants}


def test_sizes_are_kept_per_category() -> None:
    sizes = rules.member_sizes([("apparel-tops", "M"), ("apparel-tops", "L"), ("fmcg", None)])
    assert sizes == {"apparel-tops": frozenset({"M", "L"})}


def test_a_sku_fits_without_a_size_or_without_known_sizes() -> None:
    assert rules.fits(rules.Variant("X"), frozenset({"M"}))
    assert rules.fits(rules.Variant("X", "S"), None)
    assert rules.fits(rules.Variant("X", "M"), frozenset({"M"}))
    assert not rules.fits(rules.Variant("X", "S"), frozenset({"M"}))


def test_recent_non_consumables_are_excluded_and_consumables_kept() -> None:
    bought = [
        rules.Bought(0, 1, last_day=1000),  # tee, 10 days before
        rules.Bought(3, 1, last_day=900),  # kettle, 110 days before
        rules.Bought(4, 5, last_day=1009),  # milk, yesterday
    ]
    assert rules.excluded(bought, ITEMS, today=1010, recent_days=90) == {0}
    assert rules.is_consumable("fmcg-dairy")
    assert not rules.is_consumable("appliance-kitchen")
    assert rules.is_consumable("food-x", ("food-",))


def test_pick_applies_sizes_and_deliverability_in_score_order() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    ranked = rules.top_items(scores, ITEMS, {0}, len(ITEMS))
    assert ranked == [1, 2, 3, 4]
    sizes = {"apparel-tops": frozenset({"M"})}
    picks = rules.pick(
        ITEMS,
        ranked,
        scores,
        sizes=sizes,
        deliverable=ALL_SKUS - {"KETTLE", "SHORTS-M"},
        limit=3,
    )
    assert [(p.item, p.skus) for p in picks] == [
        (1, ("SHIRT-M",)),  # only the member's size
        (2, ("SHORTS-L",)),  # no pants size known: what can be delivered
        (4, ("MILK",)),  # the kettle cannot be delivered
    ]


def test_nothing_in_the_members_size_is_no_pick() -> None:
    scores = np.ones(len(ITEMS))
    picks = rules.pick(
        ITEMS,
        [0],
        scores,
        sizes={"apparel-tops": frozenset({"XL"})},
        deliverable=ALL_SKUS,
        limit=5,
    )
    assert picks == []
    with pytest.raises(ValueError, match="limit"):
        rules.pick(ITEMS, [0], scores, sizes={}, deliverable=ALL_SKUS, limit=0)


def test_ties_are_broken_by_product_code() -> None:
    # KETTLE, MILK, SHIRT
    assert rules.top_items(np.zeros(len(ITEMS)), ITEMS, set(), 3) == [3, 4, 1]


def test_precision_and_recall_at_k() -> None:
    recommended = [[1, 2, 3], [4, 5, 6], [7]]
    relevant = [{1, 9}, set(), {7, 8, 9, 10}]
    # Member 2 bought nothing after: not judged. Member 1: 1 hit of 3 shown, of 2 bought.
    # Member 3: 1 hit, a list of one still counts over k.
    precision, recall = rules.precision_recall_at_k(recommended, relevant, 3)
    assert precision == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert recall == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert rules.precision_recall_at_k([[1]], [set()], 3) == (0.0, 0.0)
    with pytest.raises(ValueError, match="k must"):
        rules.precision_recall_at_k([[1]], [{1}], 0)


@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 20), max_size=12, unique=True),
            st.sets(st.integers(0, 20), max_size=8),
        ),
        max_size=20,
    ),
    st.integers(1, 12),
)
def test_precision_and_recall_stay_within_zero_and_one(
    members: list[tuple[list[int], set[int]]], k: int
) -> None:
    recommended = [shown for shown, _ in members]
    relevant = [bought for _, bought in members]
    precision, recall = rules.precision_recall_at_k(recommended, relevant, k)
    assert 0.0 <= precision <= 1.0
    assert 0.0 <= recall <= 1.0
    # Showing exactly what was bought first is never worse.
    perfect = [sorted(bought) for bought in relevant]
    best_p, best_r = rules.precision_recall_at_k(perfect, relevant, k)
    assert best_p >= precision - 1e-12
    assert best_r >= recall - 1e-12


def test_blend_scales_the_model_and_adds_popularity() -> None:
    popular = rules.popularity(np.array([10, 5, 0]))
    assert popular.tolist() == [1.0, 0.5, 0.0]
    blended = rules.blend(np.array([0.0, 4.0, 2.0]), popular, 0.1)
    assert blended.tolist() == pytest.approx([0.1, 1.05, 0.5])
    assert rules.blend(np.zeros(3), popular, 0.1).tolist() == pytest.approx([0.1, 0.05, 0.0])


# --- the trained model on a world with taste ---------------------------------------------------


def taste_world(seed: int = 3) -> tuple[sp.csr_matrix, list[set[int]]]:
    """600 members, 40 products in 4 groups of 10; product popularity falls with its number
    (Zipf) everywhere. Each member keeps to one group 85 % of the time and buys 6 items before
    the cut-off and 3 after."""
    rng = np.random.default_rng(seed)
    products, groups, members = 40, 4, 600
    weight = 1.0 / (1 + np.arange(products)) ** 0.6
    rows, cols, after = [], [], []
    for member in range(members):
        group = member % groups
        own = np.arange(products) % groups == group
        p = weight * np.where(own, 0.85 / weight[own].sum(), 0.15 / weight[~own].sum())
        p /= p.sum()
        bought = rng.choice(products, size=9, p=p)
        rows += [member] * 6
        cols += list(bought[:6])
        after.append(set(bought[6:].tolist()))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(members, products)
    )
    matrix.sum_duplicates()
    return matrix, after


@pytest.mark.parametrize("algorithm", ["bm25", "cosine"])
def test_co_purchase_beats_popularity_where_members_have_taste(algorithm: str) -> None:
    matrix, after = taste_world()
    settings = RecommendationSettings(algorithm=algorithm, neighbours=20, popularity_weight=0.3)
    similarity, popular = train(matrix, settings)
    items = [item(f"P{n:02d}") for n in range(matrix.shape[1])]
    model_lists, popular_lists = [], []
    for member in range(matrix.shape[0]):
        history = matrix.getrow(member)
        seen = set(history.indices.tolist())
        learned = np.asarray((history @ similarity).todense()).ravel()
        scores = rules.blend(learned, popular, settings.popularity_weight)
        model_lists.append(rules.top_items(scores, items, seen, 10))
        popular_lists.append(rules.top_items(popular, items, seen, 10))
    precision, recall = rules.precision_recall_at_k(model_lists, after, 10)
    base_precision, base_recall = rules.precision_recall_at_k(popular_lists, after, 10)
    assert precision > 1.3 * base_precision
    assert recall > 1.3 * base_recall


def test_the_model_recommends_the_item_bought_with_yours() -> None:
    # 5 members bought A and B, 5 bought C and D, 8 bought E alone (the most popular).
    rows = [m for m in range(5) for _ in (0, 1)] + [m for m in range(5, 10) for _ in (0, 1)]
    cols = [0, 1] * 5 + [2, 3] * 5
    rows += list(range(10, 18))
    cols += [4] * 8
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(18, 5))
    similarity, popular = train(matrix, RecommendationSettings())
    items = [item(code) for code in "ABCDE"]
    bought_a = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 5))
    learned = np.asarray((bought_a @ similarity).todense()).ravel()
    scores = rules.blend(learned, popular, 0.3)
    assert rules.top_items(scores, items, {0}, 2) == [1, 4]  # B, then the popular E
    assert rules.top_items(popular, items, {0}, 1) == [4]
