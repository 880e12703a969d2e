"""The dashboard in headless Chromium: the HQ admin logs in, lands on it and sees its charts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.console.conftest import ADMIN, Demo, log_in
from yipan.auth.api import CSRF_HEADER
from yipan.auth.service import sessions

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def _sell_online(server: str, admin_session: str, avoid: str) -> None:
    """An online order on the demo, so that the sales chart has a bar, sent to the running
    server's API as the admin's session would send it. Not the skew SKU: other tests count it."""
    cookies = {sessions.SESSION_COOKIE: admin_session}
    headers = {CSRF_HEADER: sessions.csrf_token_for(admin_session)}
    skus = httpx.get(f"{server}/api/v1/skus", params={"limit": 20}, cookies=cookies).json()
    for n, sku in enumerate(s for s in skus["items"] if s["code"] != avoid):
        price = sku["list_price_fen"]
        body = {
            "channel": "tmall",
            "external_id": f"DASHBOARD-{n}",
            "lines": [{"sku": sku["code"], "quantity": 1, "unit_price_fen": price}],
            "address": {
                "line": "新街口 1 号",
                "city": "南京",
                "latitude": 32.04,
                "longitude": 118.78,
            },
            "total_fen": price,
        }
        response = httpx.post(
            f"{server}/api/v1/orders", json=body, cookies=cookies, headers=headers
        )
        if response.status_code in (200, 201):
            return
    pytest.fail("no demo SKU could be ordered")


def _drawn(page: Page, testid: str) -> None:
    canvas = page.locator(f"[data-testid={testid}] canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 200


def test_the_hq_admin_lands_on_the_dashboard_and_sees_its_charts(
    fresh_page: Page, server: str, admin_session: str, demo: Demo, artifacts: Path
) -> None:
    _sell_online(server, admin_session, demo.summary.skew.sku)
    page = fresh_page
    page.goto("/console/login")
    log_in(page, ADMIN)
    page.wait_for_url("**/console/dashboard")

    assert page.locator("h1").inner_text() == "总览"
    assert page.locator("nav.sidenav a[aria-current=page]").inner_text() == "总览"
    assert page.locator("[data-testid=kpi-tiles] .kpi-tile").count() >= 9
    assert page.locator("[data-testid=tile-orders] .kpi-value").inner_text() != "0"
    _drawn(page, "sales-chart")
    _drawn(page, "node-map")
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)

    page.click("[data-testid=period-30d]")
    page.wait_for_url("**/console/dashboard?period=30d")
    assert page.locator("[data-testid=period-30d]").get_attribute("aria-current") == "true"
    page.select_option("[data-testid=region-select]", "江苏省")
    page.wait_for_url("**/console/dashboard?period=30d&region=*")
    _drawn(page, "node-map")
