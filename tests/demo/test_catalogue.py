"""The demo assortment: families, variants, names, EAN-13 barcodes, prices, the long tail."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.catalog.domain import gtin_is_valid
from yipan.demo.catalogue import DemoSku, Family, demo_catalogue, ean13, hero_sku

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def skus() -> list[DemoSku]:
    return demo_catalogue(7)


def test_about_2000_skus_in_four_families_with_unique_codes_and_barcodes(
    skus: list[DemoSku],
) -> None:
    families = Counter(s.family for s in skus)
    assert 1900 <= len(skus) <= 2100
    assert set(families) == set(Family)
    assert families[Family.APPAREL] > len(skus) / 3
    assert len({s.code for s in skus}) == len(skus)
    assert len({s.sku.barcode for s in skus}) == len(skus)


def test_every_barcode_is_a_valid_ean13_under_china_s_prefix(skus: list[DemoSku]) -> None:
    for s in skus:
        barcode = s.sku.barcode or ""
        assert len(barcode) == 13, s.code
        assert barcode.startswith("69"), s.code
        assert gtin_is_valid(barcode), barcode


@given(company=st.from_regex(r"[0-9]{5}", fullmatch=True), item=st.integers(0, 99_999))
def test_ean13_always_carries_a_correct_check_digit(company: str, item: int) -> None:
    code = ean13(company, item)
    assert len(code) == 13
    assert gtin_is_valid(code)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert not gtin_is_valid(wrong)


def test_apparel_comes_in_colour_by_size_and_shoes_in_sizes(skus: list[DemoSku]) -> None:
    by_product: dict[str, list[DemoSku]] = defaultdict(list)
    for s in skus:
        by_product[s.sku.product_code].append(s)
    apparel = [v for v in by_product.values() if v[0].family is Family.APPAREL]
    shoes = [v for v in by_product.values() if v[0].family is Family.SHOES]
    for variants in apparel + shoes:
        assert all({"colour", "size"} <= s.sku.attributes.keys() for s in variants)
        combos = {(s.sku.attributes["colour"], s.sku.attributes["size"]) for s in variants}
        assert len(combos) == len(variants)
        assert len({s.sku.list_price_fen for s in variants}) == 1  # one price per style
    assert statistics.mean(len(v) for v in apparel) >= 8
    assert statistics.mean(len({s.sku.attributes["size"] for s in v}) for v in shoes) >= 4


def test_names_categories_and_prices_look_like_a_chinese_retailer(skus: list[DemoSku]) -> None:
    for s in skus:
        assert CJK.search(s.sku.name), s.code
        assert CJK.search(s.sku.category_name or ""), s.code
        assert s.sku.category_code.split("-")[0] == s.family.value
        assert 500 <= s.sku.list_price_fen <= 1_000_000
        assert s.sku.list_price_fen % 10 == 0  # whole jiao: ¥29.90, ¥399, ¥2,999
    prices: dict[Family, list[int]] = defaultdict(list)
    for s in skus:
        prices[s.family].append(s.sku.list_price_fen)
    assert statistics.median(prices[Family.FMCG]) < statistics.median(prices[Family.APPAREL])
    assert statistics.median(prices[Family.APPAREL]) < statistics.median(prices[Family.APPLIANCE])
    assert len({s.sku.category_code for s in skus}) >= 20


def test_popularity_is_a_long_tail_headed_by_the_white_t_shirt(skus: list[DemoSku]) -> None:
    hero = hero_sku(skus)
    assert hero.popularity == 1.0 == max(s.popularity for s in skus)
    assert hero.sku.attributes == {"colour": "白色", "size": "L"}
    ranked = sorted((s.popularity for s in skus), reverse=True)
    top_tenth = sum(ranked[: len(ranked) // 10])
    assert top_tenth / sum(ranked) > 0.4
    assert statistics.median(ranked) < 0.02


def test_the_same_seed_gives_the_same_catalogue_and_another_seed_differs() -> None:
    first, again = demo_catalogue(7, scale=0.2), demo_catalogue(7, scale=0.2)
    other = demo_catalogue(8, scale=0.2)
    assert first == again
    assert [s.sku for s in other] != [s.sku for s in first]


def test_scale_shrinks_every_family() -> None:
    small = Counter(s.family for s in demo_catalogue(7, scale=0.05))
    assert set(small) == set(Family)
    assert 90 <= sum(small.values()) <= 110
