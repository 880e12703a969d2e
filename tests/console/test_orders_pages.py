"""The orders pages over HTTP on the orders' test world, on both backends: the list and its
filters and paging, one order's detail, and the data scopes of HQ, a region and a store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.orders import world
from tests.orders.world import BEIJING, JEANS, LUJIAZUI, TEE, line, order
from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import UserIn
from yipan.auth.service import login, sessions, users
from yipan.console import orders_page, paging
from yipan.console.i18n import EN, LANG_COOKIE
from yipan.kernel.db import unit_of_work
from yipan.orders.service import queries

PASSWORD = "orders-pages-2026"


@dataclass(frozen=True)
class Placed:
    online: int  # shipped from ST-SH-2 to Lujiazui, no store
    pickup: int  # picked up at ST-SH-1
    beijing: int  # shipped from WH-BJ (北京市) to Beijing
    store_sale: int  # credited to ST-SH-3 by a guide, shipped from a Shanghai node
    old: int  # placed on 2026-01-15 (Shanghai), a pickup at ST-SH-2


def _place(client: TestClient, body: dict[str, Any]) -> int:
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.json()
    return int(response.json()["order"]["id"])


def _make_user(engine: Engine, username: str, role: Role, scope_value: str | None) -> str:
    """A session token for a new user of `role`, made by auth's services."""
    with unit_of_work(engine) as session:
        users.create_user(
            session,
            UserIn(
                username=username,
                display_name=username,
                role=role,
                scope_value=scope_value,
                password=PASSWORD,
            ),
            by=Principal.system("test"),
        )
    with unit_of_work(engine) as session:
        signed_in = login.authenticate(session, username, PASSWORD).unwrap()
    return sessions.issue_session_token(signed_in)


class Console:
    """The app's test client, signed in as one user or another."""

    def __init__(self, client: TestClient, engine: Engine) -> None:
        self.client = client
        self.engine = engine
        self.tokens = {
            "admin": _make_user(engine, "hq", Role.HQ_ADMIN, None),
            "sh1": _make_user(engine, "sh1.manager", Role.STORE_MANAGER, "ST-SH-1"),
            "sh2_guide": _make_user(engine, "sh2.guide", Role.STORE_GUIDE, "ST-SH-2"),
            "sh3": _make_user(engine, "sh3.manager", Role.STORE_MANAGER, "ST-SH-3"),
            "beijing": _make_user(engine, "bj.region", Role.REGION_MANAGER, "北京市"),
        }

    def as_(self, who: str) -> TestClient:
        self.client.cookies.set(sessions.SESSION_COOKIE, self.tokens[who])
        return self.client


@pytest.fixture
def placed_world(engine: Engine) -> Iterator[tuple[Console, Placed]]:
    with world.client(engine) as client:
        placed = Placed(
            online=_place(client, order("TM-1", [line()], address=LUJIAZUI)),
            pickup=_place(
                client,
                order(
                    "MP-1",
                    [line(method="pickup", pickup_node="ST-SH-1")],
                    channel="miniapp",
                    customer={"member_id": "M-1"},
                ),
            ),
            beijing=_place(client, order("TM-2", [line(JEANS, price=39900)], address=BEIJING)),
            store_sale=_place(
                client,
                order(
                    "GD-1",
                    [line()],
                    channel="guide",
                    guide="G-7",
                    store="ST-SH-3",
                    address=LUJIAZUI,
                ),
            ),
            old=_place(
                client,
                order(
                    "MP-0",
                    [line(method="pickup", pickup_node="ST-SH-2")],
                    channel="miniapp",
                    placed_at="2026-01-15T01:00:00+08:00",
                ),
            ),
        )
        # Orders are placed through the API without a session; the console needs one.
        yield Console(client, engine), placed


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="order-link">(\d+)</a>', html)]


def _notice(html: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', html, re.S)
    assert found, "the page has no notice"
    return found.group(1)


def test_the_admin_sees_every_order_newest_first(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    response = console.as_("admin").get("/console/orders")

    assert response.status_code == 200
    ids = _ids(response.text)
    assert ids == sorted(
        [placed.online, placed.pickup, placed.beijing, placed.store_sale, placed.old],
        reverse=True,
    )
    assert "¥99.00" in response.text  # the tee's 9,900 fen
    assert "¥399.00" in response.text
    assert "M-1" in response.text  # the member column
    assert "2026-01-15 01:00:00" in response.text  # placed at, in Shanghai time
    assert 'data-testid="scope-hint"' not in response.text


def test_filters_narrow_the_list(placed_world: tuple[Console, Placed]) -> None:
    console, placed = placed_world
    client = console.as_("admin")

    def ids(**params: str) -> list[int]:
        response = client.get("/console/orders", params=params)
        assert response.status_code == 200, response.text
        return _ids(response.text)

    assert sorted(ids(channel="miniapp")) == sorted([placed.pickup, placed.old])
    assert sorted(ids(method="pickup")) == sorted([placed.pickup, placed.old])
    assert ids(store="ST-SH-3") == [placed.store_sale]
    assert ids(state="open", channel="tmall") == [placed.beijing, placed.online]
    assert ids(state="cancelled") == []
    # Days are Shanghai's: 01:00 on the 15th there is still the 14th in UTC.
    assert ids(**{"from": "2026-01-15", "to": "2026-01-15"}) == [placed.old]
    assert ids(to="2026-01-14") == []
    assert placed.old not in ids(**{"from": "2026-01-16"})


def test_an_htmx_filter_gets_only_the_result(placed_world: tuple[Console, Placed]) -> None:
    console, placed = placed_world
    response = console.as_("admin").get(
        "/console/orders", params={"channel": "tmall"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert _ids(response.text) == [placed.beijing, placed.online]


def test_an_empty_result_says_what_to_do(placed_world: tuple[Console, Placed]) -> None:
    console, _ = placed_world
    response = console.as_("admin").get("/console/orders", params={"channel": "nowhere"})
    assert response.status_code == 200
    assert 'data-testid="orders-empty"' in response.text
    assert "放宽或清除筛选条件" in response.text


def test_the_list_pages_on_the_server(
    placed_world: tuple[Console, Placed], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    monkeypatch.setattr(orders_page, "PAGE_SIZE", 2)
    console, placed = placed_world
    client = console.as_("admin")
    newest_first = sorted(
        [placed.online, placed.pickup, placed.beijing, placed.store_sale, placed.old],
        reverse=True,
    )

    first = client.get("/console/orders")
    second = client.get("/console/orders", params={"page": "2"})
    third = client.get("/console/orders", params={"page": "3"})

    assert _ids(first.text) == newest_first[:2]
    assert _ids(second.text) == newest_first[2:4]
    assert _ids(third.text) == newest_first[4:]
    assert "第 2 / 3 页" in second.text
    assert 'href="/console/orders?page=3"' in second.text
    filtered = client.get("/console/orders", params={"channel": "tmall", "page": "1"})
    assert "第 1 / 1 页" not in filtered.text  # one page: no pager
    past = client.get("/console/orders", params={"page": "4"})
    assert past.status_code == 404
    assert "第 4 页不存在" in _notice(past.text)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"state": "lost"}, "没有“lost”这种订单状态"),
        ({"method": "drone"}, "没有“drone”这种履约方式"),
        ({"from": "2026-13-01"}, "日期格式应为 年-月-日"),
        ({"to": "yesterday"}, "日期格式应为 年-月-日"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "开始日期晚于结束日期"),
        ({"page": "0"}, "页码必须是 1 到"),
        ({"page": "two"}, "页码必须是 1 到"),
        ({"store": "S" * 65}, "最长 64 个字符"),
    ],
)
def test_bad_filter_values_get_a_plain_notice(
    placed_world: tuple[Console, Placed], params: dict[str, str], words: str
) -> None:
    console, _ = placed_world
    response = console.as_("admin").get("/console/orders", params=params)
    assert response.status_code == 422
    assert words in _notice(response.text)
    assert _ids(response.text) == []
    assert 'data-testid="order-filters"' in response.text  # the form is back, to fix the value


def test_a_bad_filter_notice_speaks_english_too(placed_world: tuple[Console, Placed]) -> None:
    console, _ = placed_world
    client = console.as_("admin")
    client.cookies.set(LANG_COOKIE, EN)
    response = client.get("/console/orders", params={"state": "lost"})
    assert response.status_code == 422
    assert "There is no order state “lost”" in _notice(response.text)


def _chart(html: str) -> dict[str, Any]:
    found = re.search(r"data-routing-chart='([^']*)'", html)
    assert found, "the page has no routing chart"
    return dict(json.loads(found.group(1)))


def test_the_detail_shows_lines_fulfilments_timeline_and_routing(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    response = console.as_("admin").get(f"/console/orders/{placed.online}")

    assert response.status_code == 200
    html = response.text
    lines = html[html.index('data-testid="order-lines"') :]
    assert TEE in lines[: lines.index("</table>")]
    assert "¥99.00" in html
    fulfilments = html[html.index('data-testid="order-fulfilments"') :]
    fulfilments = fulfilments[: fulfilments.index("</table>")]
    assert "ST-SH-2" in fulfilments
    assert "已分配" in fulfilments
    # The admin may act: the allowed step is a button (tests/console/test_order_steps.py).
    (fulfilment,) = re.findall(r'data-testid="action-start_picking-(\d+)"', html)
    assert f"/fulfilments/{fulfilment}/start_picking" in html
    assert 'data-testid="order-timeline"' in html
    assert re.search(r'data-testid="event-type">下单', html)
    why = re.search(r'data-testid="routing-why"><strong>[^<]*</strong>\s*([^<]*)</p>', html)
    assert why
    assert "ST-SH-2" in why.group(1)

    chart = _chart(html)
    assert chart["plans"][chart["chosen"]] == "ST-SH-2"
    assert [s["name"] for s in chart["series"]] == ["距离", "处理", "拆单", "产能", "库存健康"]
    assert {"ST-SH-1", "WH-KS", "WH-BJ"} <= set(chart["plans"])
    with unit_of_work(console.engine, readonly=True) as session:
        (decision,) = queries.routing_decisions(session, placed.online)
    plans = decision.explanation["groups"][0]["plans"]
    for i, plan in enumerate(plans):
        stacked = sum(s["values"][i] for s in chart["series"])
        assert stacked == pytest.approx(plan["total"], abs=0.01)  # the stack adds up to the total


def test_an_unknown_order_is_a_plain_404(placed_world: tuple[Console, Placed]) -> None:
    console, _ = placed_world
    client = console.as_("admin")
    for wrong in ("999999", "abc", "0"):
        response = client.get(f"/console/orders/{wrong}")
        assert response.status_code == 404
        assert "找不到编号为" in _notice(response.text)
        assert 'data-testid="order-lines"' not in response.text


def test_a_store_manager_sees_only_their_stores_orders(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    client = console.as_("sh1")

    listing = client.get("/console/orders")
    assert listing.status_code == 200
    assert _ids(listing.text) == [placed.pickup]  # fulfilled at ST-SH-1
    assert "ST-SH-1" in listing.text  # the scope hint says why the list is short
    # Asking for another store's orders does not widen the scope.
    assert _ids(client.get("/console/orders", params={"store": "ST-SH-3"}).text) == []

    assert client.get(f"/console/orders/{placed.pickup}").status_code == 200
    for elsewhere in (placed.online, placed.beijing, placed.store_sale):
        response = client.get(f"/console/orders/{elsewhere}")
        assert response.status_code == 404
        # The same words as for an order that does not exist: nothing is revealed.
        assert _notice(response.text) == _notice(client.get("/console/orders/999999").text).replace(
            "999999", str(elsewhere)
        )
        assert "ST-SH-2" not in response.text


def test_a_store_sees_orders_it_sold_and_orders_it_fulfils(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    # ST-SH-3 sold the guide's order (it shipped from elsewhere).
    assert _ids(console.as_("sh3").get("/console/orders").text) == [placed.store_sale]
    assert console.as_("sh3").get(f"/console/orders/{placed.store_sale}").status_code == 200
    # ST-SH-2's guide sees what ST-SH-2 fulfils: the online parcel and the old pickup.
    guide = console.as_("sh2_guide")
    assert placed.online in _ids(guide.get("/console/orders").text)
    assert placed.old in _ids(guide.get("/console/orders").text)
    assert placed.pickup not in _ids(guide.get("/console/orders").text)
    assert guide.get(f"/console/orders/{placed.online}").status_code == 200
    assert guide.get(f"/console/orders/{placed.pickup}").status_code == 404


def test_a_region_manager_sees_the_orders_of_their_province(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    client = console.as_("beijing")
    listing = client.get("/console/orders")
    assert _ids(listing.text) == [placed.beijing]  # shipped from WH-BJ, the only 北京市 node
    assert "北京市" in listing.text
    assert client.get(f"/console/orders/{placed.beijing}").status_code == 200
    assert client.get(f"/console/orders/{placed.online}").status_code == 404


def test_the_orders_service_filters_by_method_dates_and_visible_nodes(
    placed_world: tuple[Console, Placed],
) -> None:
    console, placed = placed_world
    engine = console.engine
    with unit_of_work(engine, readonly=True) as session:
        pickups = queries.list_orders(session, queries.OrderQuery(method="pickup"))
        at_sh2 = queries.list_orders(session, queries.OrderQuery(visible_at=["ST-SH-2"]))
        nowhere = queries.list_orders(session, queries.OrderQuery(visible_at=[]))
        counted = queries.count_orders(session, queries.OrderQuery(channel="tmall"))
        paged = queries.list_orders(session, offset=1, limit=2)
        everything = queries.list_orders(session)
        members = queries.members_of(session, [placed.pickup, placed.online])
    assert {o.id for o in pickups} == {placed.pickup, placed.old}
    assert {o.id for o in at_sh2} == {placed.online, placed.old}
    assert nowhere == []
    assert counted == 2
    assert [o.id for o in paged] == [o.id for o in everything][1:3]
    assert members == {placed.pickup: "M-1", placed.online: None}
