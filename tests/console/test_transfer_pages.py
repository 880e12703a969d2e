"""The transfers pages over HTTP, on SQLite and PostgreSQL: "Transfer here" from the stock table,
the request form with the best source suggested, ship and receive, the list with its filters,
paging and data scopes, and the refusals that write nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import JEANS, TEE, footprint, stock
from yipan.auth.domain import Role
from yipan.inventory.schemas import TransferIn, TransferLineIn, TransferOut
from yipan.inventory.service import nodes, transfers
from yipan.kernel.db import unit_of_work

PAGE = "/console/inventory/transfers"
STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("planner", Role.PLANNER, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("boss2", Role.STORE_MANAGER, "ST-SH-2"),
    ("shanghai", Role.REGION_MANAGER, "上海市"),
    ("beijing", Role.REGION_MANAGER, "北京市"),
]


@pytest.fixture
def pool(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        with unit_of_work(engine) as session:
            # ST-SH-2 holds no jeans and reorders at 4: it is short.
            nodes.set_stock_policy(
                session, sku=JEANS, node="ST-SH-2", safety_stock=0, reorder_point=4
            )
        yield signed_in


def notice(page: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    assert found is not None, name
    return html.unescape(found.group(1))


def filled_form(pool: Staff, who: str, **query: str) -> dict[str, str]:
    """The request form as the page filled it in for `who`, ready to send."""
    page = pool.as_(who).get(f"{PAGE}/new", params=query)
    assert page.status_code == 200, notice(page.text)
    names = ("sku", "source", "destination", "quantity", "reason", "idempotency_key", "csrf_token")
    return {name: field(page.text, name) for name in names}


def all_transfers(engine: Engine) -> list[TransferOut]:
    with unit_of_work(engine, readonly=True) as session:
        return transfers.list_transfers(session)


def requested(engine: Engine, source: str, destination: str, sku: str = TEE, qty: int = 1) -> str:
    transfer_in = TransferIn(
        source=source, destination=destination, lines=[TransferLineIn(sku=sku, quantity=qty)]
    )
    with unit_of_work(engine) as session:
        return transfers.request_transfer(session, transfer_in).code


def step(pool: Staff, who: str, code: str, action: str, **data: Any) -> Any:
    return pool.as_(who).post(
        f"{PAGE}/{code}/{action}", data={"csrf_token": pool.csrf(who), **data}
    )


def test_a_short_node_offers_transfer_here_and_the_form_suggests_the_best_source(
    pool: Staff,
) -> None:
    table = pool.as_("hq").get("/console/inventory", params={"sku": JEANS})
    links = re.findall(r'href="(/console/inventory/transfers/new\?[^"]+)"', table.text)
    assert [html.unescape(link) for link in links] == [f"{PAGE}/new?sku={JEANS}&to=ST-SH-2"]

    form = pool.as_("hq").get(f"{PAGE}/new", params={"sku": JEANS, "to": "ST-SH-2"})

    assert form.status_code == 200
    # Both warehouses spare 50; the nearer one is suggested, for the 4 ST-SH-2 lacks.
    assert "Suggested source: WH-KS" in form.text
    assert field(form.text, "source") == "WH-KS"
    assert field(form.text, "quantity") == "4"
    assert "ST-SH-2 can sell 0 now; it is low under 4." in html.unescape(form.text)


def test_a_planner_requests_a_transfer_and_a_double_submit_requests_it_once(pool: Staff) -> None:
    form = filled_form(pool, "planner", sku=JEANS, to="ST-SH-2")
    planner = pool.as_("planner")

    first = planner.post(PAGE, data=form, follow_redirects=False)
    again = planner.post(PAGE, data=form, follow_redirects=False)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    [made] = all_transfers(pool.engine)
    assert (made.source, made.destination, made.status) == ("WH-KS", "ST-SH-2", "requested")
    assert made.requested_by == "planner"
    assert stock(pool.engine, JEANS, "WH-KS") == (50, 4)  # held at the source
    shown = planner.get(first.headers["location"])
    assert f"Transfer {made.code} requested" in notice(shown.text)


def test_the_source_ships_and_the_destination_receives(pool: Staff) -> None:
    code = requested(pool.engine, "ST-SH-1", "ST-SH-2", JEANS, 2)

    wrong_end = step(pool, "boss2", code, "ship")  # ST-SH-2 is not where the goods leave
    assert wrong_end.status_code == 403
    assert "a requested transfer is shipped by the source's staff" in notice(wrong_end.text)
    shipped = step(pool, "boss1", code, "ship")
    assert shipped.status_code == 200
    assert f"Transfer {code} shipped" in notice(shipped.text)
    assert step(pool, "boss1", code, "ship").status_code == 200  # a double tap: done already

    not_theirs = step(pool, "boss1", code, "receive")
    assert not_theirs.status_code == 403
    assert "received by the destination's staff" in notice(not_theirs.text)
    received = step(pool, "boss2", code, "receive", line_sku=JEANS, received="1", damaged="1")
    assert received.status_code == 200
    assert f"Transfer {code} received" in notice(received.text)
    assert stock(pool.engine, JEANS, "ST-SH-1") == (0, 0)
    assert stock(pool.engine, JEANS, "ST-SH-2") == (1, 0)  # the damaged one never goes on hand


def test_receiving_more_than_was_shipped_is_refused_with_nothing_written(pool: Staff) -> None:
    code = requested(pool.engine, "WH-KS", "ST-SH-2", JEANS, 3)
    step(pool, "hq", code, "ship")

    for received, damaged, says in [
        ("9", "0", "cannot exceed what was shipped"),
        ("-1", "0", "are whole numbers, 0 or more"),
        ("two", "0", "are whole numbers, 0 or more"),
    ]:
        refused = step(
            pool, "shanghai", code, "receive", line_sku=JEANS, received=received, damaged=damaged
        )
        assert refused.status_code == 422
        assert says in notice(refused.text)
    [still] = all_transfers(pool.engine)
    assert still.status == "shipped"
    assert stock(pool.engine, JEANS, "ST-SH-2") == (0, 0)


def test_a_requested_transfer_can_be_cancelled_and_its_hold_released(pool: Staff) -> None:
    code = requested(pool.engine, "WH-KS", "ST-SH-2", JEANS, 3)
    assert stock(pool.engine, JEANS, "WH-KS") == (50, 3)

    cancelled = step(pool, "boss2", code, "cancel")

    assert f"Transfer {code} cancelled" in notice(cancelled.text)
    assert stock(pool.engine, JEANS, "WH-KS") == (50, 0)
    assert 'data-testid="ship"' not in cancelled.text


@pytest.mark.parametrize(
    ("change", "says", "status"),
    [
        ({"sku": ""}, "Give a SKU code or barcode", 422),
        ({"sku": "NOPE-1"}, "No SKU has the code or barcode “NOPE-1”", 422),
        ({"source": ""}, "Give the node to take from and the node to send to", 422),
        ({"source": "NO-SUCH"}, "No node has the code “NO-SUCH”", 404),
        ({"source": "ST-SH-2"}, "From and to must be different nodes", 422),
        ({"quantity": "0"}, "The quantity is a whole number from 1 to", 422),
        ({"quantity": "-4"}, "The quantity is a whole number from 1 to", 422),
        ({"quantity": "four"}, "The quantity is a whole number from 1 to", 422),
        ({"quantity": "999999999999"}, "The quantity is a whole number from 1 to", 422),
        ({"quantity": "51"}, "WH-KS can spare only 50 of JEANS-32, not 51", 409),
        ({"reason": "x" * 201}, "The reason has at most 200 characters", 422),
        ({"idempotency_key": "made-up"}, "The form has expired", 403),
        ({"csrf_token": "forged"}, "The form has expired", 403),
    ],
)
def test_a_refused_request_says_why_and_writes_nothing(
    pool: Staff, change: dict[str, str], says: str, status: int
) -> None:
    form = filled_form(pool, "hq", sku=JEANS, to="ST-SH-2") | change
    before = footprint(pool.engine)

    refused = pool.as_("hq").post(PAGE, data=form)

    assert refused.status_code == status
    assert says in notice(refused.text)
    assert footprint(pool.engine) == before
    assert all_transfers(pool.engine) == []


def test_a_guide_sees_the_stores_transfers_but_cannot_move_stock(pool: Staff) -> None:
    code = requested(pool.engine, "ST-SH-1", "ST-SH-2")
    form = filled_form(pool, "hq", sku=TEE, to="ST-SH-1") | {"csrf_token": pool.csrf("guide1")}
    guide = pool.as_("guide1")
    before = footprint(pool.engine)

    listing = guide.get(PAGE)
    assert code in listing.text
    assert 'data-testid="new-transfer"' not in listing.text
    assert guide.get(f"{PAGE}/new").status_code == 403
    assert "Your role cannot request or handle transfers" in notice(
        guide.post(PAGE, data=form).text
    )
    assert step(pool, "guide1", code, "ship").status_code == 403
    assert (
        'data-testid="transfer-here"'
        not in guide.get("/console/inventory", params={"sku": JEANS}).text
    )
    assert footprint(pool.engine) == before
    assert [t.status for t in all_transfers(pool.engine)] == ["requested"]


def test_a_store_manager_requests_only_transfers_touching_their_store(pool: Staff) -> None:
    form = filled_form(pool, "boss1", sku=TEE, source="WH-KS", to="WH-BJ", quantity="1")

    refused = pool.as_("boss1").post(PAGE, data=form)

    assert refused.status_code == 403
    assert "Neither node is in your scope" in notice(refused.text)
    assert all_transfers(pool.engine) == []


def test_each_scope_lists_the_transfers_in_and_out_of_its_nodes(pool: Staff) -> None:
    shanghai = requested(pool.engine, "WH-KS", "ST-SH-2")
    to_beijing = requested(pool.engine, "ST-SH-1", "WH-BJ")

    def codes(who: str, **query: str) -> set[str]:
        page = pool.as_(who).get(PAGE, params=query)
        assert page.status_code == 200, notice(page.text)
        return set(re.findall(r'data-testid="transfer-(TR-[^"]+)"', page.text))

    assert codes("hq") == {shanghai, to_beijing}
    assert codes("boss2") == {shanghai}
    assert codes("boss1") == {to_beijing}
    assert codes("shanghai") == {shanghai, to_beijing}
    assert codes("beijing") == {to_beijing}
    assert codes("hq", node="WH-BJ") == {to_beijing}
    assert codes("hq", state="shipped") == set()
    assert pool.as_("boss2").get(f"{PAGE}/{to_beijing}").status_code == 404  # not theirs
    assert pool.as_("beijing").get(f"{PAGE}/{to_beijing}").status_code == 200


@pytest.mark.parametrize(
    ("query", "says", "status"),
    [
        ({"state": "lost"}, "There is no state “lost”", 422),
        ({"node": "NO-SUCH"}, "No node has the code “NO-SUCH”", 404),
        ({"page": "0"}, "The page number is a whole number from 1 to", 422),
        ({"page": "x"}, "The page number is a whole number from 1 to", 422),
        ({"page": "7"}, "Page 7 has no transfers", 404),
    ],
)
def test_a_bad_filter_says_why(pool: Staff, query: dict[str, str], says: str, status: int) -> None:
    requested(pool.engine, "WH-KS", "ST-SH-2")
    page = pool.as_("hq").get(PAGE, params=query)
    assert page.status_code == status
    assert says in notice(page.text)


def test_a_store_manager_cannot_filter_by_another_node(pool: Staff) -> None:
    page = pool.as_("boss1").get(PAGE, params={"node": "ST-SH-2"})
    assert page.status_code == 403
    assert "Node ST-SH-2 is outside your scope" in notice(page.text)


@pytest.mark.parametrize("who", ["hq", "shanghai"])
def test_the_list_pages_newest_first(pool: Staff, who: str) -> None:
    made = [requested(pool.engine, "WH-KS", "ST-SH-2") for _ in range(51)]
    first = pool.as_(who).get(PAGE)
    second = pool.as_(who).get(PAGE, params={"page": "2"})

    shown = re.findall(r'data-testid="transfer-(TR-[^"]+)"', first.text)
    assert shown == list(reversed(made))[:50]
    assert 'rel="next"' in first.text
    assert re.findall(r'data-testid="transfer-(TR-[^"]+)"', second.text) == [made[0]]
    assert 'rel="next"' not in second.text
