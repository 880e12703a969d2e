"""The marketing pages in headless Chromium against a real server on the demo: a marketer
creates a 满减 promotion and pauses it (`test-artifacts/console/marketing.png`), and reads the
price-consistency report (`marketing-prices.png`).

The demo database is shared by every console test of the session, so the promotion holds only
on tmall, a marketplace that charges its own prices: no other test's order is priced by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.console.conftest import Demo, log_in
from yipan.catalog import prices
from yipan.catalog import service as catalog
from yipan.catalog.schemas import PriceExceptionIn
from yipan.kernel.db import make_engine, unit_of_work

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def test_a_marketer_creates_a_threshold_promotion_and_pauses_it(
    fresh_page: Page, artifacts: Path
) -> None:
    page = fresh_page
    page.goto("/console/login?next=/console/marketing")
    log_in(page, "marketing")
    page.wait_for_url("**/console/marketing")
    assert page.locator("nav.sidenav a[aria-current=page]").inner_text() == "营销"

    page.click("[data-testid=new-promotion-toggle]")
    key = page.input_value("[data-testid=promotion-form] input[name=idempotency_key]")
    code = f"P-{key.upper()}"
    page.fill("[data-testid=promotion-name]", "双十一满减")
    page.fill("[data-testid=step-threshold-1]", "199")
    page.fill("[data-testid=step-reduction-1]", "二十")
    page.click("[data-testid=promotion-submit]")
    error = page.locator("[data-testid=promotion-form-error]")
    assert "应为金额（元）" in error.inner_text()
    assert page.locator(f"[data-testid=promotion-{code}]").count() == 0

    page.fill("[data-testid=step-reduction-1]", "20")
    page.fill("[data-testid=step-threshold-2]", "299")
    page.fill("[data-testid=step-reduction-2]", "50")
    page.check("input[name=channels][value=tmall]")
    page.fill("[data-testid=promotion-ends]", "2030-12-31T23:59")
    page.click("[data-testid=promotion-submit]")
    page.wait_for_url(f"**/console/marketing?done=created&code={code}")

    assert code in page.locator("[data-testid=notice]").inner_text()
    row = page.locator(f"[data-testid=promotion-{code}]")
    assert "满¥199.00减¥20.00 / 满¥299.00减¥50.00" in row.inner_text()
    assert row.locator(f"[data-testid=status-{code}]").inner_text() == "进行中"

    page.click(f"[data-testid=pause-{code}]")
    page.wait_for_url("**/console/marketing?*done=paused*")
    assert page.locator(f"[data-testid=status-{code}]").inner_text() == "已暂停"
    assert page.locator(f"[data-testid=resume-{code}]").count() == 1
    page.screenshot(path=artifacts / "marketing.png", full_page=True)


def test_the_price_report_flags_a_marketplace_price_set_by_a_rule(
    fresh_page: Page, demo: Demo, artifacts: Path
) -> None:
    # On tmall only: a marketplace charges its own prices, so no other test's order meets it.
    engine = make_engine(demo.url)
    try:
        with unit_of_work(engine) as session:
            sku = next(
                s.code
                for s in catalog.list_skus(session, limit=20).items
                if s.code != demo.summary.skew.sku
            )
            exception = PriceExceptionIn(
                sku=sku, channel="tmall", price_fen=100, reason="天猫清仓价", actor="marketing"
            )
            prices.create_price_exception(session, exception)
    finally:
        engine.dispose()
    page = fresh_page
    page.goto("/console/login?next=/console/marketing/prices")
    log_in(page, "marketing")
    page.wait_for_url("**/console/marketing/prices")

    page.select_option("[data-testid=price-channel]", "tmall")
    page.click("[data-testid=price-filters] button[type=submit]")
    page.wait_for_url("**/console/marketing/prices?channel=tmall*")

    row = page.locator(f"[data-testid=price-{sku}]")
    assert "规则：天猫清仓价" in row.inner_text()
    assert "tmall ¥1.00" in row.inner_text()
    page.screenshot(path=artifacts / "marketing-prices.png", full_page=True)
