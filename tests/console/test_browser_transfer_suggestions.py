"""The suggested moves on the transfers page in headless Chromium: the list shows at once, the
plan fills in after it, and the demo's skew case is on top. Ends in a screenshot in
`test-artifacts/console/`. Nothing is applied here: the demo is shared, and other tests count
the skew SKU's stock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.console.conftest import Demo

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow


def test_the_plan_fills_in_under_the_transfer_list_with_the_skew_case_on_top(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    skew = demo.summary.skew
    page.goto("/console/inventory/transfers")
    table = page.locator("[data-testid=suggested-table]")
    table.wait_for(timeout=30_000)
    first = table.locator("tbody tr").first
    assert first.locator("td").first.inner_text() == skew.sku
    # A store of the short city with nothing it can sell (out, or down to its safety stock).
    stores = {s.node for s in (*skew.out_of_stock, *skew.low)}
    route = first.locator("td").nth(1).locator(".code").inner_text()
    assert route.split(" → ")[1] in stores
    assert table.locator("button", has_text="申请此调拨").count() >= 1
    page.screenshot(path=str(artifacts / "transfer_suggestions.png"), full_page=True)
