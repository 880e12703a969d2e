"""The dashboard page over HTTP: the shop world's week (tests/insights/shop.py, placed at the real
now) as HQ, a region manager and a store's staff see it, and the refusals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests import support
from tests.console.staff import Staff, staff_console
from tests.insights import shop
from yipan.auth.domain import Role

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("shanghai", Role.REGION_MANAGER, "上海市"),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("guide3", Role.STORE_GUIDE, "ST-SH-3"),
]


@pytest.fixture(scope="module")
def staff(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staff]:
    url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("dash") / "dash.db")
    engine = support.engine_for(url)
    with staff_console(engine, STAFF, lang="en") as console:
        shop.trade(engine, datetime.now(UTC))
        yield console
    engine.dispose()


def _tiles(html: str) -> dict[str, str]:
    found = re.findall(
        r'data-testid="tile-(\w+)">\s*<div class="kpi-label">.*?</div>\s*'
        r'<div class="kpi-value">(.*?)</div>',
        html,
        re.S,
    )
    return dict(found)


def _chart(html: str, attribute: str) -> dict[str, Any]:
    found = re.search(rf"{attribute}='([^']*)'", html)
    assert found, f"the page has no {attribute}"
    return dict(json.loads(found.group(1).replace("&#34;", '"')))


def _notice(html: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', html, re.S)
    assert found, "the page has no notice"
    return found.group(1)


def test_the_console_opens_on_the_dashboard(staff: Staff) -> None:
    home = staff.as_("hq").get("/console", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/console/dashboard")
    page = staff.client.get("/console/dashboard")
    assert page.status_code == 200
    assert '<a href="/console/dashboard" class="active"' in page.text


def test_hq_sees_every_tile_and_the_sales_by_channel_per_day(staff: Staff) -> None:
    page = staff.as_("hq").get("/console/dashboard", params={"period": "7d"})
    assert page.status_code == 200
    tiles = _tiles(page.text)
    # Turnover divides by the mean stock of the week, which here arrived seconds before the sales.
    assert tiles.pop("turnover")
    assert tiles == {
        "sales": "¥2,480.00",
        "orders": "6",
        "omnichannel": "66.7%",
        "pickup": "20.0%",
        "member_sales": "96.4%",  # 2,391 of 2,480 yuan
        "repurchase": "33.3%",
        "stock_out": "20.0%",
        "cover": "862 days",
        "low_stock": "1",
        "prices": "1",
        # The KPI table's (DuckDB) figures; docs/kpis.md.
        "aov": "¥413.33",
        "o2o": "50.0%",  # TM-1 shipped from a store, MP-1 picked up: 2 of 4 online orders
        "return_rate": "9.1%",  # 1 of 11 units
        "fill_rate": "100.0%",
        "on_time_pickup": "100.0%",
        "sales_per_m2": "—",  # no store of this world has a floor area
    }
    assert 'data-testid="kpi-row-上海市"' in page.text
    chart = _chart(page.text, "data-sales-chart")
    assert len(chart["days"]) == 7
    by_channel = {s["name"]: s["values"] for s in chart["series"]}
    assert by_channel == {
        "pos": [0, 0, 0, 0, 1995.0, 0, 0],
        "guide": [0, 0, 0, 198.0, 0, 0, 0],
        "tmall": [0, 0, 89.0, 0, 0, 0, 99.0],
        "miniapp": [0, 0, 0, 0, 0, 99.0, 0],
    }
    assert chart["total"]["values"] == [0, 0, 89.0, 198.0, 1995.0, 99.0, 99.0]
    assert 'data-testid="low-stock-' in page.text
    assert 'data-testid="price-TEE-WHT-M"' in page.text


def test_the_node_map_colours_every_node_by_its_stock_health(staff: Staff) -> None:
    page = staff.as_("hq").get("/console/dashboard")
    spec = _chart(page.text, "data-node-map")
    placed = {p[2]: (s["name"], p[0], p[1]) for s in spec["series"] for p in s["points"]}
    assert set(placed) == {"ST-SH-1", "ST-SH-2", "ST-SH-3", "WH-KS", "WH-BJ"}
    assert placed["ST-SH-2"] == ("Short (15% or more)", 121.5, 31.238)
    assert placed["WH-BJ"][0] == "Healthy (under 5%)"


def test_a_store_manager_sees_only_what_their_store_sold_or_fulfilled(staff: Staff) -> None:
    page = staff.as_("boss1").get("/console/dashboard", params={"period": "7d"})
    assert page.status_code == 200
    tiles = _tiles(page.text)
    assert (tiles["sales"], tiles["orders"], tiles["pickup"]) == ("¥297.00", "2", "50.0%")
    assert "prices" not in tiles  # the price report is HQ's
    assert tiles["low_stock"] == "0"
    names = {s["name"] for s in _chart(page.text, "data-sales-chart")["series"]}
    assert names == {"guide", "miniapp"}
    spec = _chart(page.text, "data-node-map")
    assert [p[2] for s in spec["series"] for p in s["points"]] == ["ST-SH-1"]
    assert 'data-testid="region-select"' not in page.text
    assert "Figures of store ST-SH-1" in page.text


def test_a_store_user_cannot_look_at_a_region(staff: Staff) -> None:
    page = staff.as_("guide3").get("/console/dashboard", params={"region": "上海市"})
    assert page.status_code == 404
    assert _notice(page.text) == "There is no region “上海市” you can see."
    assert 'data-testid="kpi-tiles"' not in page.text


def test_a_region_manager_sees_their_province_and_no_other(staff: Staff) -> None:
    mine = staff.as_("shanghai").get("/console/dashboard", params={"period": "7d"})
    assert _tiles(mine.text)["sales"] == "¥2,391.00"  # TM-2 and TM-3 went out of Beijing
    assert '<option value="">' not in mine.text  # no "all regions" for them
    other = staff.client.get("/console/dashboard", params={"region": "北京市"})
    assert other.status_code == 404
    assert "北京市" in _notice(other.text)


def test_hq_narrows_the_dashboard_to_one_region(staff: Staff) -> None:
    page = staff.as_("hq").get("/console/dashboard", params={"period": "7d", "region": "北京市"})
    assert page.status_code == 200
    assert _tiles(page.text)["sales"] == "¥287.00"  # G-1 and TM-3; TM-2 was refunded
    spec = _chart(page.text, "data-node-map")
    assert [p[2] for s in spec["series"] for p in s["points"]] == ["WH-BJ"]
    assert '<option value="北京市" selected>' in page.text
    # The period switch keeps the region.
    assert "/console/dashboard?period=30d&amp;region=%E5%8C%97%E4%BA%AC%E5%B8%82" in page.text


def test_a_period_that_does_not_exist_is_refused_with_the_choices(staff: Staff) -> None:
    page = staff.as_("hq").get("/console/dashboard", params={"period": "31d"})
    assert page.status_code == 422
    assert _notice(page.text) == "There is no period “31d”: choose today, 7 days or 30 days."
    assert 'data-testid="kpi-tiles"' not in page.text
    assert 'data-testid="period-30d"' in page.text


def test_today_and_thirty_days_switch_the_figures(staff: Staff) -> None:
    today = staff.as_("hq").get("/console/dashboard", params={"period": "today"})
    assert _tiles(today.text)["sales"] == "¥99.00"
    month = staff.client.get("/console/dashboard", params={"period": "30d"})
    assert _tiles(month.text)["sales"] == "¥2,579.00"  # TM-OLD too
    assert len(_chart(month.text, "data-sales-chart")["days"]) == 30


def test_the_dashboard_speaks_chinese_by_default(staff: Staff) -> None:
    client = staff.as_("hq")
    client.cookies.delete("yipan_lang", domain="testserver.local")
    page = client.get("/console/dashboard")
    assert "净销售额" in page.text
    assert "全渠道订单占比" in page.text


def test_without_orders_the_dashboard_says_how_to_get_some(sqlite_engine: Engine) -> None:
    with staff_console(sqlite_engine, STAFF[:1], lang="en") as empty:
        page = empty.as_("hq").get("/console/dashboard")
    assert page.status_code == 200
    assert 'data-testid="no-orders"' in page.text
    assert "yipan demo" in page.text
    assert 'data-testid="sales-chart"' not in page.text
    assert 'data-testid="node-map"' in page.text  # the stock is there all the same
