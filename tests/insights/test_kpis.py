"""The dashboard's KPIs on the shop world (tests/insights/shop.py), on SQLite and PostgreSQL:
every figure is the one worked out by hand in that module's table."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from tests.insights.conftest import Shop
from tests.insights.shop import NOW
from tests.orders.world import TEE
from yipan.auth.domain import ALL, Scope
from yipan.insights.domain.kpis import HealthBand, Share
from yipan.insights.domain.periods import PeriodName, period_ending
from yipan.insights.service import kpis
from yipan.insights.service.kpis import Dashboard
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
