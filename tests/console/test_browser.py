"""The console in headless Chromium against a real server: one story per test, each ending in a
screenshot in `test-artifacts/console/`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.console.conftest import Demo, log_in
from yipan.auth.api import CSRF_HEADER
from yipan.auth.service import sessions

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def _search(page: Page, sku: str) -> None:
    # A mark on the window survives only if HTMX swaps the result in instead of loading a page.
    page.evaluate("window.stayedOnPage = true")
    page.fill("#sku-input", sku)
    page.press("#sku-input", "Enter")


def _stayed_on_page(page: Page) -> bool:
    return bool(page.evaluate("window.stayedOnPage === true"))


def test_the_hq_admin_logs_in_through_the_form_and_sees_the_inventory_page(
    fresh_page: Page, demo: Demo, artifacts: Path
) -> None:
    page = fresh_page
    wanted = f"/console/inventory?sku={demo.summary.skew.sku}"
    page.goto(wanted)
    page.wait_for_url("**/console/login?next=*")
    assert page.locator("h1").inner_text() == "登录"
    page.screenshot(path=artifacts / "login.png", full_page=True)

    log_in(page, "admin", "wrong-password")
    assert "用户名或密码错误" in page.locator("[data-testid=notice]").inner_text()
    log_in(page, "admin")
    page.wait_for_url(f"**{wanted}")

    assert page.locator("[data-testid=current-user]").inner_text().startswith("王总部")
    assert page.locator("[data-testid=current-role]").inner_text() == "总部管理员"
    assert page.locator("h1").inner_text() == "库存"
    page.locator("[data-testid=stock-table]").wait_for()
    page.screenshot(path=artifacts / "logged-in-inventory.png", full_page=True)


def test_the_inventory_page_opens_in_chinese_and_switches_to_english(
    page: Page, artifacts: Path
) -> None:
    page.goto("/console/inventory")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "库存"
    assert page.locator("label[for=sku-input]").inner_text() == "SKU 编码或条码"

    page.click("[data-testid=lang-en]")
    page.wait_for_url("**/console/inventory")

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Inventory"
    assert page.locator("label[for=sku-input]").inner_text() == "SKU code or barcode"
    assert page.locator("nav.sidenav a[aria-current=page]").inner_text() == "Inventory"
    page.screenshot(path=artifacts / "inventory-english.png", full_page=True)


def test_searching_a_sku_shows_the_node_table_and_the_stock_map(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    skew = demo.summary.skew
    page.goto("/console/inventory")
    _search(page, skew.sku)

    table = page.locator("[data-testid=stock-table]")
    table.wait_for()
    assert table.locator("tbody tr").first.locator("a").inner_text() == skew.warehouse
    # HTMX swapped the result in place and put the search in the address bar.
    assert _stayed_on_page(page)
    assert f"sku={skew.sku}" in page.url
    canvas = page.locator("[data-testid=stock-map] canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    assert box["width"] > 100
    assert box["height"] > 100
    page.screenshot(path=artifacts / "inventory-search.png", full_page=True)


def test_an_unknown_sku_shows_a_message(page: Page, artifacts: Path) -> None:
    page.goto("/console/inventory")
    _search(page, "NO-SUCH-SKU")

    notice = page.locator("[data-testid=notice]")
    notice.wait_for()
    assert "NO-SUCH-SKU" in notice.inner_text()
    assert _stayed_on_page(page)  # the 404 fragment is swapped in too
    assert page.locator("[data-testid=stock-table]").count() == 0
    page.screenshot(path=artifacts / "inventory-unknown-sku.png", full_page=True)


def test_the_ledger_drill_down_shows_the_movements(page: Page, demo: Demo, artifacts: Path) -> None:
    skew = demo.summary.skew
    sold_out = skew.out_of_stock[0].node
    page.goto(f"/console/inventory?sku={skew.sku}")
    page.click(f"[data-testid=ledger-link]:text-is('{sold_out}')")
    page.wait_for_url(f"**/console/inventory/{skew.sku}/{sold_out}")

    ledger = page.locator("[data-testid=ledger-table]")
    kinds = ledger.locator("tbody tr td:nth-child(2)").all_inner_texts()
    # Sold out through the ledger: the opening receipt (oldest, last), then the sales.
    assert kinds[-1] == "收货"
    assert "销售" in kinds
    assert "0" in page.locator("[data-testid=ledger-on-hand]").inner_text()
    page.screenshot(path=artifacts / "ledger.png", full_page=True)


def _place_demo_order(server: str, admin_session: str, skew_sku: str) -> int:
    """An online order on the demo (which has none), sent to the running server's API as the
    admin's session would send it. Not the skew SKU: other tests count its stock."""
    cookies = {sessions.SESSION_COOKIE: admin_session}
    headers = {CSRF_HEADER: sessions.csrf_token_for(admin_session)}
    skus = httpx.get(f"{server}/api/v1/skus", params={"limit": 20}, cookies=cookies).json()
    for n, sku in enumerate(s for s in skus["items"] if s["code"] != skew_sku):
        price = sku["list_price_fen"]
        body = {
            "channel": "tmall",
            "external_id": f"BROWSER-{n}",
            "lines": [{"sku": sku["code"], "quantity": 1, "unit_price_fen": price}],
            "address": {
                "line": "人民大道 200 号",
                "city": "上海",
                "latitude": 31.2304,
                "longitude": 121.4737,
            },
            "total_fen": price,
        }
        response = httpx.post(
            f"{server}/api/v1/orders", json=body, cookies=cookies, headers=headers
        )
        if response.status_code == 201:
            return int(response.json()["order"]["id"])
    pytest.fail("no demo SKU could be ordered")


def test_an_order_shows_its_routing_chart(
    page: Page, server: str, admin_session: str, demo: Demo, artifacts: Path
) -> None:
    order_id = _place_demo_order(server, admin_session, demo.summary.skew.sku)
    page.goto("/console/orders")
    assert page.locator("h1").inner_text() == "订单"
    page.click(f"[data-testid=order-link]:text-is('{order_id}')")
    page.wait_for_url(f"**/console/orders/{order_id}")

    assert page.locator("[data-testid=order-lines] tbody tr").count() == 1
    assert page.locator("[data-testid=order-timeline] tbody tr").count() >= 1
    canvas = page.locator("[data-testid=routing-chart] canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    assert box["width"] > 100
    assert box["height"] > 100
    page.screenshot(path=artifacts / "orders-detail.png", full_page=True)
