"""The price-consistency report: the same jacket costs 399 in store and 299 on Tmall. Yipan shows
that difference, says "no rule" until an exception with a reason explains it, and keeps promotion
discounts out of it. Told on both backends through the services and the HTTP API.

Online sales go through marketplaces, which charge their own prices; Yipan's own channels are
priced by the policy at checkout and cannot charge anything else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories
from tests.access import sign_in
from yipan.app import create_app
from yipan.catalog import prices
from yipan.catalog.schemas import PriceConsistencyPage, PriceExceptionIn, SkuPriceConsistency
from yipan.channels import service as channels
from yipan.channels.schemas import ChannelIn
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.orders.schemas import OrderIn, PosReceiptIn
from yipan.orders.service import capture
from yipan.orders.service.price_consistency import price_consistency_report

SHANGHAI = ZoneInfo("Asia/Shanghai")
GD, SH = "广东省", "上海市"
JACKET, TEE, SCARF = "JACKET", "TEE", "SCARF"
UNTIL = datetime(2026, 12, 1, tzinfo=SHANGHAI)
NOV_20 = datetime(2026, 11, 20, 15, 0, tzinfo=SHANGHAI)
ADDRESS = {"line": "人民大道 200 号", "city": "上海", "latitude": 31.2304, "longitude": 121.4737}


@pytest.fixture
def shop(engine: Engine) -> Engine:
    factories.sku(engine, JACKET, list_price_fen=39900, category_code="outerwear")
    factories.sku(engine, SCARF, list_price_fen=15900, category_code="outerwear")
    factories.sku(engine, TEE, list_price_fen=9900, category_code="apparel")
    factories.node(engine, "ST-SH", province=SH, city=SH)
    factories.node(engine, "ST-GZ", province=GD, city="广州市", lat=23.13, lon=113.26)
    factories.node(engine, "WH-SH", type="warehouse", lat=31.30, lon=121.40)
    for sku in (JACKET, SCARF, TEE):
        for node in ("ST-SH", "ST-GZ", "WH-SH"):
            factories.receive(engine, sku, node, 100)
    with unit_of_work(engine) as session:
        for code, type in [
            ("pos", "pos"),
            ("miniapp", "mini_program"),
            ("tmall", "marketplace"),
            ("jd", "marketplace"),
        ]:
            channels.save_channel(session, ChannelIn(code=code, name=code, type=type))
    return engine


_numbers = iter(range(1, 10**6))


def till(
    engine: Engine,
    store: str,
    price: int,
    *,
    sku: str = JACKET,
    qty: int = 1,
    at: datetime = NOV_20,
    discount: int = 0,
) -> None:
    """A sale at a store's till at `price` a unit, less `discount` (a promotion) on the line."""
    receipt = PosReceiptIn(
        channel="pos",
        receipt_id=f"R-{next(_numbers)}",
        store=store,
        lines=[
            {"sku": sku, "quantity": qty, "unit_price_fen": price, "line_discount_fen": discount}
        ],
        total_fen=price * qty - discount,
        sold_at=at,
    )
    with unit_of_work(engine) as session:
        capture.record_pos_receipt(session, receipt, clock=FakeClock(at))


def online(
    engine: Engine,
    price: int,
    *,
    sku: str = JACKET,
    qty: int = 1,
    at: datetime = NOV_20,
    channel: str = "tmall",
) -> None:
    order_in = OrderIn(
        channel=channel,
        external_id=f"O-{next(_numbers)}",
        lines=[{"sku": sku, "quantity": qty, "unit_price_fen": price}],
        address=ADDRESS,
        total_fen=price * qty,
        placed_at=at,
    )
    with unit_of_work(engine) as session:
        capture.place_order(session, order_in, clock=FakeClock(at))


def allow(engine: Engine, price: int, reason: str, **scope: Any) -> int:
    exception_in = PriceExceptionIn.model_validate(
        {"sku": JACKET, "price_fen": price, "reason": reason, "actor": "pricing-li"} | scope
    )
    with unit_of_work(engine) as session:
        out, _ = prices.create_price_exception(session, exception_in)
    return out.id


def report(engine: Engine, **filters: Any) -> PriceConsistencyPage:
    filters.setdefault("until", UNTIL)
    with unit_of_work(engine, readonly=True) as session:
        return price_consistency_report(session, **filters)


def jacket(engine: Engine, **filters: Any) -> SkuPriceConsistency:
    page = report(engine, skus=[JACKET], only_inconsistent=False, **filters)
    assert [i.sku for i in page.items] == [JACKET]
    return page.items[0]


def sales_differences(row: SkuPriceConsistency) -> list[tuple[Any, ...]]:
    """(channel, region, charged, expected, reason, units) of each difference in what was sold."""
    return [
        (d.channel, d.region, d.price_fen, d.expected_fen, d.reason, d.units)
        for d in row.differences
        if d.source == "sales"
    ]


# -- the story ---------------------------------------------------------------------------------


def test_399_in_store_and_299_on_tmall_is_flagged_until_an_exception_explains_it(
    shop: Engine,
) -> None:
    till(shop, "ST-SH", 39900, qty=2)
    online(shop, 29900)
    online(shop, 29900, at=NOV_20 + timedelta(days=1))

    row = jacket(shop)
    assert row.status == "unexplained"
    assert row.unexplained == 1
    assert sales_differences(row) == [("tmall", None, 29900, 39900, "no rule", 2)]
    assert row.differences[0].explained is False
    assert row.differences[0].exception is None
    by_channel = {c.channel: c for c in row.channels}
    assert set(by_channel) == {"pos", "miniapp", "tmall", "jd"}
    assert by_channel["pos"].observed is not None
    assert by_channel["pos"].observed.most_common_fen == 39900
    assert by_channel["tmall"].observed is not None
    assert (by_channel["tmall"].observed.min_fen, by_channel["tmall"].observed.units) == (29900, 2)
    assert by_channel["tmall"].effective_price_fen == 39900
    assert by_channel["miniapp"].observed is None
    assert report(shop, only_unexplained=True).total == 1

    launch = allow(shop, 29900, "Tmall flagship price, approved by HQ", channel="tmall")

    row = jacket(shop)
    assert row.status == "explained"
    assert row.unexplained == 0
    assert sales_differences(row) == [
        ("tmall", None, 29900, 29900, "Tmall flagship price, approved by HQ", 2)
    ]
    sale = next(d for d in row.differences if d.source == "sales")
    assert sale.explained
    assert sale.exception is not None
    assert sale.exception.id == launch
    policy = [d for d in row.differences if d.source == "policy"]
    assert [(d.channel, d.price_fen, d.list_price_fen, d.explained) for d in policy] == [
        ("tmall", 29900, 39900, True)
    ]
    tmall = next(c for c in row.channels if c.channel == "tmall")
    assert tmall.effective_price_fen == 29900
    assert tmall.exception is not None
    assert tmall.exception.id == launch
    assert report(shop, only_unexplained=True).total == 0
    assert [i.sku for i in report(shop).items] == [JACKET]  # still a difference, now explained


def test_a_region_exception_explains_store_sales_in_its_province_only(shop: Engine) -> None:
    till(shop, "ST-GZ", 35900)
    till(shop, "ST-SH", 39900)
    assert sales_differences(jacket(shop)) == [("pos", GD, 35900, 39900, "no rule", 1)]

    allow(shop, 35900, "Guangdong price zone", region=GD)
    row = jacket(shop)
    assert sales_differences(row) == [("pos", GD, 35900, 35900, "Guangdong price zone", 1)]
    assert row.status == "explained"
    # The same price in Shanghai has no rule.
    till(shop, "ST-SH", 35900)
    assert ("pos", SH, 35900, 39900, "no rule", 1) in sales_differences(jacket(shop))


def test_channel_and_region_beats_channel_beats_the_list_price(shop: Engine) -> None:
    allow(shop, 37900, "store price", channel="pos")
    allow(shop, 35900, "Guangdong stores clear-out", channel="pos", region=GD)
    till(shop, "ST-GZ", 35900)  # explained by channel + region
    till(shop, "ST-SH", 37900)  # explained by channel
    till(shop, "ST-SH", 39900)  # the list price, where the policy says 379: no rule
    till(shop, "ST-GZ", 37900)  # the channel price, where channel + region says 359: no rule

    assert sorted(sales_differences(jacket(shop)), key=str) == sorted(
        [
            ("pos", GD, 35900, 35900, "Guangdong stores clear-out", 1),
            ("pos", SH, 37900, 37900, "store price", 1),
            ("pos", SH, 39900, 37900, "no rule", 1),
            ("pos", GD, 37900, 35900, "no rule", 1),
        ],
        key=str,
    )
    assert jacket(shop).unexplained == 2


def test_a_sale_outside_the_exception_window_has_no_rule(shop: Engine) -> None:
    double_11 = datetime(2026, 11, 11, tzinfo=SHANGHAI)
    allow(
        shop,
        29900,
        "Double 11 price on Tmall",
        channel="tmall",
        valid_from=double_11,
        valid_until=double_11 + timedelta(days=1),
    )
    online(shop, 29900, channel="tmall", at=double_11 + timedelta(hours=10), qty=3)
    online(shop, 29900, channel="tmall", at=double_11 + timedelta(days=1, hours=1))
    online(shop, 39900, channel="tmall", at=double_11 + timedelta(days=2))

    row = jacket(shop)
    assert sorted(sales_differences(row), key=str) == sorted(
        [
            ("tmall", None, 29900, 29900, "Double 11 price on Tmall", 3),
            ("tmall", None, 29900, 39900, "no rule", 1),
        ],
        key=str,
    )
    # Over now, so the policy says the list price and shows no policy difference.
    assert [d for d in row.differences if d.source == "policy"] == []
    tmall = next(c for c in row.channels if c.channel == "tmall")
    assert tmall.effective_price_fen == 39900
    assert tmall.observed is not None
    assert (tmall.observed.units, tmall.observed.most_common_fen) == (5, 29900)


def test_promotion_discounts_are_not_price_differences(shop: Engine) -> None:
    till(shop, "ST-SH", 39900, discount=10000)  # 满减 at the till: the unit price is still 399
    online(shop, 39900)
    assert jacket(shop).status == "consistent"
    assert report(shop).total == 0


# -- filters and pages -------------------------------------------------------------------------


def test_filters_and_pages(shop: Engine) -> None:
    till(shop, "ST-SH", 39900)
    online(shop, 29900, channel="jd")  # JACKET: no rule on JD
    online(shop, 12900, sku=SCARF, channel="tmall")  # SCARF: no rule on Tmall
    till(shop, "ST-SH", 9900, sku=TEE)  # TEE: consistent

    assert [i.sku for i in report(shop).items] == [JACKET, SCARF]
    assert [i.sku for i in report(shop, only_inconsistent=False).items] == [JACKET, SCARF, TEE]
    assert [i.sku for i in report(shop, category="apparel").items] == []
    assert [i.sku for i in report(shop, category="outerwear").items] == [JACKET, SCARF]
    assert [i.sku for i in report(shop, skus=[SCARF, TEE]).items] == [SCARF]

    page = report(shop, limit=1, offset=1)
    assert (page.total, [i.sku for i in page.items]) == (2, [SCARF])

    on_tmall = report(shop, channel="tmall")
    assert [i.sku for i in on_tmall.items] == [SCARF]
    assert [c.channel for c in on_tmall.items[0].channels] == ["tmall"]

    # A window before the sales sees none of them.
    assert report(shop, until=NOV_20 - timedelta(days=1)).total == 0
    # The default window is the 30 days up to `until`.
    assert report(shop, until=NOV_20 + timedelta(days=31)).total == 0
    assert report(shop, until=NOV_20 + timedelta(days=29)).total == 2


def test_the_lists_match_judging_every_sku(shop: Engine) -> None:
    """Only SKUs with exceptions are judged before a page is cut; the rest are placed by their
    prices alone. Both ways give the same lists."""
    codes = ["A-EXPLAINED", "B-LIST-UNDER-RULE", "C-ENDED", "D-QUIET", "E-NO-RULE"]
    for code in codes:
        factories.sku(shop, code, list_price_fen=10000)
        factories.receive(shop, code, "WH-SH", 10)
    nov_10 = datetime(2026, 11, 10, tzinfo=SHANGHAI)
    # Sold off list, as an exception says: a difference, explained.
    allow(shop, 8000, "Tmall price", sku="A-EXPLAINED", channel="tmall")
    online(shop, 8000, sku="A-EXPLAINED")
    # Sold at the list price while an exception said otherwise: no rule.
    allow(shop, 8000, "Tmall price", sku="B-LIST-UNDER-RULE", channel="tmall")
    online(shop, 10000, sku="B-LIST-UNDER-RULE")
    # An exception that ended, sales that kept to it: consistent now.
    allow(shop, 8000, "Nov sale", sku="C-ENDED", channel="tmall", valid_until=nov_10)
    online(shop, 8000, sku="C-ENDED", at=nov_10 - timedelta(days=1))
    online(shop, 10000, sku="C-ENDED", at=nov_10 + timedelta(days=1))
    online(shop, 10000, sku="D-QUIET")
    online(shop, 9000, sku="E-NO-RULE")

    every = report(shop, only_inconsistent=False, limit=200).items
    assert {i.sku: i.status for i in every if i.sku in codes} == {
        "A-EXPLAINED": "explained",
        "B-LIST-UNDER-RULE": "unexplained",
        "C-ENDED": "explained",  # its sales at 80 were explained then
        "D-QUIET": "consistent",
        "E-NO-RULE": "unexplained",
    }
    inconsistent = [i.sku for i in every if i.status != "consistent"]
    unexplained = [i.sku for i in every if i.unexplained]
    assert [i.sku for i in report(shop, limit=200).items] == inconsistent
    assert [i.sku for i in report(shop, only_unexplained=True, limit=200).items] == unexplained
    # Cut into pages, the same list, and each row as judged in full.
    pages = [report(shop, limit=2, offset=n).items for n in range(0, len(inconsistent), 2)]
    assert [i.sku for page in pages for i in page] == inconsistent
    full = {i.sku: i for i in every}
    assert all(i == full[i.sku] for page in pages for i in page)


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(shop, background=False)) as client:
        yield sign_in(client)


def test_the_report_over_http(shop: Engine, client: TestClient) -> None:
    till(shop, "ST-SH", 39900)
    online(shop, 29900)
    url = "/api/v1/price-consistency"
    params = {"until": UNTIL.isoformat()}

    body = client.get(url, params=params).json()
    assert body["total"] == 1
    item = body["items"][0]
    assert (item["sku"], item["status"], item["unexplained"]) == (JACKET, "unexplained", 1)
    assert item["differences"][0]["reason"] == "no rule"

    created = client.post(
        "/api/v1/catalog/price-exceptions",
        json={
            "sku": JACKET,
            "channel": "tmall",
            "price_fen": 29900,
            "reason": "Tmall flagship price",
            "actor": "pricing-li",
        },
    )
    assert created.status_code == 201, created.text
    body = client.get(url, params={**params, "only_unexplained": "true"}).json()
    assert body["total"] == 0
    item = client.get(url, params=params).json()["items"][0]
    sale = next(d for d in item["differences"] if d["source"] == "sales")
    assert sale["reason"] == "Tmall flagship price"
    assert sale["exception"]["id"] == created.json()["id"]

    backwards = client.get(url, params={"since": UNTIL.isoformat(), "until": NOV_20.isoformat()})
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "INVALID_REPORT_WINDOW"
    too_long = client.get(
        url, params={"since": (UNTIL - timedelta(days=400)).isoformat(), **params}
    )
    assert too_long.json()["code"] == "INVALID_REPORT_WINDOW"
