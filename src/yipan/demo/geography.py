"""Real places for the demo data: China's provinces, cities and districts with coordinates.

The `cpca` package (a dependency for address parsing) ships `resources/adcodes.csv`: adcode, name,
longitude and latitude of every province, city and district. We read that file directly instead
of `import cpca`, which is slow and pulls in pandas. An adcode has 12 digits: the first two name
the province and the first four the city, zero-padded for the province's and the city's own row.
Municipalities (Beijing, Shanghai …) list their city row as "市辖区"; the province name stands in.
"""

from __future__ import annotations

import csv
import importlib.util
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from yipan.inventory.domain import haversine_km

# Stores sit in the urban area: districts whose centre is this close to the city's own point.
URBAN_RADIUS_KM = 40.0
MIN_URBAN_DISTRICTS = 3


@dataclass(frozen=True)
class Place:
    adcode: str
    name: str
    latitude: float
    longitude: float

    @property
    def short_name(self) -> str:
        """南京市 → 南京, 玄武区 → 玄武, 浦东新区 → 浦东; two-character names stay whole."""
        name = self.name
        for suffix in ("新区", "区", "县", "市"):
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                return name[: -len(suffix)]
        return name


@dataclass(frozen=True)
class City:
    province: str
    place: Place
    districts: tuple[Place, ...]

    @property
    def name(self) -> str:
        return self.place.name

    def district(self, adcode: str) -> Place:
        for d in self.districts:
            if d.adcode.startswith(adcode):
                return d
        raise KeyError(f"no district {adcode} in {self.name}")

    def urban_districts(self) -> list[Place]:
        """Districts near the city centre, nearest first (at least a few, for small cities)."""
        by_distance = sorted(
            self.districts,
            key=lambda d: (self.distance_km(d), d.adcode),
        )
        near = [d for d in by_distance if self.distance_km(d) <= URBAN_RADIUS_KM]
        if len(near) >= MIN_URBAN_DISTRICTS:
            return near
        return by_distance[:MIN_URBAN_DISTRICTS] or [self.place]

    def distance_km(self, place: Place) -> float:
        return haversine_km(
            self.place.latitude, self.place.longitude, place.latitude, place.longitude
        )


class Gazetteer:
    """Look-ups over the adcode table."""

    def __init__(self, rows: list[tuple[str, str, float | None, float | None]]) -> None:
        self._names: dict[str, str] = {}
        self._places: dict[str, Place] = {}
        children: dict[str, list[Place]] = defaultdict(list)
        for adcode, name, lon, lat in rows:
            self._names[adcode] = name
            if lat is None or lon is None or name == "市辖区":
                continue
            place = Place(adcode, name, lat, lon)
            self._places[adcode] = place
            if adcode[4:] != "00000000":
                children[adcode[:4]].append(place)
        self._children = {k: tuple(sorted(v, key=lambda p: p.adcode)) for k, v in children.items()}

    def province_name(self, prefix: str) -> str:
        return self._names[prefix[:2] + "0" * 10]

    def city(self, prefix: str) -> City:
        """A city by the first four digits of its adcode (e.g. "3201" for 南京市)."""
        province_code = prefix[:2] + "0" * 10
        city_code = prefix[:4] + "0" * 8
        province = self._names[province_code]
        place = self._places.get(city_code)
        if place is None:  # a municipality: its city row is "市辖区", use the province's point
            base = self._places[province_code]
            place = Place(city_code, province, base.latitude, base.longitude)
        return City(province=province, place=place, districts=self._children.get(prefix[:4], ()))


def adcodes_path() -> Path:
    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the cpca package is not installed; it ships the adcode table")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    with adcodes_path().open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [
            (r["adcode"], r["name"], _float(r["longitude"]), _float(r["latitude"])) for r in reader
        ]
    return Gazetteer(rows)
