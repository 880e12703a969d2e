"""The store desk in headless Chromium against a real server on the demo, one story per test,
each ending in a screenshot in `test-artifacts/console/`.

The demo database is shared by every console test of the session: orders are made here through
the orders service with external ids of their own, never on the skew SKU (whose stock other
tests count), and nothing here depends on how many orders or pickups there are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine

from tests.console.conftest import Demo, log_in
from yipan.catalog import service as catalog
from yipan.demo.logins import DEMO_STORE
from yipan.events import service as events
from yipan.inventory.service import ledger, nodes
from yipan.kernel.db import make_engine, unit_of_work
from yipan.orders.domain.fulfilment import Action
from yipan.orders.schemas import ActionIn, OrderIn
from yipan.orders.service import capture, lifecycle, queries

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

MANAGER = "nj001"
NANJING = {"line": "中山路 1 号", "city": "南京", "latitude": 32.0603, "longitude": 118.7969}


@pytest.fixture
def engine(demo: Demo) -> Iterator[Engine]:
    """The demo database the server runs on, for setting a story up through the services."""
    engine = make_engine(demo.url)
    yield engine
    engine.dispose()


def _stocked_sku(engine: Engine, node: str, skew_sku: str) -> tuple[str, int]:
    """A SKU the node can sell now (not the skew SKU), and its list price."""
    with unit_of_work(engine, readonly=True) as session:
        for level in ledger.levels_at_node(session, node, limit=500):
            if level.atp >= 1 and level.sku != skew_sku:
                return level.sku, catalog.get_sku(session, level.sku).list_price_fen
    pytest.fail(f"the demo has no stock at {node} to sell")


def _place(engine: Engine, line: dict[str, Any], **extra: Any) -> int:
    """A marketplace order (it charges its own prices, so no promotion can change the total)."""
    body = {
        "channel": "tmall",
        "external_id": f"DESK-{uuid.uuid4().hex[:12]}",
        "lines": [line],
        "total_fen": line["unit_price_fen"] * line["quantity"],
        **extra,
    }
    with unit_of_work(engine) as session:
        placed = capture.place_order(session, OrderIn.model_validate(body))
    return int(placed.order.id)


def _pickup_at(engine: Engine, store: str, skew_sku: str) -> tuple[int, int]:
    """A buy-online-pick-up-in-store order at `store`: (order id, pickup fulfilment id)."""
    sku, price = _stocked_sku(engine, store, skew_sku)
    line = {
        "sku": sku,
        "quantity": 1,
        "unit_price_fen": price,
        "method": "pickup",
        "pickup_node": store,
    }
    order_id = _place(engine, line)
    with unit_of_work(engine, readonly=True) as session:
        (pickup,) = queries.get_order(session, order_id).fulfilments
    assert (pickup.node, pickup.state) == (store, "allocated")
    return order_id, pickup.id


def _code_sent_to_the_customer(engine: Engine, order_id: int) -> str:
    """The pickup code, as the message telling the customer their goods are ready carries it."""
    with unit_of_work(engine, readonly=True) as session:
        recorded = events.recent_events(session, aggregate_type="order", aggregate_id=str(order_id))
    (ready,) = [e for e in recorded if e["name"] == "orders.PickupReady"]
    return str(ready["payload"]["pickup_code"])


def _sign_in_at_desk(page: Page, username: str = MANAGER) -> None:
    page.goto("/console/login?next=/console/desk")
    log_in(page, username)
    page.wait_for_url("**/console/desk")


def test_a_store_manager_hands_over_a_pickup_against_the_customers_code(
    fresh_page: Page, engine: Engine, demo: Demo, artifacts: Path
) -> None:
    order_id, pickup = _pickup_at(engine, DEMO_STORE, demo.summary.skew.sku)
    page = fresh_page
    _sign_in_at_desk(page)
    assert page.locator("[data-testid=desk-store]").inner_text() == DEMO_STORE

    page.click(f"[data-testid=ready-{pickup}]")
    page.wait_for_url("**/console/desk?*done=ready*")
    assert "已备货完成" in page.locator("[data-testid=notice]").inner_text()
    page.fill(f"#code-{pickup}", _code_sent_to_the_customer(engine, order_id))
    page.click(f"[data-testid=hand-over-{pickup}]")
    page.wait_for_url("**/console/desk?*done=handed_over*")

    assert "核码成功" in page.locator("[data-testid=notice]").inner_text()
    assert page.locator(f"[data-testid=pickup-{pickup}]").count() == 0
    page.goto(f"/console/orders/{order_id}")
    assert "已提货" in page.locator("main").inner_text()
    with unit_of_work(engine, readonly=True) as session:
        assert queries.get_fulfilment(session, pickup).state == "picked_up"
    page.screenshot(path=artifacts / "desk-handover.png", full_page=True)


def _delivered_online_order(engine: Engine, skew_sku: str) -> int:
    """A marketplace order shipped from wherever routing chose and delivered to Nanjing."""
    with unit_of_work(engine, readonly=True) as session:
        warehouses = [n.code for n in nodes.list_nodes(session, type="warehouse", active=True)]
    sku, price = _stocked_sku(engine, warehouses[0], skew_sku)
    line = {"sku": sku, "quantity": 2, "unit_price_fen": price}
    order_id = _place(engine, line, address=NANJING)
    with unit_of_work(engine, readonly=True) as session:
        parcels = [f.id for f in queries.get_order(session, order_id).fulfilments]
    assert parcels
    for parcel in parcels:
        for action in (Action.START_PICKING, Action.PACK, Action.SHIP, Action.DELIVER):
            with unit_of_work(engine) as session:
                lifecycle.advance(session, parcel, action, ActionIn(actor="wms"))
    return order_id


def test_the_returns_desk_takes_back_an_online_order(
    fresh_page: Page, engine: Engine, demo: Demo, artifacts: Path
) -> None:
    order_id = _delivered_online_order(engine, demo.summary.skew.sku)
    page = fresh_page
    _sign_in_at_desk(page)

    page.fill("#desk-order", str(order_id))
    page.press("#desk-order", "Enter")
    page.locator("[data-testid=return-form]").wait_for()
    assert page.locator("[data-testid=returnable-1]").count() == 1
    page.fill("#return-quantity", "1")
    page.select_option("#return-condition", "resellable")
    page.fill("#return-reason", "尺码不合适")
    page.click("[data-testid=return-submit]")
    page.wait_for_url("**/console/desk?*returned_id=*")

    notice = page.locator("[data-testid=notice]").inner_text()
    assert f"（订单 {order_id}）" in notice
    assert "应退款" in notice
    with unit_of_work(engine, readonly=True) as session:
        (line,) = queries.get_order(session, order_id).lines
    assert line.returned_quantity == 1
    page.screenshot(path=artifacts / "desk-return.png", full_page=True)


def test_a_store_manager_is_refused_another_stores_order(
    fresh_page: Page, engine: Engine, demo: Demo, artifacts: Path
) -> None:
    with unit_of_work(engine, readonly=True) as session:
        stores = [
            n.code
            for n in nodes.list_nodes(session, type="store", active=True)
            if n.code != DEMO_STORE and n.can_pickup
        ]
    order_id, _ = _pickup_at(engine, stores[0], demo.summary.skew.sku)
    page = fresh_page
    page.goto("/console/login?next=/console/orders")
    log_in(page, MANAGER)
    page.wait_for_url("**/console/orders")
    assert page.locator(f"[data-testid=order-link]:text-is('{order_id}')").count() == 0

    response = page.goto(f"/console/orders/{order_id}")

    assert response is not None
    assert response.status == 404
    notice = page.locator("[data-testid=notice]").inner_text()
    assert f"找不到编号为“{order_id}”的订单，或您无权查看它" in notice
    assert stores[0] not in page.locator("main").inner_text()
    page.screenshot(path=artifacts / "refused-order.png", full_page=True)
