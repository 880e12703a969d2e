"""The store floor and the stock planner in headless Chromium against a real server: a guide
places an assisted pickup order for a member found by phone, and HQ moves stock from a surplus
warehouse to a sold-out store. Each story ends in a screenshot in `test-artifacts/console/`.

The demo database is shared by every console test of the session: the member gets a phone of its
own, the order takes a SKU other than the demo's skewed one, and the transfer goes to a sold-out
store other than the one whose ledger other tests read."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.console.conftest import Demo, log_in
from yipan.inventory.service import ledger
from yipan.kernel.db import make_engine, unit_of_work
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

STORE = "ST-JS-NJ-001"  # guide.nj001's store


def _new_member(demo: Demo) -> tuple[str, str]:
    """A member with a phone no other test uses, made through the members service."""
    phone = f"139{secrets.randbelow(10**8):08d}"
    engine = make_engine(demo.url)
    try:
        record = SourceRecordIn(
            source="pos",
            record_id=f"browser-guide-{phone}",
            name="陈静",
            identities=[IdentityIn(kind="phone", value=phone)],
        )
        with unit_of_work(engine) as session:
            [result] = ingest.ingest_records(session, [record]).results
    finally:
        engine.dispose()
    assert result.member_id is not None
    return result.member_id, phone


def _sku_in_stock_at_the_store(demo: Demo) -> str:
    engine = make_engine(demo.url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            levels = ledger.levels_at_node(session, STORE, limit=1000)
    finally:
        engine.dispose()
    held = sorted(lv.sku for lv in levels if lv.atp >= 3 and lv.sku != demo.summary.skew.sku)
    assert held, f"the demo has no stock at {STORE}"
    return held[0]


def test_a_guide_looks_a_member_up_by_phone_and_places_an_assisted_pickup_order(
    fresh_page: Page, demo: Demo, artifacts: Path
) -> None:
    member_id, phone = _new_member(demo)
    sku = _sku_in_stock_at_the_store(demo)
    page = fresh_page
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet upright: one column
    page.goto("/console/login?next=/console/desk")
    log_in(page, "guide.nj001")
    page.wait_for_url("**/console/desk")
    page.click("[data-testid=assist-link]")
    page.wait_for_url("**/console/desk/assisted-order?store=*")
    assert page.locator("[data-testid=assist-store]").inner_text() == STORE

    page.fill("#assist-phone", phone)
    page.click("[data-testid=find-member]")
    customer = page.locator("[data-testid=customer]")
    customer.wait_for()
    assert member_id in customer.inner_text()

    page.fill("#add-sku", sku)
    page.fill("#add-qty", "1")
    page.click("[data-testid=add-line]")
    line = page.locator(f"[data-testid=line-{sku}]")
    line.wait_for()
    assert "本店可售" in line.locator("[data-testid=line-stock]").inner_text()
    assert "¥" in line.locator("[data-testid=line-price]").inner_text()
    page.check(f"[data-testid=how-1-{STORE}]")
    page.screenshot(path=artifacts / "assisted-order-cart.png", full_page=True)

    page.click("[data-testid=place-order]")
    page.wait_for_url("**/console/desk/assisted-order/orders/*")
    number = page.locator("[data-testid=order-number]").inner_text()
    assert number.isdecimal()
    pickup = page.locator("[data-testid=placed-pickup]")
    assert STORE in pickup.inner_text()
    # The customer is at the counter and the goods are at hand: put them on the shelf and give
    # the customer the code.
    pickup.locator("button").click()
    code = page.locator("[data-testid=pickup-code] strong")
    code.wait_for()
    assert code.inner_text().isdecimal()
    assert page.locator("[data-testid=order-number]").inner_text() == number
    page.screenshot(path=artifacts / "assisted-order.png", full_page=True)


def test_hq_transfers_stock_from_the_surplus_warehouse_to_a_sold_out_jiangsu_store(
    page: Page, demo: Demo, artifacts: Path
) -> None:
    skew = demo.summary.skew
    # Not the first sold-out store: other tests read its ledger as the demo left it.
    store = skew.out_of_stock[-1].node
    assert store != skew.out_of_stock[0].node
    page.goto("/console/inventory")
    page.fill("#sku-input", skew.sku)
    page.press("#sku-input", "Enter")
    row = page.locator(
        f"[data-testid=stock-table] tr:has([data-testid=ledger-link]:text-is('{store}'))"
    )
    row.wait_for()
    assert "江苏省" in row.inner_text()
    row.locator("[data-testid=transfer-here]").click()

    page.wait_for_url("**/console/inventory/transfers/new?*")
    assert page.locator("[data-testid=transfer-destination]").input_value() == store
    assert page.locator("[data-testid=transfer-source]").input_value() == skew.warehouse
    assert skew.warehouse in page.locator("[data-testid=suggested]").inner_text()
    quantity = int(page.locator("[data-testid=transfer-quantity]").input_value())
    assert quantity > 0
    page.screenshot(path=artifacts / "transfer-form.png", full_page=True)
    page.click("[data-testid=transfer-submit]")

    page.wait_for_url("**/console/inventory/transfers/*?done=created")
    code = page.locator("[data-testid=transfer-code]").inner_text()
    assert page.locator("[data-testid=transfer-state]").inner_text() == "已申请"
    page.click("[data-testid=ship]")
    page.wait_for_url("**?done=shipped")
    assert page.locator("[data-testid=transfer-state]").inner_text() == "在途"
    page.click("[data-testid=receive]")
    page.wait_for_url("**?done=received")
    assert page.locator("[data-testid=transfer-state]").inner_text() == "已收货"
    assert code in page.locator("[data-testid=notice]").inner_text()
    page.screenshot(path=artifacts / "transfer.png", full_page=True)

    page.goto(f"/console/inventory/{skew.sku}/{store}")
    assert str(quantity) in page.locator("[data-testid=ledger-on-hand]").inner_text()
