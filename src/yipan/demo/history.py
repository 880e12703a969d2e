"""A year of the demo chain's orders up to the build's clock, in pure Python.

Who buys what, when and where:

- volume: about 175,000 orders at scale 1 (fewer with `scale`), growing through the year, higher
  at weekends, with the online festivals on top — the run-up to 618 and its day, the Double 11
  pre-sale and its day (online up to six times a normal day, stores less), Double 12, and the
  Spring Festival (a rush before it, the stores nearly shut on its first days);
- channels: the stores' tills (45 %), guides ordering for their customers (7 %), the online shop
  and the mini-program (15 % each) and the Tmall store (18 %);
- people: a member at the till two times in three (the card or the phone), nearly always online,
  rarely on Tmall; each member buys at their own rate, a long tail of loyal repeat buyers and many
  who come once or twice, at their home store and near it;
- fulfilment: online orders ship from the nearest warehouse holding each SKU, are picked up at
  the customer's store (BOPIS) or delivered same-city from it; guide orders credit the guide and
  the store whatever node ships; till sales are handed over on the spot;
- money: list prices, the festival promotions and coupons on Yipan's own channels (`marketing`),
  Tmall's own festival discounts, cashiers' 抹零; returns of online orders within the 7-day window,
  most of them taken back at the customer's store.

Orders come out in their final state (`orders.domain.history`), in the order they were placed.
What sells where only draws on what the stock plan says each node carries, so that the ledger can
be made to end exactly at the plan (`replenish`). Sold-down levels of the plan get till sales in
the last week that sum to at least what the plan says sold, so the low-stock story is told by
real receipts and sales. Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast

from yipan.demo.catalogue import DemoSku, Family
from yipan.demo.marketing import SHANGHAI, Calendar, local_midnight
from yipan.demo.people import ONLINE, POS, SOCIAL, People, Person
from yipan.demo.pricing import Wallets, add_shipping, price
from yipan.demo.seasons import (
    CHANNEL_SHARES,
    MEMBER_SHARE,
    ONLINE_HOURS,
    STORE_CHANNELS,
    STORE_HOURS,
    day_weight,
)
from yipan.demo.stock import Line
from yipan.inventory.domain import NodeType, haversine_km
from yipan.inventory.schemas import NodeIn
from yipan.orders.domain.fulfilment import Kind, State, local_delivery_promise
from yipan.orders.domain.history import (
    COMPLETED,
    DAMAGED,
    FULFILLED,
    OPEN,
    HistoricLine,
    HistoricOrder,
    HistoricParcel,
    HistoricReturn,
    HistoricReturnLine,
    share_order_discount,
    take_return,
)
from yipan.promotions.domain.history import HistoricOffer

FULL_ORDERS = 175_000
MIN_ORDERS = 1_000
SCALE_POWER = 1.25
HISTORY_DAYS = 365
RETURN_WINDOW_DAYS = 7
SOLD_DOWN_DAYS = 7  # the plan's sold-down units sell in the last week

LINES = ((1, 0.48), (2, 0.29), (3, 0.15), (4, 0.08))
RETURN_RATE = {
    Family.APPAREL.value: 0.13,
    Family.SHOES.value: 0.10,
    Family.APPLIANCE.value: 0.04,
    Family.FMCG.value: 0.01,
}
RETURN_REASONS = ("尺码不合适", "不喜欢", "七天无理由", "颜色与图片不符")
DAMAGED_REASON = "质量问题"
POPULARITY_POWER = 0.75  # flattens the long tail a little at the till and online
# No SKU is more than this share of a node's (or the shop's) demand, however small the
# assortment: at small scales the hero would otherwise be a tenth of every till's sales.
TOP_SHARE = 0.025
# Members have tastes, so that what one bought says something about what they buy next (the
# recommendations and the tags learn from it): most of their lines come from two favourite
# categories, and a line in another size than theirs is mostly put back.
TASTE_SHARE = 0.7
FAVOURITE_CATEGORIES = 2
OTHER_SIZE_PUT_BACK = 0.85
# Some members stop buying during the year (moved away, went to a rival): the model of who is
# still a customer has to find them. A lapsed member drawn to buy is redrawn a few times.
LAPSE_SHARE = 0.3
LAPSED_REDRAWS = 3
CLOTHING_SIZES = (("S", 2), ("M", 4), ("L", 4), ("XL", 3), ("XXL", 1))
SHOE_SIZES = tuple((str(size), 1) for size in range(35, 45))
EXCHANGE_RATE = 0.03  # member orders after which points were traded for a gift
EXCHANGE_POINTS = (500, 1000, 1000, 2000, 3000)


@dataclass(frozen=True)
class Applied:
    """The promotions and coupons one order of Yipan's own channels used."""

    order: int  # index into `DemoHistory.orders`
    offers: tuple[HistoricOffer, ...]


@dataclass(frozen=True)
class Exchange:
    """Points traded for a gift after an order (if the member had enough by then)."""

    member_id: str
    order: int  # the order after which it happened (its reference)
    at: datetime
    points: int


@dataclass
class DemoHistory:
    orders: list[HistoricOrder]
    applied: list[Applied]
    exchanges: list[Exchange]
    guides: dict[str, tuple[str, str]]  # member → (guide, store), the latest guide order
    coupons: dict[str, list[str]]  # template code → members issued one
    topped_up: int = 0  # till orders added so sold-down levels sold what the plan says

    @property
    def returns(self) -> int:
        return sum(len(o.returns) for o in self.orders)


def order_count(scale: float) -> int:
    """Fewer than in proportion at small scales: a store that carries 25 SKUs instead of 800
    sells less, and its levels' ledgers stay short enough to read on one page."""
    return max(MIN_ORDERS, round(FULL_ORDERS * math.pow(scale, SCALE_POWER)))


def guides_of(store: str) -> tuple[str, ...]:
    """The guides of a store; the demo's guide login (`guide.nj001`) is one of the first store's."""
    if store == "ST-JS-NJ-001":
        return ("guide.nj001", f"{store}-G2")
    return (f"{store}-G1", f"{store}-G2")


# --- what the generator draws from ------------------------------------------------------------


class _Weighted:
    """Items with cumulative weights: a draw is one bisect."""

    __slots__ = ("cumulative", "items")

    def __init__(self, items: Sequence[object], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cumulative: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cumulative.append(total)

    def draw(self, rng: random.Random, upto: int | None = None) -> object | None:
        k = len(self.cumulative) if upto is None else upto
        if k == 0 or self.cumulative[k - 1] <= 0:
            return None
        return self.items[bisect_right(self.cumulative, rng.random() * self.cumulative[k - 1])]


class _Pool:
    """Members of one system ordered by when they joined it: only those already in can buy, and
    those who have lapsed (`lapse_at`) buy no more."""

    def __init__(
        self, entries: list[tuple[float, str, Person]], lapse_at: dict[int, float]
    ) -> None:
        entries.sort(key=lambda e: (e[0], e[1]))
        self.joined = [e[0] for e in entries]  # POSIX seconds: compared far faster than datetimes
        self.weighted = _Weighted([(e[1], e[2]) for e in entries], [e[2].activity for e in entries])
        self.lapse_at = lapse_at

    def draw(self, rng: random.Random, at: float) -> tuple[str, Person] | None:
        for _ in range(LAPSED_REDRAWS):
            found = cast(
                "tuple[str, Person] | None",
                self.weighted.draw(rng, bisect_right(self.joined, at)),
            )
            if found is None:
                return None
            if self.lapse_at.get(found[1].number, at + 1) > at:
                return found
        return None  # the customer is no member this time


@dataclass
class _World:
    rng: random.Random
    now: datetime
    calendar: Calendar
    skus: dict[str, DemoSku]
    nodes: dict[str, NodeIn]
    stores: list[NodeIn]  # every store and distributor store, by code
    till: _Weighted  # stores by how much they sell
    guided: _Weighted  # regular stores (guides work there)
    carried: dict[str, _Weighted]  # node → its SKUs by popularity
    carries: dict[str, set[str]]
    catalogue: _Weighted
    warehouses_near: dict[str, list[str]]  # store → warehouses, nearest first
    local: dict[str, list[NodeIn]]  # store → regular stores of its city, nearest first
    pools: dict[tuple[str, str | None], _Pool]  # (system, home store or None) → members
    family: dict[str, str] = field(default_factory=dict)  # SKU → its family's value
    price: dict[str, int] = field(default_factory=dict)  # SKU → list price
    category: dict[str, str] = field(default_factory=dict)  # SKU → category code
    size: dict[str, str] = field(default_factory=dict)  # SKU → its size, for sized SKUs
    categories: _Weighted = field(default_factory=lambda: _Weighted([], []))  # by popularity
    tastes: dict[int, _Taste] = field(default_factory=dict)  # person number → taste
    favourites: dict[tuple[int, str], _Weighted | None] = field(default_factory=dict)
    wallets: Wallets = field(default_factory=Wallets)


def _world(
    seed: int,
    now: datetime,
    nodes: Sequence[NodeIn],
    skus: Sequence[DemoSku],
    lines: Sequence[Line],
    people: People,
    members: Mapping[tuple[str, str], str],
    calendar: Calendar,
) -> _World:
    by_code = {n.code: n for n in nodes}
    sku_by_code = {s.code: s for s in skus}
    stores = sorted(
        (n for n in nodes if n.type in (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)),
        key=lambda n: n.code,
    )
    regular = [n for n in stores if n.type is NodeType.STORE]
    warehouses = sorted((n for n in nodes if n.type is NodeType.WAREHOUSE), key=lambda n: n.code)
    held: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        held[line.node].append(line.sku)

    def weighted(codes: Sequence[str]) -> _Weighted:
        ordered = sorted(codes)
        weights = [sku_by_code[c].popularity ** POPULARITY_POWER for c in ordered]
        cap = TOP_SHARE * sum(weights)
        return _Weighted(ordered, [min(x, cap) for x in weights])

    carried = {node: weighted(codes) for node, codes in held.items()}
    pools: dict[tuple[str, str | None], list[tuple[float, str, Person]]] = defaultdict(list)
    persons = {p.number: p for p in people.persons}
    lapse_at = lapse_times(people.persons, now)
    for record in people.records:
        member = members.get(record.key)
        if member is None:
            continue
        person = persons[record.person]
        joined = record.joined.timestamp()
        pools[(record.source, None)].append((joined, member, person))
        if record.source == POS:
            pools[(POS, person.home)].append((joined, member, person))
    return _World(
        rng=random.Random(f"yipan-demo:{seed}:history"),
        now=now,
        calendar=calendar,
        skus=sku_by_code,
        nodes=by_code,
        stores=stores,
        till=_Weighted(
            stores,
            [
                s.daily_capacity * (0.5 if s.type is NodeType.DISTRIBUTOR_STORE else 1.0)
                for s in stores
            ],
        ),
        guided=_Weighted(regular, [s.daily_capacity for s in regular]),
        carried=carried,
        carries={node: set(codes) for node, codes in held.items()},
        catalogue=weighted(list(sku_by_code)),
        warehouses_near={
            s.code: [w.code for w in sorted(warehouses, key=lambda w: (_km(s, w), w.code))]
            for s in stores
        },
        local={
            s.code: sorted(
                (r for r in regular if r.city == s.city),
                key=lambda r: (_km(s, r), r.code),
            )
            for s in stores
        },
        pools={key: _Pool(entries, lapse_at) for key, entries in pools.items()},
        family={code: s.family.value for code, s in sku_by_code.items()},
        price={code: s.sku.list_price_fen for code, s in sku_by_code.items()},
        category={code: s.sku.category_code for code, s in sku_by_code.items()},
        size={
            code: str(s.sku.attributes["size"])
            for code, s in sku_by_code.items()
            if s.sku.attributes and "size" in s.sku.attributes
        },
        categories=_by_popularity(skus),
    )


def lapse_times(persons: Sequence[Person], now: datetime) -> dict[int, float]:
    """When members stop buying (POSIX seconds): some share of them, at a day spread over the
    year, so that the member-value model and the lapse-risk tags have churn to find."""
    first = (now - timedelta(days=HISTORY_DAYS)).timestamp()
    lapse_at: dict[int, float] = {}
    for person in persons:
        rng = random.Random(f"yipan-demo:lapse:{person.number}")
        if rng.random() < LAPSE_SHARE:
            lapse_at[person.number] = rng.uniform(first, now.timestamp())
    return lapse_at


def _by_popularity(skus: Sequence[DemoSku]) -> _Weighted:
    mass: dict[str, float] = defaultdict(float)
    for s in skus:
        mass[s.sku.category_code] += s.popularity
    ordered = sorted(mass)
    return _Weighted(ordered, [mass[c] for c in ordered])


@dataclass(frozen=True)
class _Taste:
    categories: tuple[str, ...]
    sizes: frozenset[str]


def _taste(w: _World, person: Person | None) -> _Taste | None:
    """A member's favourite categories and sizes, the same every time they shop."""
    if person is None:
        return None
    known = w.tastes.get(person.number)
    if known is None:
        rng = random.Random(f"yipan-demo:taste:{person.number}")
        favourites: list[str] = []
        for _ in range(FAVOURITE_CATEGORIES * 5):
            category = w.categories.draw(rng)
            if isinstance(category, str) and category not in favourites:
                favourites.append(category)
            if len(favourites) == FAVOURITE_CATEGORIES:
                break
        sizes = {_CLOTHING_SIZES.draw(rng), _SHOE_SIZES.draw(rng)}
        known = _Taste(tuple(favourites), frozenset(str(size) for size in sizes))
        w.tastes[person.number] = known
    return known


def _favourites(w: _World, source: _Weighted, category: str) -> _Weighted | None:
    """The part of `source` in one category, with the same weights (built once per pair)."""
    key = (id(source), category)
    if key not in w.favourites:
        items, weights, before = [], [], 0.0
        for item, upto in zip(source.items, source.cumulative, strict=True):
            if w.category.get(str(item)) == category:
                items.append(item)
                weights.append(upto - before)
            before = upto
        w.favourites[key] = _Weighted(items, weights) if items else None
    return w.favourites[key]


def _km(a: NodeIn, b: NodeIn) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


# --- one order --------------------------------------------------------------------------------


@dataclass
class _Customer:
    member_id: str | None
    home: NodeIn
    latitude: float
    longitude: float
    person: Person | None = None


def _hours(hours: Sequence[tuple[int, int]]) -> _Weighted:
    return _Weighted([h for h, _ in hours], [w for _, w in hours])


_STORE_HOURS = _hours(STORE_HOURS)
_ONLINE_HOURS = _hours(ONLINE_HOURS)
_CLOTHING_SIZES = _Weighted([s for s, _ in CLOTHING_SIZES], [w for _, w in CLOTHING_SIZES])
_SHOE_SIZES = _Weighted([s for s, _ in SHOE_SIZES], [w for _, w in SHOE_SIZES])
_FMCG, _APPAREL = Family.FMCG.value, Family.APPAREL.value


def _hour(rng: random.Random, hours: _Weighted) -> float:
    return float(hours.draw(rng)) + rng.random()  # type: ignore[arg-type]


def _quantity(rng: random.Random, family: str) -> int:
    if family == _FMCG:
        return rng.choice((1, 1, 1, 2, 2, 3, 4))
    if family == _APPAREL:
        return 2 if rng.random() < 0.12 else 1
    return 1


def _basket(w: _World, source: _Weighted, taste: _Taste | None = None) -> list[HistoricLine]:
    rng = w.rng
    roll, wanted = rng.random(), 1
    for n, share in LINES:
        roll -= share
        if roll < 0:
            wanted = n
            break
    chosen: list[str] = []
    for _ in range(wanted * 5):
        if len(chosen) == wanted:
            break
        pool = source
        if taste is not None and taste.categories and rng.random() < TASTE_SHARE:
            pool = _favourites(w, source, rng.choice(taste.categories)) or source
        code = pool.draw(rng)
        if code is None or code in chosen:
            continue
        size = w.size.get(str(code))
        if (
            taste is not None
            and size is not None
            and size not in taste.sizes
            and rng.random() < OTHER_SIZE_PUT_BACK
        ):
            continue
        chosen.append(str(code))
    return [HistoricLine(code, _quantity(rng, w.family[code]), w.price[code]) for code in chosen]


def _customer(w: _World, channel: str, at: datetime, store: NodeIn | None) -> _Customer:
    rng = w.rng
    found: tuple[str, Person] | None = None
    if channel == "guide" or rng.random() < MEMBER_SHARE.get(channel, 0.0):
        if channel in STORE_CHANNELS:
            assert store is not None
            pool = w.pools.get((POS, store.code))
            if pool is None or rng.random() < 0.1:  # a member from elsewhere, passing by
                pool = w.pools.get((POS, None))
        else:
            pool = w.pools.get((SOCIAL if channel == "mini-program" else ONLINE, None))
        if pool is not None:
            found = pool.draw(rng, at.timestamp())
    if found is not None:
        member, person = found
        return _Customer(member, w.nodes[person.home], person.latitude, person.longitude, person)
    home = store or w.till.draw(rng)
    assert isinstance(home, NodeIn)
    return _Customer(
        None,
        home,
        round(home.latitude + rng.uniform(-0.03, 0.03), 5),
        round(home.longitude + rng.uniform(-0.036, 0.036), 5),
    )


def _address(customer: _Customer) -> dict[str, object]:
    home = customer.home
    return {
        "line": f"{home.district or home.city} 近{home.name.split(' ')[-1]}",
        "city": home.city,
        "latitude": customer.latitude,
        "longitude": customer.longitude,
    }


def _till_sale(
    w: _World,
    at: datetime,
    store: NodeIn,
    lines: list[HistoricLine],
    customer: _Customer | None = None,
) -> HistoricOrder:
    rng = w.rng
    customer = customer or _customer(w, "pos", at, store)
    order = HistoricOrder(
        channel="pos",
        external_id="",
        kind="pos",
        state=COMPLETED,
        placed_at=at,
        lines=lines,
        parcels=[
            HistoricParcel(
                node=store.code,
                kind=Kind.COUNTER.value,
                method="in_store",
                state=State.PICKED_UP.value,
                lines=[(no, ln.quantity) for no, ln in enumerate(lines, 1)],
                created_at=at,
                left_at=at,
                delivered_at=at,
            )
        ],
        member_id=customer.member_id,
        guide=f"{store.code}-POS{rng.randint(1, 3)}",
        store=store.code,
    )
    goods = order.goods_fen
    if goods > 100 and goods % 100 and rng.random() < 0.4:  # 抹零: the cashier drops the jiao
        order.order_discount_fen = goods % 100
        share_order_discount(order)
    return order


def _pos(w: _World, at: datetime) -> tuple[HistoricOrder, NodeIn] | None:
    store = w.till.draw(w.rng)
    assert isinstance(store, NodeIn)
    source = w.carried.get(store.code)
    if source is None:
        return None
    customer = _customer(w, "pos", at, store)
    lines = _basket(w, source, _taste(w, customer.person))
    return (_till_sale(w, at, store, lines, customer), store) if lines else None


def _ship_parcels(
    w: _World, at: datetime, home: str, lines: list[HistoricLine]
) -> list[HistoricParcel] | None:
    """Each line from the nearest warehouse that holds it; None when a line is nowhere."""
    rng = w.rng
    by_node: dict[str, list[int]] = defaultdict(list)
    for no, line in enumerate(lines, 1):
        node = next((n for n in w.warehouses_near[home] if line.sku in w.carries.get(n, ())), None)
        if node is None:
            return None
        by_node[node].append(no)
    parcels = []
    for node, numbers in by_node.items():
        left = at + timedelta(hours=rng.uniform(2, 28))
        delivered = left + timedelta(hours=rng.uniform(20, 72))
        parcels.append(_shipment(w, node, "ship", at, left, delivered, lines, numbers))
    return parcels


def _shipment(
    w: _World,
    node: str,
    method: str,
    at: datetime,
    left: datetime,
    delivered: datetime,
    lines: list[HistoricLine],
    numbers: list[int],
    promised: datetime | None = None,
) -> HistoricParcel:
    arrived = delivered <= w.now
    for no in numbers:
        lines[no - 1].method = method
        lines[no - 1].status = FULFILLED if arrived else OPEN
    return HistoricParcel(
        node=node,
        kind=Kind.SHIPMENT.value,
        method=method,
        state=State.DELIVERED.value if arrived else State.SHIPPED.value,
        lines=[(no, lines[no - 1].quantity) for no in numbers],
        created_at=at,
        left_at=left,
        delivered_at=delivered if arrived else None,
        promised_by=promised,
    )


def _online(w: _World, channel: str, at: datetime) -> tuple[HistoricOrder, NodeIn] | None:
    rng = w.rng
    store = w.guided.draw(rng) if channel == "guide" else None
    assert store is None or isinstance(store, NodeIn)
    customer = _customer(w, channel, at, store)
    base = store or customer.home
    nearby = w.local.get(base.code) or []
    roll = rng.random()
    if channel == "tmall":
        method = "ship"
    elif channel == "guide":
        method = "ship" if roll < 0.45 else ("pickup" if roll < 0.75 else "local_delivery")
    else:
        method = "ship" if roll < 0.72 else ("pickup" if roll < 0.87 else "local_delivery")
    node: NodeIn | None = None
    if method != "ship":
        # The guide's own store, or the customer's nearest store that does it.
        candidates = [store] if store is not None else nearby[:2]
        for candidate in candidates:
            if method == "pickup" or candidate.can_local_delivery:
                node = candidate
                break
        if node is None or node.code not in w.carried:
            method = "ship"
    if method == "ship":
        lines = _basket(w, w.catalogue, _taste(w, customer.person))
        parcels = _ship_parcels(w, at, base.code, lines) if lines else None
    else:
        assert node is not None
        lines = _basket(w, w.carried[node.code], _taste(w, customer.person))
        parcels = _store_parcel(w, method, node, at, lines) if lines else None
    if not parcels:
        return None
    order = HistoricOrder(
        channel=channel,
        external_id="",
        kind="guide" if channel == "guide" else "online",
        state=COMPLETED if all(ln.status == FULFILLED for ln in lines) else OPEN,
        placed_at=at,
        lines=lines,
        parcels=parcels,
        member_id=customer.member_id,
        guide=rng.choice(guides_of(store.code)) if store is not None else None,
        store=store.code if store is not None else None,
        address=None if method == "pickup" else _address(customer),
    )
    return order, customer.home


def _store_parcel(
    w: _World, method: str, node: NodeIn, at: datetime, lines: list[HistoricLine]
) -> list[HistoricParcel] | None:
    rng = w.rng
    numbers = list(range(1, len(lines) + 1))
    if method == "local_delivery":
        left = at + timedelta(minutes=rng.uniform(15, 60))
        delivered = left + timedelta(minutes=rng.uniform(20, 50))
        if left > w.now:
            return None
        promised = local_delivery_promise(at)
        return [_shipment(w, node.code, method, at, left, delivered, lines, numbers, promised)]
    ready = at + timedelta(hours=rng.uniform(0.5, 4))
    picked = ready + timedelta(hours=rng.uniform(1, 40))
    if picked > w.now:
        return None  # still waiting at the desk: that would hold stock, which history does not
    for line in lines:
        line.method, line.pickup_node, line.status = "pickup", node.code, FULFILLED
    return [
        HistoricParcel(
            node=node.code,
            kind=Kind.PICKUP.value,
            method="pickup",
            state=State.PICKED_UP.value,
            lines=[(no, ln.quantity) for no, ln in enumerate(lines, 1)],
            created_at=at,
            left_at=picked,
            delivered_at=picked,
            ready_at=ready,
        )
    ]


# --- returns ----------------------------------------------------------------------------------


def _maybe_return(w: _World, order: HistoricOrder, home: NodeIn) -> None:
    rng = w.rng
    handed = {
        no: parcel
        for parcel in order.parcels
        if parcel.delivered_at is not None
        for no, _ in parcel.lines
    }
    chosen = [
        no
        for no, line in enumerate(order.lines, 1)
        if no in handed and rng.random() < RETURN_RATE[w.family[line.sku]]
    ]
    if not chosen:
        return
    delivered = max(handed[no].delivered_at for no in chosen)  # type: ignore[type-var]
    assert delivered is not None
    at = delivered + timedelta(days=rng.uniform(0.3, RETURN_WINDOW_DAYS - 0.5))
    if at >= w.now:
        return
    skus = {order.lines[no - 1].sku for no in chosen}
    at_store = (
        home.type is NodeType.STORE
        and skus <= w.carries.get(home.code, set())
        and rng.random() < 0.7
    )
    if at_store:
        node, channel = home.code, "pos"
    else:
        # Sent back to whoever handed it over: one parcel's lines.
        parcel = handed[chosen[0]]
        chosen = [no for no in chosen if handed[no] is parcel]
        node, channel = parcel.node, order.channel
        if not w.nodes[node].can_receive_returns:
            return
    damaged = rng.random() < 0.08
    reason = DAMAGED_REASON if damaged else rng.choice(RETURN_REASONS)
    take_return(
        order,
        HistoricReturn(
            key="",  # given with the order's external id
            node=node,
            at=at,
            channel=channel,
            reason=reason,
            actor=f"{node}-POS1" if channel == "pos" else None,
            lines=[
                HistoricReturnLine(
                    no,
                    order.lines[no - 1].quantity,
                    DAMAGED if damaged else "resellable",
                )
                for no in chosen
            ],
        ),
    )


# --- the year ---------------------------------------------------------------------------------


def _issue_coupons(
    w: _World, people: People, members: Mapping[tuple[str, str], str], seed: int
) -> dict[str, list[str]]:
    """Who got each campaign's coupon: a share of the members who had joined by then."""
    issued: dict[str, list[str]] = {}
    joined: dict[str, datetime] = {}
    for record in people.records:
        member = members.get(record.key)
        if member is not None and (member not in joined or record.joined < joined[member]):
            joined[member] = record.joined
    ordered = sorted(joined)
    for campaign in w.calendar.campaigns:
        if campaign.issue_at > w.now:
            continue
        rng = random.Random(f"yipan-demo:{seed}:coupons:{campaign.template.code}")
        chosen = [
            m for m in ordered if joined[m] < campaign.issue_at and rng.random() < campaign.share
        ]
        issued[campaign.template.code] = chosen
        for member in chosen:
            w.wallets.give(member, campaign)
    return issued


def demo_history(
    seed: int,
    *,
    now: datetime,
    nodes: Sequence[NodeIn],
    skus: Sequence[DemoSku],
    lines: Sequence[Line],
    people: People,
    members: Mapping[tuple[str, str], str],
    calendar: Calendar,
    scale: float = 1.0,
    on_day: Callable[[], None] | None = None,
) -> DemoHistory:
    """The year of orders ending at `now`; `members` maps each source record to its member."""
    w = _world(seed, now, nodes, skus, lines, people, members, calendar)
    coupons = _issue_coupons(w, people, members, seed)
    rng = w.rng
    today = now.astimezone(SHANGHAI).date()
    first = today - timedelta(days=HISTORY_DAYS - 1)
    days = [first + timedelta(days=n) for n in range(HISTORY_DAYS)]
    weights = {
        channel: [day_weight(d, channel, first, HISTORY_DAYS) for d in days]
        for channel in CHANNEL_SHARES
    }
    target = order_count(scale)
    orders: list[HistoricOrder] = []
    applied: dict[int, tuple[HistoricOffer, ...]] = {}
    homes: dict[int, NodeIn] = {}
    for i, day in enumerate(days):
        midnight = local_midnight(day)
        for channel, share in CHANNEL_SHARES.items():
            mean = target * share * weights[channel][i] / sum(weights[channel])
            count = _count(rng, mean * rng.lognormvariate(0, 0.08))
            hours = _STORE_HOURS if channel in STORE_CHANNELS else _ONLINE_HOURS
            for _ in range(count):
                at = midnight + timedelta(hours=_hour(rng, hours))
                if at >= now:
                    continue
                made = _pos(w, at) if channel == "pos" else _online(w, channel, at)
                if made is None:
                    continue
                order, home = made
                offers = price(order, w.calendar, w.category, w.wallets, rng)
                add_shipping(order)
                if offers:
                    applied[id(order)] = offers
                orders.append(order)
                homes[id(order)] = home
        if on_day is not None:
            on_day()
    topped = _top_up(w, orders, lines, homes)
    orders.sort(key=lambda o: (o.placed_at, o.channel))
    for order in orders:
        if order.kind != "pos" and id(order) not in applied:
            _maybe_return(w, order, homes[id(order)])
    _name_orders(orders)
    index = {id(o): n for n, o in enumerate(orders)}
    exchanges = [
        Exchange(
            order.member_id,
            n,
            order.placed_at + timedelta(minutes=rng.uniform(5, 600)),
            rng.choice(EXCHANGE_POINTS),
        )
        for n, order in enumerate(orders)
        if order.member_id is not None and rng.random() < EXCHANGE_RATE
    ]
    guides: dict[str, tuple[str, str]] = {}
    for order in orders:
        if order.kind == "guide" and order.member_id and order.guide and order.store:
            guides[order.member_id] = (order.guide, order.store)
    return DemoHistory(
        orders=orders,
        applied=sorted(
            (Applied(index[key], offers) for key, offers in applied.items()),
            key=lambda a: a.order,
        ),
        exchanges=[x for x in exchanges if x.at < now],
        guides=guides,
        coupons=coupons,
        topped_up=topped,
    )


def _count(rng: random.Random, mean: float) -> int:
    """A whole number of orders around `mean` (its fraction decided by a draw)."""
    whole = math.floor(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def _top_up(
    w: _World, orders: list[HistoricOrder], lines: Sequence[Line], homes: dict[int, NodeIn]
) -> int:
    """Till sales in the last week for the plan's sold-down levels, up to what the plan sold."""
    since = w.now - timedelta(days=SOLD_DOWN_DAYS)
    recent: dict[tuple[str, str], int] = defaultdict(int)
    for order in orders:
        for parcel in order.parcels:
            left = parcel.left_at
            if left is not None and left >= since:
                for no, quantity in parcel.lines:
                    recent[(order.lines[no - 1].sku, parcel.node)] += quantity
    made = 0
    rng = w.rng
    for line in lines:
        need = line.sold - recent.get((line.sku, line.node), 0)
        if need <= 0:
            continue
        count = min(SOLD_DOWN_DAYS, need)
        store = w.nodes[line.node]
        price = w.price[line.sku]
        for k in range(count):
            quantity = need // count + (1 if k < need % count else 0)
            at = w.now - timedelta(hours=rng.uniform(1, SOLD_DOWN_DAYS * 24 - 1))
            order = _till_sale(w, at, store, [HistoricLine(line.sku, quantity, price)])
            orders.append(order)
            homes[id(order)] = store
            made += 1
    return made


_PREFIX = {"online-shop": "OS", "mini-program": "MP", "tmall": "TM", "guide": "GD"}


def _name_orders(orders: Sequence[HistoricOrder]) -> None:
    """External ids as each channel numbers its orders: per store and day at the tills, per day
    elsewhere; returns keyed by their order."""
    seq: dict[tuple[str, str], int] = defaultdict(int)
    days: dict[date, str] = {}
    for order in orders:
        local = order.placed_at.astimezone(SHANGHAI).date()
        day = days.get(local) or days.setdefault(local, local.strftime("%Y%m%d"))
        if order.channel == "pos":
            key = (str(order.store), day)
            seq[key] += 1
            order.external_id = f"{order.store}-{day}-{seq[key]:04d}"
        else:
            key = (order.channel, day)
            seq[key] += 1
            order.external_id = f"{_PREFIX[order.channel]}{day}{seq[key]:06d}"
        for n, ret in enumerate(order.returns, 1):
            ret.key = f"{order.channel}:{order.external_id}:return-{n}"
