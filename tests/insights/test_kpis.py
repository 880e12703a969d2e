"""The dashboard's KPIs on the shop world (tests/insights/shop.py), on SQLite and PostgreSQL:
every figure is the one worked out by hand in that module's table."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests import factories
from tests.insights.conftest import Shop
from tests.insights.shop import NOW
from tests.orders.world import TEE
from yipan.auth.domain import ALL, Scope
from yipan.insights.domain.kpis import Breakdown, HealthBand, KpiRow, Share, average_on_hand
from yipan.insights.domain.periods import PeriodName, period_ending
from yipan.insights.service import analytics, kpis
from yipan.insights.service.kpis import Dashboard
from yipan.inventory.schemas import MovementIn, NodeIn
from yipan.inventory.service import movements, nodes
from yipan.kernel.db import unit_of_work

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _dashboard(shop: Shop, name: PeriodName, scope: Scope = ALL) -> Dashboard:
    with unit_of_work(shop.engine, readonly=True) as session:
        return kpis.dashboard(session, period_ending(name, NOW, SHANGHAI), scope)


def _by_channel(board: Dashboard) -> dict[str, tuple[int, ...]]:
    return {c.channel: c.daily_fen for c in board.sales.channels}


def test_sales_are_net_of_refunds_per_channel_and_business_day(shop_world: Shop) -> None:
    board = _dashboard(shop_world, PeriodName.WEEK)
    assert board.sales.days == tuple(date(2026, 3, d) for d in range(4, 11))
    assert _by_channel(board) == {
        #        3-04 3-05 3-06  3-07    3-08   3-09  3-10
        "pos": (0, 0, 0, 0, 199500, 0, 0),
        "guide": (0, 0, 0, 19800, 0, 0, 0),
        # TM-2 was refunded in full, so 3-05 nets nothing; TM-X was cancelled.
        "tmall": (0, 0, 8900, 0, 0, 0, 9900),
        # Placed at 16:30 UTC on 3-08: half past midnight on 3-09 in Shanghai.
        "miniapp": (0, 0, 0, 0, 0, 9900, 0),
    }
    assert [c.channel for c in board.sales.channels] == ["pos", "guide", "tmall", "miniapp"]
    assert board.sales.net_fen == 248000
    assert board.sales.units == 10  # 1 + 1 + 5 + 2 + 1, and TM-2's jeans came back
    assert board.sales.member_share == Share(239100, 248000)
    assert board.any_orders


def test_omnichannel_pickup_and_repurchase_shares_count_orders_by_hand(shop_world: Shop) -> None:
    orders = _dashboard(shop_world, PeriodName.WEEK).orders
    assert orders.orders == 6  # TM-X was cancelled; TM-OLD is older than the week
    crossed = orders.omnichannel
    assert (crossed.bopis, crossed.ship_from_store, crossed.return_in_store, crossed.guide) == (
        1,  # MP-1
        1,  # TM-1 from ST-SH-2
        1,  # TM-2 back at ST-SH-1
        1,  # G-1
    )
    assert orders.omnichannel_share == Share(4, 6)
    assert orders.pickup_share == Share(1, 5)  # POS-1 was sold at the till
    assert orders.repurchase == Share(1, 3)  # M-1 twice; M-2 and M-3 once


@pytest.mark.parametrize(
    "scope", [ALL, Scope("region", "上海市"), Scope("store", "ST-SH-1"), Scope("region", "浙江省")]
)
def test_the_dashboard_order_figures_from_duckdb_equal_the_sql_ones(
    shop_world: Shop, scope: Scope
) -> None:
    """The dashboard takes its order figures from the KPI table; SQL still computes them where
    DuckDB cannot attach (SQLite in memory): both must agree."""
    for name in PeriodName:
        period = period_ending(name, NOW, SHANGHAI)
        with unit_of_work(shop_world.engine, readonly=True) as session:
            assert kpis.dashboard(session, period, scope).orders == kpis.order_kpis(
                session, period, scope
            )


def test_today_and_thirty_days_cover_the_business_days_ending_now(shop_world: Shop) -> None:
    today = _dashboard(shop_world, PeriodName.TODAY)
    assert today.sales.days == (date(2026, 3, 10),)
    assert _by_channel(today) == {"tmall": (9900,)}
    assert (today.orders.orders, today.orders.omnichannel_share) == (1, Share(1, 1))
    assert today.orders.repurchase == Share(0, 1)

    month = _dashboard(shop_world, PeriodName.MONTH)
    assert (month.sales.days[0], month.sales.days[-1]) == (date(2026, 2, 9), date(2026, 3, 10))
    assert month.sales.net_fen == 248000 + 9900  # TM-OLD on 3-01
    assert month.orders.orders == 7
    assert month.orders.repurchase == Share(1, 3)  # M-1 three times now
    assert month.orders.omnichannel_share == Share(4, 7)


def test_stock_out_rate_days_of_cover_and_node_health(shop_world: Shop) -> None:
    stock = _dashboard(shop_world, PeriodName.WEEK).stock
    # Store levels: ST-SH-1 tee and jeans, ST-SH-2 tee, ST-SH-3 tee and jeans (sold out).
    assert stock.stock_out == Share(1, 5)
    # 322 received, less the pickup (1), the till (5) and TM-2 out of WH-BJ and back at ST-SH-1.
    assert stock.on_hand == 316
    assert stock.units_sold == 11  # over 30 days, whatever the period shown
    assert stock.days_of_cover == round(316 / (11 / 30), 1)
    health = {n.place.code: (n.carried, n.out, n.short, n.band) for n in stock.nodes}
    assert health == {
        "ST-SH-1": (2, 0, 0, HealthBand.GOOD),
        "ST-SH-2": (1, 0, 1, HealthBand.POOR),  # 4 to promise, reorder point 5
        "ST-SH-3": (2, 1, 1, HealthBand.POOR),
        "WH-BJ": (2, 0, 0, HealthBand.GOOD),
        "WH-KS": (2, 0, 0, HealthBand.GOOD),
    }
    sh2 = next(n for n in stock.nodes if n.place.code == "ST-SH-2")
    assert (sh2.place.latitude, sh2.place.longitude) == (31.2380, 121.5000)


def test_hq_sees_the_low_stock_alert_with_its_nearby_surplus_and_the_unexplained_price(
    shop_world: Shop,
) -> None:
    found = _dashboard(shop_world, PeriodName.WEEK).alerts
    assert found.low_stock_open == 1
    (alert,) = found.low_stock
    assert (alert.sku, alert.node, alert.atp, alert.threshold) == (TEE, "ST-SH-2", 4, 5)
    assert [n.node for n in alert.nearby_surplus][:2] == ["ST-SH-1", "ST-SH-3"]
    # TM-3 charged 89 yuan for a 99-yuan tee and no exception says so.
    assert found.price_unexplained == 1
    assert [p.sku for p in found.prices] == [TEE]


def test_a_store_manager_counts_only_what_their_store_sold_or_fulfilled(shop_world: Shop) -> None:
    board = _dashboard(shop_world, PeriodName.WEEK, Scope("store", "ST-SH-1"))
    # G-1 was sold by the store's guide; MP-1 was picked up there. Nothing else is theirs.
    assert _by_channel(board) == {
        "guide": (0, 0, 0, 19800, 0, 0, 0),
        "miniapp": (0, 0, 0, 0, 0, 9900, 0),
    }
    assert board.orders.orders == 2
    assert board.orders.pickup_share == Share(1, 2)
    assert board.orders.repurchase == Share(0, 2)
    assert [n.place.code for n in board.stock.nodes] == ["ST-SH-1"]
    assert board.stock.stock_out == Share(0, 2)
    assert board.stock.days_of_cover == 70.0  # 7 units on hand, 3 sold in 30 days
    assert board.alerts.low_stock_open == 0  # the alert is ST-SH-2's
    assert board.alerts.price_unexplained is None  # the price report is HQ's


def test_another_store_sees_its_own_till_sale_and_its_alert_only(shop_world: Shop) -> None:
    sh3 = _dashboard(shop_world, PeriodName.WEEK, Scope("store", "ST-SH-3"))
    assert _by_channel(sh3) == {"pos": (0, 0, 0, 0, 199500, 0, 0)}
    assert sh3.stock.stock_out == Share(1, 2)
    sh2 = _dashboard(shop_world, PeriodName.WEEK, Scope("store", "ST-SH-2"))
    assert sh2.sales.net_fen == 9900  # TM-1, shipped from there
    assert sh2.alerts.low_stock_open == 1


def test_a_region_sees_the_orders_of_its_nodes_and_their_stock(shop_world: Shop) -> None:
    board = _dashboard(shop_world, PeriodName.WEEK, Scope("region", "上海市"))
    # TM-2 and TM-3 went out of Beijing and were sold online: not Shanghai's orders.
    assert board.sales.net_fen == 9900 + 9900 + 199500 + 19800
    assert board.orders.orders == 4
    assert {n.place.code for n in board.stock.nodes} == {"ST-SH-1", "ST-SH-2", "ST-SH-3", "WH-KS"}
    assert board.stock.on_hand == 316 - 149


def test_a_scope_with_no_orders_says_so(shop_world: Shop) -> None:
    board = _dashboard(shop_world, PeriodName.WEEK, Scope("region", "浙江省"))
    assert not board.any_orders
    assert board.sales.channels == ()
    assert board.orders.omnichannel_share == Share(0, 0)
    assert board.orders.omnichannel_share.ratio is None
    assert board.stock.nodes == ()
    assert board.stock.days_of_cover is None


def test_across_a_daylight_saving_change_sales_still_land_on_their_local_day(
    shop_world: Shop,
) -> None:
    # New York moved its clocks on 3-08, inside this week: the SQL sums by UTC hour instead.
    new_york = period_ending(PeriodName.WEEK, NOW, ZoneInfo("America/New_York"))
    with unit_of_work(shop_world.engine, readonly=True) as session:
        sold = kpis.sales(session, new_york, ALL)
    assert sold.days == tuple(date(2026, 3, d) for d in range(4, 11))
    assert {c.channel: c.daily_fen for c in sold.channels} == {
        "pos": (0, 0, 0, 199500, 0, 0, 0),  # 02:00 UTC on 3-08: 21:00 on 3-07 in New York
        "guide": (0, 0, 0, 19800, 0, 0, 0),
        "tmall": (0, 8900, 0, 0, 0, 9900, 0),
        "miniapp": (0, 0, 0, 0, 9900, 0, 0),  # 16:30 UTC on 3-08: 12:30 EDT
    }


# --- the KPI table (DuckDB over the same tables) ----------------------------------------------


def _table(
    shop: Shop, by: Breakdown | None = None, scope: Scope = ALL, name: PeriodName = PeriodName.WEEK
) -> analytics.KpiTable:
    """The table read live, checked against the same read from a snapshot taken now."""
    period = period_ending(name, NOW, SHANGHAI)
    with unit_of_work(shop.engine, readonly=True) as session:
        live = analytics.kpi_table(session, period, scope, by, max_age=0)
        analytics.take_snapshot(session)
        copied = analytics.kpi_table(session, period, scope, by, max_age=3600)
    assert copied == live
    return live


def _floor_areas(engine: Engine, areas: dict[str, int]) -> None:
    with unit_of_work(engine) as session:
        for code, area in areas.items():
            node = nodes.get_node(session, code).model_dump()
            nodes.save_node(session, NodeIn.model_validate({**node, "floor_area_m2": area}))


@pytest.fixture
def floored(shop_world: Shop) -> Shop:
    """The shop world with sales floors: ST-SH-1 200 m², ST-SH-3 400 m², ST-SH-2 unknown."""
    _floor_areas(shop_world.engine, {"ST-SH-1": 200, "ST-SH-3": 400})
    return shop_world


def test_the_kpi_table_agrees_with_the_dashboard_and_adds_the_new_figures(shop_world: Shop) -> None:
    board = _dashboard(shop_world, PeriodName.WEEK)
    total = _table(shop_world).total
    assert (total.orders, total.net_fen, total.units) == (6, 248000, 10)
    assert total.member_share == board.sales.member_share
    assert (total.repurchase, total.omnichannel, total.pickup) == (
        board.orders.repurchase,
        board.orders.omnichannel_share,
        board.orders.pickup_share,
    )
    assert total.average_order_fen == 41333  # 248,000 / 6 = 41,333.3
    # Online orders: TM-1, MP-1, TM-3, TM-2; a store served TM-1 (shipped) and MP-1 (picked up).
    assert total.online_to_offline == Share(2, 4)
    # Units sold 1 + 1 + 5 + 2 + 1 + 1 = 11, of which TM-2's jeans came back.
    assert total.return_rate == Share(1, 11)
    assert total.fill_rate == Share(11, 11)  # every line found a node
    assert total.on_time_pickup == Share(1, 1)  # MP-1, handed over as soon as it was ready
    assert total.stock is not None
    assert total.stock.stock_out == board.stock.stock_out
    assert _table(shop_world, name=PeriodName.MONTH).total.orders == 7


def test_the_kpi_table_by_channel_and_by_day(shop_world: Shop) -> None:
    by_channel = {r.key: r for r in _table(shop_world, Breakdown.CHANNEL).rows}
    assert list(by_channel) == ["pos", "guide", "tmall", "miniapp"]  # biggest first
    tmall = by_channel["tmall"]
    assert (tmall.orders, tmall.net_fen, tmall.average_order_fen) == (3, 18800, 6267)
    assert (tmall.online_to_offline, tmall.return_rate) == (Share(1, 3), Share(1, 3))
    assert by_channel["pos"].pickup == Share(0, 0)  # a till sale needs no fulfilling
    assert all(r.stock is None for r in by_channel.values())
    by_day = {r.key: r for r in _table(shop_world, Breakdown.DAY).rows}
    assert list(by_day) == [f"2026-03-{d:02d}" for d in range(4, 11)]
    assert (by_day["2026-03-04"].orders, by_day["2026-03-04"].average_order_fen) == (0, None)
    assert (by_day["2026-03-05"].net_fen, by_day["2026-03-05"].return_rate) == (0, Share(1, 1))
    assert by_day["2026-03-09"].on_time_pickup == Share(1, 1)  # MP-1, 00:30 in Shanghai
    assert sum(r.orders for r in by_day.values()) == 6


def test_sales_per_m2_and_stock_by_store_and_region(floored: Shop) -> None:
    table = _table(floored, Breakdown.STORE)
    stores = {r.key: r for r in table.rows}
    assert list(stores) == ["ST-SH-1", "ST-SH-2", "ST-SH-3"]  # warehouses are not stores
    # ST-SH-1: G-1 sold there (19,800) and MP-1 fulfilled there (9,900), over 200 m².
    sh1 = stores["ST-SH-1"]
    assert (sh1.orders, sh1.net_fen, sh1.floor_area_m2, sh1.sales_per_m2_fen) == (
        2,
        29700,
        200,
        149,  # 148.5 fen, rounded half up
    )
    assert stores["ST-SH-3"].sales_per_m2_fen == 499  # 199,500 / 400 = 498.75
    assert stores["ST-SH-2"].sales_per_m2_fen is None  # no floor area known
    assert (table.total.floor_area_m2, table.total.sales_per_m2_fen) == (600, 382)
    sh3 = stores["ST-SH-3"].stock
    assert sh3 is not None
    assert (sh3.stock_out, sh3.units_issued) == (Share(1, 2), 5)
    regions = {r.key: r for r in _table(floored, Breakdown.REGION).rows}
    assert list(regions) == ["上海市", "北京市"]
    # TM-3 and TM-2 went out of the Beijing warehouse: Beijing's, not Shanghai's.
    assert (regions["北京市"].orders, regions["北京市"].sales_per_m2_fen) == (2, None)
    assert regions["上海市"].orders == 4


def test_a_scope_sees_only_its_own_rows(floored: Shop) -> None:
    shanghai = _table(floored, Breakdown.STORE, Scope("region", "上海市"))
    assert shanghai.total.orders == 4
    assert [r.key for r in shanghai.rows] == ["ST-SH-1", "ST-SH-2", "ST-SH-3"]
    store = _table(floored, Breakdown.REGION, Scope("store", "ST-SH-1"))
    assert [r.key for r in store.rows] == ["上海市"]
    (row,) = store.rows
    assert (row.orders, row.floor_area_m2, store.total.orders) == (2, 200, 2)
    empty = _table(floored, Breakdown.CHANNEL, Scope("region", "浙江省"))
    assert (empty.total.orders, empty.rows, empty.total.return_rate.ratio) == (0, (), None)


def test_the_snapshot_is_a_copy_until_it_is_taken_again(shop_world: Shop) -> None:
    period = period_ending(PeriodName.WEEK, NOW, SHANGHAI)

    def area(max_age: float) -> int | None:
        with unit_of_work(shop_world.engine, readonly=True) as session:
            table = analytics.kpi_table(session, period, ALL, Breakdown.STORE, max_age=max_age)
        return {r.key: r.floor_area_m2 for r in table.rows}["ST-SH-2"]

    with unit_of_work(shop_world.engine, readonly=True) as session:
        analytics.take_snapshot(session)
    _floor_areas(shop_world.engine, {"ST-SH-2": 150})
    try:
        assert (area(3600), area(0)) == (None, 150)  # the copy is older than the change
        with unit_of_work(shop_world.engine, readonly=True) as session:
            analytics.take_snapshot(session)
        assert area(3600) == 150
    finally:
        with unit_of_work(shop_world.engine) as session:
            node = nodes.get_node(session, "ST-SH-2").model_dump()
            nodes.save_node(session, NodeIn.model_validate({**node, "floor_area_m2": None}))


def _at(day: int, hour: int = 0) -> datetime:
    return datetime.combine(date(2026, 3, day), time(hour), SHANGHAI)


def test_inventory_turnover_and_days_come_from_the_ledger(engine: Engine) -> None:
    """A store of two SKUs over the week 3-04 … 3-10: tees 100 from 3-01, 20 sold at midnight
    on 3-07 and 10 at midnight on 3-09; caps 5 from 3-01, sold out at midnight on 3-08; 10
    tees counted in after the week. Mean stock (100·3 + 80·2 + 70·2 + 5·4) / 7 = 620/7."""
    factories.node(engine, "ST-T")
    factories.sku(engine, "TEE-T", list_price_fen=9900)
    factories.sku(engine, "CAP-T", list_price_fen=4900)
    moves = [
        ("TEE-T", "receipt", 100, _at(1)),
        ("CAP-T", "receipt", 5, _at(1)),
        ("TEE-T", "sale", 20, _at(7)),
        ("CAP-T", "sale", 5, _at(8)),
        ("TEE-T", "sale", 10, _at(9)),
        ("TEE-T", "adjustment", 10, _at(11, 9)),
    ]
    with unit_of_work(engine) as session:
        for sku, kind, qty, at in moves:
            movements.record_movement(
                session,
                MovementIn.model_validate(
                    {"sku": sku, "node": "ST-T", "kind": kind, "quantity": qty, "occurred_at": at}
                ),
            )
    period = period_ending(PeriodName.WEEK, NOW, SHANGHAI)
    with unit_of_work(engine, readonly=True) as session:
        table = analytics.kpi_table(session, period, ALL, Breakdown.STORE, max_age=0)
        analytics.take_snapshot(session)
        assert analytics.kpi_table(session, period, ALL, Breakdown.STORE) == table
    stock = table.total.stock
    assert stock is not None
    assert (stock.units_issued, stock.avg_on_hand) == (35, round(620 / 7, 2))
    assert stock.turnover == round(35 / (620 / 7), 2)  # 0.4 times in the week
    assert stock.inventory_days == round(7 * (620 / 7) / 35, 1)  # 17.7 days
    assert stock.stock_out == Share(1, 2)  # the caps
    (row,) = table.rows
    assert row.stock == stock
    assert row.orders == 0
    assert row.average_order_fen is None


@given(
    opening=st.integers(0, 1000),
    moves=st.lists(st.tuples(st.integers(0, 6), st.integers(-50, 50)), max_size=12),
)
def test_the_mean_stock_formula_is_the_day_by_day_mean(
    opening: int, moves: list[tuple[int, int]]
) -> None:
    """Movements at the start of whole days: the integral formula is the mean of the days."""
    days, level, daily = 7, opening, []
    for day in range(days):
        level += sum(q for d, q in moves if d == day)
        daily.append(level)
    closing = daily[-1]
    weighted = sum(q * d for d, q in moves) / days
    if min([opening, *daily]) >= 0:
        assert average_on_hand(closing, weighted) == pytest.approx(sum(daily) / days)
    assert average_on_hand(closing, weighted) >= 0


def test_average_order_value_rounds_half_up_in_whole_fen() -> None:
    row = KpiRow(
        key=None,
        orders=2,
        net_fen=3,
        units=0,
        member_share=Share(0, 3),
        repurchase=Share(0, 0),
        omnichannel=Share(0, 2),
        online_to_offline=Share(0, 0),
        pickup=Share(0, 0),
        return_rate=Share(0, 0),
        fill_rate=Share(0, 0),
        on_time_pickup=Share(0, 0),
        floor_area_m2=None,
        store_net_fen=0,
    )
    assert (row.average_order_fen, row.sales_per_m2_fen) == (2, None)
