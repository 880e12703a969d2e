"""A year of orders, in pure Python: the shape of the year, who buys, how, and what it leaves."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from yipan.demo.catalogue import DemoSku, demo_catalogue
from yipan.demo.history import (
    RETURN_WINDOW_DAYS,
    SOLD_DOWN_DAYS,
    DemoHistory,
    demo_history,
    guides_of,
    lapse_times,
    order_count,
)
from yipan.demo.marketing import SHANGHAI, Calendar, demo_calendar
from yipan.demo.network import demo_nodes
from yipan.demo.people import People, demo_people
from yipan.demo.stock import StockPlan, plan_stock
from yipan.inventory.domain import NodeType
from yipan.inventory.schemas import NodeIn
from yipan.orders.domain.history import COMPLETED, problems
from yipan.promotions.domain.outcomes import Source

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
SCALE = 0.2


@dataclass(frozen=True)
class World:
    nodes: list[NodeIn]
    skus: list[DemoSku]
    plan: StockPlan
    people: People
    members: dict[tuple[str, str], str]
    calendar: Calendar


def _world(seed: int, scale: float) -> World:
    nodes = demo_nodes(seed, scale=scale)
    skus = demo_catalogue(seed, scale=scale)
    plan = plan_stock(seed, nodes, skus, scale=scale)
    stores = [n for n in nodes if n.type in (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)]
    people = demo_people(seed, stores, now=NOW, scale=scale)
    # As the ingest would join them: one member per person (no junk, no households here).
    members = {r.key: f"M{r.person:010d}" for r in people.records}
    return World(nodes, skus, plan, people, members, demo_calendar(NOW, skus))


def _history(w: World, seed: int = 7, scale: float = SCALE) -> DemoHistory:
    return demo_history(
        seed,
        now=NOW,
        nodes=w.nodes,
        skus=w.skus,
        lines=w.plan.lines,
        people=w.people,
        members=w.members,
        calendar=w.calendar,
        scale=scale,
    )


@pytest.fixture(scope="module")
def world() -> World:
    return _world(7, SCALE)


@pytest.fixture(scope="module")
def year(world: World) -> DemoHistory:
    return _history(world)


def _local_day(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def _daily(year: DemoHistory, *channels: str) -> Counter[date]:
    return Counter(
        _local_day(o.placed_at) for o in year.orders if not channels or o.channel in channels
    )


def test_a_year_of_orders_ends_at_the_clock_and_every_one_could_be_live(
    year: DemoHistory,
) -> None:
    orders = year.orders
    assert 0.9 * order_count(SCALE) <= len(orders) <= 1.1 * order_count(SCALE)
    assert all(o.placed_at < NOW for o in orders)
    assert min(o.placed_at for o in orders) >= NOW - timedelta(days=366)
    assert [o.placed_at for o in orders] == sorted(o.placed_at for o in orders)
    assert all(problems(o) == [] for o in orders)
    keys = [(o.channel, o.external_id) for o in orders]
    assert len(set(keys)) == len(keys)


def test_the_same_seed_makes_the_same_year_and_another_seed_another() -> None:
    small = _world(7, 0.03)
    first, again = _history(small, scale=0.03), _history(small, scale=0.03)
    other = _history(small, seed=8, scale=0.03)
    assert first.orders == again.orders
    assert first.exchanges == again.exchanges
    assert [o.external_id for o in other.orders] != [o.external_id for o in first.orders]


def test_weekends_are_busier_than_weekdays_in_the_stores(year: DemoHistory) -> None:
    daily = _daily(year, "pos")
    weekend = [n for d, n in daily.items() if d.weekday() >= 5]
    weekday = [n for d, n in daily.items() if d.weekday() < 4]
    assert statistics.mean(weekend) > 1.3 * statistics.mean(weekday)


def test_618_and_double_11_stand_out_of_the_daily_counts(year: DemoHistory) -> None:
    daily = _daily(year)
    median = statistics.median(daily.values())
    assert daily[date(2026, 11, 11)] > 3.5 * median
    assert daily[date(2026, 6, 18)] > 2.5 * median
    online = _daily(year, "online-shop", "mini-program", "tmall")
    assert online[date(2026, 11, 11)] == max(online.values())
    # The year grows: the last quarter sells more than the first (festivals left out).
    quiet = {d: n for d, n in daily.items() if d.month not in (6, 10, 11, 12, 1, 2)}
    first = [n for d, n in quiet.items() if d < date(2026, 6, 1)]
    last = [n for d, n in quiet.items() if d >= date(2026, 6, 1)]
    assert statistics.mean(last) > statistics.mean(first)


def test_members_buy_about_two_thirds_and_many_come_back(year: DemoHistory) -> None:
    sales = sum(o.total_fen - o.shipping_fen for o in year.orders)
    by_members = sum(o.total_fen - o.shipping_fen for o in year.orders if o.member_id)
    assert 0.6 <= by_members / sales <= 0.72
    per_member = Counter(o.member_id for o in year.orders if o.member_id)
    assert sum(1 for n in per_member.values() if n >= 2) > 0.4 * len(per_member)
    assert max(per_member.values()) >= 10  # the loyal few


def test_members_have_tastes_walk_in_customers_do_not(world: World, year: DemoHistory) -> None:
    """A member's lines gather in their two favourite categories, far more than the lines of
    customers without a card do in the same two, and mostly in one clothing size."""
    category = {s.code: s.sku.category_code for s in world.skus}
    size = {s.code: s.sku.attributes.get("size") for s in world.skus if s.sku.attributes}
    members: dict[str, Counter[str]] = defaultdict(Counter)
    clothing: dict[str, Counter[str]] = defaultdict(Counter)
    walk_in: Counter[str] = Counter()
    for o in year.orders:
        for line in o.lines:
            if o.member_id:
                members[o.member_id][category[line.sku]] += 1
                if size.get(line.sku) in {"S", "M", "L", "XL", "XXL"}:
                    clothing[o.member_id][str(size[line.sku])] += 1
            else:
                walk_in[category[line.sku]] += 1

    crowd = sum(walk_in.values())

    def lift(counts: Counter[str]) -> float:
        """How much more of the member's lines fall in their two biggest categories than of the
        crowd's lines in the same two."""
        top = [c for c, _ in counts.most_common(2)]
        own = sum(counts[c] for c in top) / sum(counts.values())
        return own - sum(walk_in[c] for c in top) / crowd

    regulars = [c for c in members.values() if sum(c.values()) >= 8]
    assert len(regulars) > 50
    assert statistics.median(lift(c) for c in regulars) >= 0.2
    assert len({c.most_common(1)[0][0] for c in regulars}) >= 10  # tastes differ
    sized = [c for c in clothing.values() if sum(c.values()) >= 4]
    assert statistics.median(max(c.values()) / sum(c.values()) for c in sized) >= 0.6


def test_some_members_stop_buying_during_the_year(world: World, year: DemoHistory) -> None:
    """Churn for the member-value model to find: about three in ten members lapse on a day of
    the year, and none of them buys after it."""
    lapse_at = lapse_times(world.people.persons, NOW)
    assert 0.25 <= len(lapse_at) / len(world.people.persons) <= 0.35
    person_of = {member: int(member[1:]) for member in world.members.values()}
    after = [
        o
        for o in year.orders
        if o.member_id and o.placed_at.timestamp() >= lapse_at.get(person_of[o.member_id], 1e12)
    ]
    assert after == []
    lapsed_buyers = {person_of[o.member_id] for o in year.orders if o.member_id} & set(lapse_at)
    assert len(lapsed_buyers) > 100  # they did buy before they went


def test_every_channel_and_way_of_fulfilment_is_there(year: DemoHistory) -> None:
    channels = Counter(o.channel for o in year.orders)
    assert set(channels) == {"pos", "guide", "online-shop", "mini-program", "tmall"}
    assert channels["pos"] == max(channels.values())
    ways = Counter((o.channel, p.kind, p.method) for o in year.orders for p in o.parcels)
    assert ways[("pos", "counter", "in_store")] == channels["pos"]
    for channel in ("online-shop", "mini-program"):
        assert ways[(channel, "pickup", "pickup")] > 0  # BOPIS
        assert ways[(channel, "shipment", "local_delivery")] > 0  # same city, from a store
        assert ways[(channel, "shipment", "ship")] > 0
    assert {k for k in ways if k[0] == "tmall"} == {("tmall", "shipment", "ship")}
    for order in (o for o in year.orders if o.channel == "guide"):
        assert order.store is not None
        assert order.guide in guides_of(order.store)


def test_orders_sell_only_what_their_nodes_carry(world: World, year: DemoHistory) -> None:
    carried = {(x.sku, x.node) for x in world.plan.lines}
    types = {n.code: n.type for n in world.nodes}
    for order in year.orders:
        for parcel in order.parcels:
            assert types[parcel.node] is not NodeType.DC
            for line_no, _ in parcel.lines:
                assert (order.lines[line_no - 1].sku, parcel.node) in carried


def test_online_orders_come_back_within_the_window_mostly_at_stores(
    world: World, year: DemoHistory
) -> None:
    types = {n.code: n.type for n in world.nodes}
    returns = [(o, r) for o in year.orders for r in o.returns]
    assert 0.03 <= len(returns) / len(year.orders) <= 0.12
    at_stores = 0
    for order, ret in returns:
        assert order.kind != "pos"
        delivered = max(p.delivered_at for p in order.parcels if p.delivered_at is not None)
        assert ret.at - delivered < timedelta(days=RETURN_WINDOW_DAYS)
        at_stores += types[ret.node] is NodeType.STORE and ret.channel == "pos"
    assert at_stores > 0.4 * len(returns)


def test_the_festivals_and_coupons_discount_only_yipans_own_channels(
    world: World, year: DemoHistory
) -> None:
    june, november = world.calendar.festivals
    used = Counter(
        (offer.source, offer.code) for applied in year.applied for offer in applied.offers
    )
    assert used[(Source.PROMOTION, world.calendar.manjian.code)] > 0
    assert used[(Source.PROMOTION, world.calendar.category_sale.code)] > 0
    assert sum(n for (source, _), n in used.items() if source is Source.COUPON) > 0
    for applied in year.applied:
        order = year.orders[applied.order]
        assert order.channel in ("online-shop", "mini-program", "guide")
        assert (
            june.covers(order.placed_at)
            or november.covers(order.placed_at)
            or any(offer.source is Source.COUPON for offer in applied.offers)
        )
        off = sum(offer.discount_fen for offer in applied.offers)
        assert off == sum(line.line_discount_fen for line in order.lines)
        for offer in applied.offers:
            if offer.source is Source.COUPON:
                assert order.member_id in year.coupons[offer.code]
    tmall_off = [o for o in year.orders if o.channel == "tmall" and o.lines[0].line_discount_fen]
    assert tmall_off
    assert all(june.covers(o.placed_at) or november.covers(o.placed_at) for o in tmall_off)


def test_the_plans_sold_down_levels_sold_at_least_that_in_the_last_week(
    world: World, year: DemoHistory
) -> None:
    since = NOW - timedelta(days=SOLD_DOWN_DAYS)
    sold: dict[tuple[str, str], int] = defaultdict(int)
    for order in year.orders:
        for parcel in order.parcels:
            if parcel.left_at is not None and parcel.left_at >= since:
                for line_no, quantity in parcel.lines:
                    sold[(order.lines[line_no - 1].sku, parcel.node)] += quantity
    sold_down = [x for x in world.plan.lines if x.sold]
    assert sold_down
    assert all(sold[(x.sku, x.node)] >= x.sold for x in sold_down)
    assert year.topped_up > 0


def test_orders_still_with_the_carrier_are_open_and_nothing_waits_at_a_desk(
    year: DemoHistory,
) -> None:
    still_open = [o for o in year.orders if o.state != COMPLETED]
    assert still_open
    for order in still_open:
        assert any(p.state == "shipped" for p in order.parcels)
        assert order.placed_at > NOW - timedelta(days=5)
    assert all(p.state != "ready_for_pickup" for o in year.orders for p in o.parcels)
