"""The demo's nodes: real places, the planned mix, the 4-province concentration, determinism."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from yipan.demo.geography import gazetteer
from yipan.demo.network import CITY_PLAN, CORE_PROVINCES, demo_nodes
from yipan.inventory.domain import NodeType, haversine_km
from yipan.inventory.schemas import NodeIn

STORE_CODE = re.compile(r"^(ST|DS)-[A-Z]{2}-[A-Z]{2,3}-\d{3}$")
SITE_CODE = re.compile(r"^(WH|DC)-[A-Z]{2}-[A-Z]{2,3}-\d{2}$")
STORE_TYPES = (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)


@pytest.fixture(scope="module")
def nodes() -> list[NodeIn]:
    return demo_nodes(7)


def test_165_nodes_with_unique_codes_in_the_planned_mix(nodes: list[NodeIn]) -> None:
    types = Counter(n.type for n in nodes)
    assert len(nodes) == 165
    assert len({n.code for n in nodes}) == 165
    assert types[NodeType.STORE] + types[NodeType.DISTRIBUTOR_STORE] == 150
    assert 3 <= types[NodeType.DISTRIBUTOR_STORE] <= 10
    assert types[NodeType.WAREHOUSE] == 12
    assert types[NodeType.DC] == 3
    for n in nodes:
        pattern = STORE_CODE if n.type in STORE_TYPES else SITE_CODE
        assert pattern.match(n.code), n.code
        assert n.code.startswith("DS-") == (n.type is NodeType.DISTRIBUTOR_STORE)


def test_coordinates_are_in_china_near_the_real_district(nodes: list[NodeIn]) -> None:
    cities = {(c.province, c.name): c for c in (gazetteer().city(p.adcode) for p in CITY_PLAN)}
    for n in nodes:
        assert 18 <= n.latitude <= 54, n.code
        assert 73 <= n.longitude <= 135, n.code
        if n.type in STORE_TYPES:
            city = cities[(n.province, n.city)]
            district = next(d for d in city.districts if d.name == n.district)
            # A small jitter around the district's centre, in the urban area of the city.
            assert haversine_km(n.latitude, n.longitude, district.latitude, district.longitude) < 3
            assert city.distance_km(district) <= 45


def test_four_provinces_hold_about_four_fifths_of_the_nodes(nodes: list[NodeIn]) -> None:
    provinces = Counter(n.province for n in nodes)
    core = sum(provinces[p] for p in CORE_PROVINCES)
    assert 0.75 <= core / len(nodes) <= 0.85
    assert all(provinces[p] >= 15 for p in CORE_PROVINCES)
    assert {"北京市", "广东省", "四川省", "湖北省"} <= provinces.keys()


def test_stores_pick_up_and_most_deliver_locally_while_sites_ship(nodes: list[NodeIn]) -> None:
    stores = [n for n in nodes if n.type is NodeType.STORE]
    assert all(s.can_pickup and s.can_receive_returns and not s.can_ship for s in stores)
    delivering = [s for s in stores if s.can_local_delivery]
    assert 0.7 <= len(delivering) / len(stores) < 1
    assert {s.local_delivery_radius_km for s in delivering} <= {3.0, 4.0, 5.0}
    sites = [n for n in nodes if n.type not in STORE_TYPES]
    assert all(s.can_ship and not s.can_pickup for s in sites)
    assert all(n.daily_capacity > 0 for n in nodes)
    assert min(s.daily_capacity for s in sites) > max(s.daily_capacity for s in stores)


def test_the_same_seed_places_the_same_nodes_and_another_seed_moves_them() -> None:
    first, again, other = demo_nodes(7), demo_nodes(7), demo_nodes(8)
    assert first == again
    assert [n.code for n in other] == [n.code for n in first]  # codes are seed-independent
    assert [(n.latitude, n.longitude) for n in other] != [(n.latitude, n.longitude) for n in first]


def test_a_smaller_scale_keeps_every_site_and_a_subset_of_the_stores(
    nodes: list[NodeIn],
) -> None:
    small = demo_nodes(7, scale=0.1)
    full = {n.code: n for n in nodes}
    assert len([n for n in small if n.type in STORE_TYPES]) == 15
    assert len([n for n in small if n.type not in STORE_TYPES]) == 15
    assert all(full[n.code] == n for n in small)
    assert sum(1 for n in small if n.code.startswith("ST-JS-NJ-")) >= 3


def test_the_gazetteer_reads_real_places_and_names_municipalities() -> None:
    geo = gazetteer()
    nanjing = geo.city("3201")
    assert (nanjing.province, nanjing.name) == ("江苏省", "南京市")
    xuanwu = nanjing.district("320102")
    assert xuanwu.name == "玄武区"
    assert abs(xuanwu.latitude - 32.05) < 0.05
    assert geo.city("3101").name == "上海市"  # its own row says 市辖区
    assert xuanwu.short_name == "玄武"
    assert geo.city("3101").district("310115").short_name == "浦东"
