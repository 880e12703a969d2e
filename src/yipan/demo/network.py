"""The demo's store network: 150 stores, 12 warehouses and 3 DCs on real Chinese coordinates.

The plan (which cities, how many stores, where the warehouses are) is fixed, so node codes are
the same for every seed; the seed decides the districts stores open in, a small jitter around
each district's centre, capacities and which stores offer local delivery. Four out of five nodes
are in Jiangsu, Zhejiang, Shanghai and Shandong, the rest in a few big cities elsewhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from yipan.demo.geography import City, Place, gazetteer
from yipan.inventory.domain import NodeType
from yipan.inventory.schemas import NodeIn

CHAIN = "禾木"  # the fictional retailer the demo tells the story of
CORE_PROVINCES = frozenset({"江苏省", "浙江省", "上海市", "山东省"})
FULL_STORES = 150
MIN_STORES = 6

# The skew case: Nanjing stores run out of the hero SKU while this online warehouse in Linyi,
# about 300 km north, sits on hundreds of it.
SHORT_CITY = "3201"
SURPLUS_WAREHOUSE = "WH-SD-LY-01"


@dataclass(frozen=True)
class CityPlan:
    province_code: str
    adcode: str  # the city's first four adcode digits
    code: str
    stores: int
    distributors: int = 0


CITY_PLAN: tuple[CityPlan, ...] = (
    # Jiangsu: 45
    CityPlan("JS", "3201", "NJ", 10),
    CityPlan("JS", "3205", "SZ", 10),
    CityPlan("JS", "3202", "WX", 6),
    CityPlan("JS", "3204", "CZ", 5),
    CityPlan("JS", "3206", "NT", 4),
    CityPlan("JS", "3210", "YZ", 3),
    CityPlan("JS", "3211", "ZJ", 2),
    CityPlan("JS", "3203", "XZ", 3, distributors=1),
    CityPlan("JS", "3209", "YC", 2, distributors=1),
    # Zhejiang: 32
    CityPlan("ZJ", "3301", "HZ", 10),
    CityPlan("ZJ", "3302", "NB", 7),
    CityPlan("ZJ", "3303", "WZ", 4, distributors=1),
    CityPlan("ZJ", "3304", "JX", 3),
    CityPlan("ZJ", "3306", "SX", 3),
    CityPlan("ZJ", "3307", "JH", 3, distributors=1),
    CityPlan("ZJ", "3310", "TZ", 2, distributors=1),
    # Shanghai: 25
    CityPlan("SH", "3101", "SH", 25),
    # Shandong: 18
    CityPlan("SD", "3701", "JN", 6),
    CityPlan("SD", "3702", "QD", 6),
    CityPlan("SD", "3706", "YT", 2),
    CityPlan("SD", "3707", "WF", 2, distributors=1),
    CityPlan("SD", "3713", "LY", 2, distributors=1),
    # Elsewhere: 30
    CityPlan("BJ", "1101", "BJ", 8),
    CityPlan("GD", "4401", "GZ", 6),
    CityPlan("GD", "4403", "SZ", 6),
    CityPlan("SC", "5101", "CD", 5),
    CityPlan("HB", "4201", "WH", 5),
)


@dataclass(frozen=True)
class SitePlan:
    """A warehouse or DC: a named site in a district (or a city without districts)."""

    code: str
    type: NodeType
    adcode: str  # the district's adcode, or the city's first four digits
    name: str
    capacity: tuple[int, int]


SITE_PLAN: tuple[SitePlan, ...] = (
    SitePlan("WH-SH-SH-01", NodeType.WAREHOUSE, "310114", "上海嘉定区域仓", (5000, 8000)),
    SitePlan("WH-JS-SZ-01", NodeType.WAREHOUSE, "320583", "苏州昆山电商仓", (5000, 8000)),
    SitePlan("WH-JS-XZ-01", NodeType.WAREHOUSE, "320312", "徐州苏北区域仓", (3000, 5000)),
    SitePlan("WH-ZJ-HZ-01", NodeType.WAREHOUSE, "330109", "杭州萧山电商仓", (5000, 8000)),
    SitePlan("WH-ZJ-NB-01", NodeType.WAREHOUSE, "330206", "宁波北仑区域仓", (3000, 5000)),
    SitePlan("WH-ZJ-JH-01", NodeType.WAREHOUSE, "330782", "义乌电商仓", (4000, 7000)),
    SitePlan("WH-SD-LY-01", NodeType.WAREHOUSE, "371302", "临沂电商仓", (4000, 7000)),
    SitePlan("WH-SD-JN-01", NodeType.WAREHOUSE, "370112", "济南区域仓", (3000, 5000)),
    SitePlan("WH-SD-QD-01", NodeType.WAREHOUSE, "370211", "青岛黄岛区域仓", (3000, 5000)),
    SitePlan("WH-BJ-BJ-01", NodeType.WAREHOUSE, "110115", "北京大兴区域仓", (4000, 7000)),
    SitePlan("WH-GD-GZ-01", NodeType.WAREHOUSE, "440111", "广州白云区域仓", (4000, 7000)),
    SitePlan("WH-SC-CD-01", NodeType.WAREHOUSE, "510116", "成都双流区域仓", (3000, 5000)),
    SitePlan("DC-ZJ-JX-01", NodeType.DC, "330411", "华东配送中心(嘉兴)", (15000, 30000)),
    SitePlan("DC-HB-WH-01", NodeType.DC, "420112", "华中配送中心(武汉)", (12000, 20000)),
    SitePlan("DC-GD-DG-01", NodeType.DC, "4419", "华南配送中心(东莞)", (12000, 20000)),
)

_ORDINALS = "一二三四五六七八九十"


def _rng(seed: int, *parts: object) -> random.Random:
    # A named stream per part of the plan: changing one city does not reshuffle the others.
    return random.Random(":".join(["yipan-demo", str(seed), *map(str, parts)]))


def _jitter(rng: random.Random, place: Place, degrees: float) -> tuple[float, float]:
    lat = place.latitude + rng.uniform(-degrees, degrees)
    lon = place.longitude + rng.uniform(-degrees, degrees) * 1.2
    return round(lat, 6), round(lon, 6)


def _city_stores(seed: int, plan: CityPlan) -> list[NodeIn]:
    city = gazetteer().city(plan.adcode)
    rng = _rng(seed, "stores", plan.province_code, plan.code)
    districts = city.urban_districts()
    rng.shuffle(districts)
    opened: dict[str, int] = {}
    stores: list[NodeIn] = []
    regular = plan.stores - plan.distributors
    for i in range(plan.stores):
        district = districts[i % len(districts)]
        nth = opened.get(district.adcode, 0)
        opened[district.adcode] = nth + 1
        distributor = i >= regular
        lat, lon = _jitter(rng, district, 0.012)
        stores.append(
            _store(
                rng,
                plan,
                city,
                district,
                index=(i - regular if distributor else i) + 1,
                nth=nth,
                distributor=distributor,
                flagship=i == 0 and plan.stores >= 5,
                lat=lat,
                lon=lon,
            )
        )
    return stores


def _store(
    rng: random.Random,
    plan: CityPlan,
    city: City,
    district: Place,
    *,
    index: int,
    nth: int,
    distributor: bool,
    flagship: bool,
    lat: float,
    lon: float,
) -> NodeIn:
    prefix = "DS" if distributor else "ST"
    suffix = "" if nth == 0 else _ORDINALS[min(nth, len(_ORDINALS) - 1)]
    kind = "经销店" if distributor else ("旗舰店" if flagship else "店")
    delivers = not distributor and (flagship or rng.random() < 0.85)
    if distributor:
        capacity = rng.randrange(20, 70, 10)
    elif flagship:
        capacity = rng.randrange(200, 320, 20)
    else:
        capacity = rng.randrange(40, 170, 10)
    radius = float(rng.choice((3, 4, 5))) if delivers else 0.0
    return NodeIn(
        code=f"{prefix}-{plan.province_code}-{plan.code}-{index:03d}",
        name=f"{CHAIN} {city.place.short_name}{district.short_name}{suffix}{kind}",
        type=NodeType.DISTRIBUTOR_STORE if distributor else NodeType.STORE,
        province=city.province,
        city=city.name,
        district=district.name,
        latitude=lat,
        longitude=lon,
        can_ship=False,
        can_pickup=True,
        can_local_delivery=delivers,
        local_delivery_radius_km=radius,
        # Distributors are independent businesses and do not take back the brand's online orders.
        can_receive_returns=not distributor,
        daily_capacity=capacity,
        floor_area_m2=_floor_area(plan, index, distributor=distributor, flagship=flagship),
    )


def _floor_area(plan: CityPlan, index: int, *, distributor: bool, flagship: bool) -> int:
    """A store's sales floor in m², from its own stream (the other draws stay as they were)."""
    rng = _rng(0, "floor", plan.province_code, plan.code, index)
    if distributor:
        return rng.randrange(60, 160, 10)
    if flagship:
        return rng.randrange(600, 1200, 50)
    return rng.randrange(120, 400, 10)


def _site(seed: int, site: SitePlan) -> NodeIn:
    geo = gazetteer()
    city = geo.city(site.adcode[:4])
    place = city.district(site.adcode) if len(site.adcode) > 4 else city.place
    rng = _rng(seed, "site", site.code)
    lat, lon = _jitter(rng, place, 0.025)
    low, high = site.capacity
    return NodeIn(
        code=site.code,
        name=f"{CHAIN} {site.name}",
        type=site.type,
        province=city.province,
        city=city.name,
        district=place.name if place is not city.place else None,
        latitude=lat,
        longitude=lon,
        can_ship=True,
        can_pickup=False,
        can_local_delivery=False,
        local_delivery_radius_km=0.0,
        # Online returns go back to warehouses; DCs only feed stores and warehouses.
        can_receive_returns=site.type is NodeType.WAREHOUSE,
        daily_capacity=rng.randrange(low, high + 1, 500),
    )


def store_count(scale: float) -> int:
    return max(MIN_STORES, min(FULL_STORES, round(FULL_STORES * scale)))


def demo_nodes(seed: int = 7, *, scale: float = 1.0) -> list[NodeIn]:
    """The demo's nodes, pure: 150 stores (fewer when `scale` < 1), 12 warehouses and 3 DCs."""
    by_city = {plan.code + plan.province_code: _city_stores(seed, plan) for plan in CITY_PLAN}
    wanted = store_count(scale)
    # At a smaller scale keep a few stores of the short city (the skew case needs them), then
    # take the others round-robin over cities so every region stays represented.
    short = next(p for p in CITY_PLAN if p.adcode == SHORT_CITY)
    queues = [list(stores) for stores in by_city.values()]
    chosen: list[NodeIn] = by_city[short.code + short.province_code][:3]
    taken = {n.code for n in chosen}
    while len(chosen) < wanted:
        for queue in queues:
            while queue and queue[0].code in taken:
                queue.pop(0)
            if queue and len(chosen) < wanted:
                node = queue.pop(0)
                chosen.append(node)
                taken.add(node.code)
    stores = [n for stores in by_city.values() for n in stores if n.code in taken]
    return stores + [_site(seed, site) for site in SITE_PLAN]
