"""The inventory alerts page: the live low-stock alerts of the user's scope, each with its nearby
surplus and a link that starts the transfer; acknowledged by roles that write inventory."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import JEANS, TEE
from yipan.auth.domain import Role
from yipan.inventory.service import alerts, nodes
from yipan.kernel.db import unit_of_work

PAGE = "/console/inventory/alerts"
STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("boss2", Role.STORE_MANAGER, "ST-SH-2"),
    ("boss3", Role.STORE_MANAGER, "ST-SH-3"),
    ("ads", Role.MARKETER, None),
]


@pytest.fixture
def short(engine: Engine) -> Iterator[tuple[Staff, dict[str, int]]]:
    """ST-SH-2 holds no jeans and reorders at 4; ST-SH-3 holds 5 tees and reorders at 8."""
    with staff_console(engine, STAFF, lang="en") as signed_in:
        raised: dict[str, int] = {}
        with unit_of_work(engine) as session:
            for sku, node, point in ((JEANS, "ST-SH-2", 4), (TEE, "ST-SH-3", 8)):
                nodes.set_stock_policy(
                    session, sku=sku, node=node, safety_stock=0, reorder_point=point
                )
                alert = alerts.raise_low_stock_alert(session, sku=sku, node=node)
                assert alert is not None
                raised[node] = alert.id
        yield signed_in, raised


def _notice(page: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def _rows(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-testid="alert-(\d+)"', page)}


def test_hq_sees_every_live_alert_with_the_surplus_nearby_and_a_transfer_link(
    short: tuple[Staff, dict[str, int]],
) -> None:
    staff, raised = short
    page = staff.as_("hq").get(PAGE)
    assert page.status_code == 200
    assert _rows(page.text) == set(raised.values())
    row = page.text[page.text.index(f'data-testid="alert-{raised["ST-SH-2"]}"') :]
    row = row[: row.index("</tr>")]
    assert "Nearby surplus: ST-SH-1" in html.unescape(row)  # 3 km away, 2 jeans above nothing
    link = re.search(r'href="(/console/inventory/transfers/new\?[^"]+)"', row)
    assert link is not None
    form = staff.as_("hq").get(html.unescape(link.group(1)))
    assert form.status_code == 200
    assert re.search(r'name="destination"[^>]*value="ST-SH-2"', form.text)
    # The inventory page leads here.
    assert 'href="/console/inventory/alerts"' in staff.as_("hq").get("/console/inventory").text


def test_a_store_manager_sees_only_their_stores_alerts(
    short: tuple[Staff, dict[str, int]],
) -> None:
    staff, raised = short
    page = staff.as_("boss2").get(PAGE)
    assert _rows(page.text) == {raised["ST-SH-2"]}
    other = staff.as_("boss2").get(PAGE, params={"node": "ST-SH-3"})
    assert other.status_code == 403
    assert "outside your scope" in _notice(other.text)


def test_acknowledging_keeps_the_alert_live_until_the_stock_is_back(
    short: tuple[Staff, dict[str, int]],
) -> None:
    staff, raised = short
    alert_id = raised["ST-SH-3"]
    client = staff.as_("boss3")
    done = client.post(
        f"{PAGE}/{alert_id}/acknowledge",
        data={"csrf_token": staff.csrf("boss3")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    assert "Marked as seen" in _notice(shown.text)
    assert alert_id in _rows(shown.text)  # live: seen, the stock still low
    with unit_of_work(staff.engine, readonly=True) as session:
        alert = alerts.get_alert(session, alert_id)
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", "boss3")
    assert _rows(client.get(PAGE, params={"status": "open"}).text) == set()
    # Another store's manager cannot, a marketer may not, a forged form changes nothing.
    other = staff.as_("boss2").post(
        f"{PAGE}/{raised['ST-SH-3']}/acknowledge", data={"csrf_token": staff.csrf("boss2")}
    )
    assert other.status_code == 404
    marketer = staff.as_("ads").post(
        f"{PAGE}/{raised['ST-SH-2']}/acknowledge", data={"csrf_token": staff.csrf("ads")}
    )
    assert marketer.status_code == 403
    forged = staff.as_("hq").post(
        f"{PAGE}/{raised['ST-SH-2']}/acknowledge", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403
    with unit_of_work(staff.engine, readonly=True) as session:
        assert alerts.get_alert(session, raised["ST-SH-2"]).status == "open"


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"status": "burning"}, 422, "no alert status"),
        ({"sku": "NOPE"}, 404, "no SKU"),
        ({"node": "ST-XX"}, 404, "no store or warehouse"),
        ({"page": "abc"}, 422, "not a page number"),
        ({"page": "9"}, 404, "no page 9"),
    ],
)
def test_bad_filters_are_answered_in_plain_words(
    short: tuple[Staff, dict[str, int]], query: dict[str, str], status: int, words: str
) -> None:
    staff, _ = short
    page = staff.as_("hq").get(PAGE, params=query)
    assert page.status_code == status
    assert words in _notice(page.text)


def test_an_empty_list_says_what_to_do(short: tuple[Staff, dict[str, int]]) -> None:
    staff, _ = short
    page = staff.as_("hq").get(PAGE, params={"status": "cleared"})
    assert page.status_code == 200
    assert 'data-testid="alerts-empty"' in page.text
    assert "Widen them" in page.text
