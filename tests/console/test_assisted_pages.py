"""The guide-assisted order page over HTTP, on SQLite and PostgreSQL: finding the customer by
phone, the cart with stock and prices, placing a pickup or a ship-home order credited to the
guide and the store, the refusals that write nothing, and who may place for which store."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests import factories
from tests.console.staff import Staff, staff_console
from tests.orders.world import JEANS, TEE, footprint, stock
from yipan.auth.domain import Role
from yipan.kernel.db import unit_of_work
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.schemas import OrderOut
from yipan.orders.service import queries

PAGE = "/console/desk/assisted-order"
PHONE = "13912345678"
SOLD_OUT = "SOLD-OUT-1"
STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
    ("guide2", Role.STORE_GUIDE, "ST-SH-2"),
    ("shanghai", Role.REGION_MANAGER, "上海市"),
    ("planner", Role.PLANNER, None),
]


@pytest.fixture
def shop(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        factories.sku(engine, SOLD_OUT, list_price_fen=5900)  # in the catalogue, nowhere in stock
        yield signed_in


def member(engine: Engine, record_id: str = "card-1", name: str = "张三") -> str:
    record = SourceRecordIn(
        source="pos",
        record_id=record_id,
        name=name,
        identities=[
            IdentityIn(kind="phone", value=PHONE),
            IdentityIn(kind="pos_card", value=f"card-of-{record_id}"),
        ],
    )
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def notice(page: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def hidden(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]*)"', html)


def order_form(html: str, **hows: str) -> dict[str, Any]:
    """The order form as the page rendered it, with the pickup / ship choice of each line."""
    place = html.split('data-testid="place-form"')[1].split("</form>")[0]
    form: dict[str, Any] = {}
    for name in ("csrf_token", "idempotency_key", "total", "store", "phone", "member", "walkin"):
        values = hidden(place, name)
        if values:
            form[name] = values[0]
    for name in ("sku", "qty", "price"):
        form[name] = hidden(place, name)
    form.update(hows)
    return form


def orders_placed(engine: Engine) -> list[OrderOut]:
    with unit_of_work(engine, readonly=True) as session:
        found = queries.list_orders(session, queries.OrderQuery(channel="guide"))
        return [queries.get_order(session, o.id) for o in found]


def test_a_guide_finds_a_member_by_phone_and_places_a_pickup_order_at_their_store(
    shop: Staff,
) -> None:
    member_id = member(shop.engine)
    guide = shop.as_("guide1")

    found = guide.get(PAGE, params={"phone": "139 1234 5678"})
    assert found.status_code == 200
    assert member_id in found.text
    assert 'data-testid="step-cart"' in found.text

    cart = guide.get(
        PAGE, params={"phone": "139 1234 5678", "member": member_id, "add_sku": TEE, "add_qty": "2"}
    )
    assert cart.status_code == 200
    line = cart.text.split(f'data-testid="line-{TEE}"')[1].split("</article>")[0]
    assert "5 here" in line  # ST-SH-1's stock
    assert "¥198.00" in line
    assert "¥99.00 each" in line
    assert 'value="pickup:ST-SH-1" checked' in cart.text  # the store has it: pickup here

    placed = guide.post(PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-1"))
    assert placed.status_code == 200
    assert "Order placed" in placed.text
    [order] = orders_placed(shop.engine)
    assert f'data-testid="order-number">{order.id}<' in placed.text
    assert (order.kind, order.guide, order.store) == ("guide", "guide1", "ST-SH-1")
    assert order.member_id == member_id
    assert order.total_fen == 19800
    [pickup] = order.fulfilments
    assert (pickup.node, pickup.kind, pickup.state) == ("ST-SH-1", "pickup", "allocated")
    assert stock(shop.engine, TEE, "ST-SH-1") == (5, 2)  # held for the customer


def test_sending_the_same_order_form_twice_places_one_order(shop: Staff) -> None:
    guide = shop.as_("guide1")
    cart = guide.get(PAGE, params={"walkin": "1", "add_sku": TEE})
    form = order_form(cart.text, how_1="pickup:ST-SH-1")

    first = guide.post(PAGE, data=form, follow_redirects=False)
    again = guide.post(PAGE, data=form, follow_redirects=False)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(orders_placed(shop.engine)) == 1
    assert stock(shop.engine, TEE, "ST-SH-1") == (5, 1)


def test_a_walk_in_order_ships_home_when_the_store_lacks_the_quantity(shop: Staff) -> None:
    guide = shop.as_("guide1")
    cart = guide.get(
        PAGE, params={"walkin": "1", "phone": "13700001111", "add_sku": JEANS, "add_qty": "3"}
    )
    # ST-SH-1 has 2 jeans, the other pickup stores none: only shipping is offered.
    assert re.search(r'value="pickup:ST-SH-1"\s+disabled', cart.text)
    assert re.search(r'value="ship" checked', cart.text)

    form = order_form(cart.text, how_1="ship")
    form |= {
        "address_line": "人民大道 200 号",
        "address_city": "上海",
        "address_phone": "13700001111",
    }
    placed = guide.post(PAGE, data=form)

    assert placed.status_code == 200, notice(placed.text)
    [order] = orders_placed(shop.engine)
    assert order.member_id is None
    [parcel] = order.fulfilments
    assert (parcel.method, parcel.node) == ("ship", "WH-KS")  # the warehouse near the store


def test_a_line_can_be_picked_up_at_a_nearby_store_that_has_it(shop: Staff) -> None:
    guide = shop.as_("guide2")  # ST-SH-2 has no jeans; ST-SH-1, 3 km away, has two
    cart = guide.get(PAGE, params={"walkin": "1", "add_sku": JEANS, "add_qty": "2"})
    assert re.search(r'value="pickup:ST-SH-1" checked', cart.text)

    placed = guide.post(PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-1"))

    assert placed.status_code == 200, notice(placed.text)
    [order] = orders_placed(shop.engine)
    assert order.store == "ST-SH-2"  # credited to the guide's store, picked up at the other
    assert [f.node for f in order.fulfilments] == ["ST-SH-1"]


@pytest.mark.parametrize(
    ("sku", "qty", "says", "status"),
    [
        ("", "1", "Type a SKU code or scan a barcode", 422),
        ("NOPE-1", "1", "No SKU has the code or barcode “NOPE-1”", 422),
        (TEE, "0", "is a whole number from 1 to 100000", 422),
        (TEE, "-1", "is a whole number from 1 to 100000", 422),
        (TEE, "two", "is a whole number from 1 to 100000", 422),
        (TEE, "1.5", "is a whole number from 1 to 100000", 422),
        (TEE, "99999999999999999999", "is a whole number from 1 to 100000", 422),
        (SOLD_OUT, "1", f"No store or warehouse has {SOLD_OUT} to sell", 409),
        (TEE, "5000", f"Only 215 of {TEE} can be sold across all stores and warehouses", 409),
    ],
)
def test_a_bad_line_is_not_added_and_says_why(
    shop: Staff, sku: str, qty: str, says: str, status: int
) -> None:
    guide = shop.as_("guide1")
    cart = guide.get(
        PAGE, params={"walkin": "1", "sku": JEANS, "qty": "1", "add_sku": sku, "add_qty": qty}
    )

    assert cart.status_code == status
    assert says in notice(cart.text)
    assert hidden(cart.text.split('data-testid="place-form"')[1], "sku") == [JEANS]  # unchanged


def _ship_form(shop: Staff) -> dict[str, Any]:
    cart = shop.as_("guide1").get(PAGE, params={"walkin": "1", "add_sku": TEE})
    form = order_form(cart.text, how_1="ship")
    return form | {"address_line": "人民大道 200 号", "address_phone": "13700001111"}


@pytest.mark.parametrize(
    ("change", "says", "status"),
    [
        ({"qty": ["0"]}, "is a whole number from 1 to 100000", 422),
        ({"qty": ["lots"]}, "is a whole number from 1 to 100000", 422),
        ({"sku": ["NOPE-1"]}, "No SKU has the code or barcode “NOPE-1”", 422),
        ({"how_1": ""}, "Line 1 (TEE-WHT-M) has no way to be handed over", 422),
        ({"address_line": ""}, "Shipping home needs the address", 422),
        ({"address_phone": "call me"}, "needs a valid recipient's phone", 422),
        ({"address_lat": "31.2"}, "Give both latitude", 422),
        ({"address_lat": "north", "address_lon": "east"}, "Give both latitude", 422),
        ({"address_lat": "95", "address_lon": "121.4"}, "Give both latitude", 422),
        ({"price": ["100"]}, "A price or a promotion changed just now", 409),
        ({"total": "1"}, "A price or a promotion changed just now", 409),
        ({"idempotency_key": ""}, "The form has expired or is incomplete", 403),
        ({"walkin": "", "phone": "13800000000"}, "No member has the phone 13800000000", 404),
        ({"csrf_token": "forged"}, "The form has expired (its security token", 403),
    ],
)
def test_a_refused_order_says_why_and_writes_nothing(
    shop: Staff, change: dict[str, Any], says: str, status: int
) -> None:
    form = _ship_form(shop) | change
    before = footprint(shop.engine)

    refused = shop.as_("guide1").post(PAGE, data=form)

    assert refused.status_code == status
    assert says in notice(refused.text)
    assert footprint(shop.engine) == before
    assert orders_placed(shop.engine) == []


def test_a_pickup_at_a_store_without_the_stock_is_refused_with_nothing_written(
    shop: Staff,
) -> None:
    guide = shop.as_("guide2")
    cart = guide.get(PAGE, params={"walkin": "1", "add_sku": JEANS})
    before = footprint(shop.engine)

    # The page offers no pickup at ST-SH-2 (no jeans there); a tampered form asks anyway.
    refused = guide.post(PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-2"))

    assert refused.status_code == 409
    assert "The stock changed just now" in notice(refused.text)
    assert footprint(shop.engine) == before


def test_an_unknown_or_malformed_phone_says_so_and_offers_the_walk_in(shop: Staff) -> None:
    guide = shop.as_("guide1")
    unknown = guide.get(PAGE, params={"phone": "13800000000"})
    assert unknown.status_code == 404
    assert "No member has the phone 13800000000" in notice(unknown.text)
    assert 'data-testid="walk-in"' in unknown.text
    assert 'data-testid="step-cart"' not in unknown.text

    malformed = guide.get(PAGE, params={"phone": "not-a-phone"})
    assert malformed.status_code == 422
    assert "“not-a-phone” is not a phone number" in notice(malformed.text)


def test_a_phone_shared_by_two_members_asks_which(shop: Staff) -> None:
    first = member(shop.engine, "card-1")
    second = member(shop.engine, "card-2", "李四")  # one phone, two names: two members, a review
    page = shop.as_("guide1").get(PAGE, params={"phone": PHONE})
    assert first != second
    assert "2 members hold this phone" in page.text
    assert first in page.text
    assert second in page.text
    assert 'data-testid="step-cart"' not in page.text


def test_a_guide_of_another_store_cannot_place_for_it(shop: Staff) -> None:
    form = _ship_form(shop)
    before = footprint(shop.engine)
    other = shop.as_("guide2")
    form["csrf_token"] = shop.csrf("guide2")

    refused = other.post(PAGE, data=form | {"store": "ST-SH-1"})
    seen = other.get(PAGE, params={"store": "ST-SH-1", "walkin": "1"})

    assert refused.status_code == seen.status_code == 404
    assert "not one of your stores" in notice(refused.text)
    assert footprint(shop.engine) == before


@pytest.mark.parametrize("who", ["shanghai", "planner"])
def test_roles_off_the_store_floor_cannot_place(shop: Staff, who: str) -> None:
    form = _ship_form(shop) | {"store": "ST-SH-1", "csrf_token": shop.csrf(who)}
    before = footprint(shop.engine)
    client = shop.as_(who)

    assert client.get(PAGE, params={"store": "ST-SH-1"}).status_code == 403
    refused = client.post(PAGE, data=form)
    assert refused.status_code == 403
    assert "Only store guides, store managers and HQ admins" in notice(refused.text)
    assert footprint(shop.engine) == before


def test_hq_chooses_the_store_first_and_places_for_it(shop: Staff) -> None:
    hq = shop.as_("hq")
    first = hq.get(PAGE)
    assert 'data-testid="assist-choose-store"' in first.text
    assert hq.get(PAGE, params={"store": "WH-KS"}).status_code == 404  # not a store

    cart = hq.get(PAGE, params={"store": "ST-SH-2", "walkin": "1", "add_sku": TEE})
    placed = hq.post(PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-2"))

    assert placed.status_code == 200, notice(placed.text)
    [order] = orders_placed(shop.engine)
    assert (order.guide, order.store) == ("hq", "ST-SH-2")


def test_a_pickup_here_can_be_made_ready_at_once_and_shows_its_code(shop: Staff) -> None:
    guide = shop.as_("guide1")
    cart = guide.get(PAGE, params={"walkin": "1", "add_sku": TEE})
    placed = guide.post(PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-1"))
    ready = re.search(
        r'action="(/console/desk/assisted-order/orders/\d+/pickups/\d+/ready)"', placed.text
    )
    assert ready is not None
    form = {"csrf_token": shop.csrf("guide1"), "store": "ST-SH-1"}

    shown = guide.post(ready.group(1), data=form)
    again = guide.post(ready.group(1), data=form)  # a reload sends it again

    code = re.search(r'data-testid="pickup-code">.*?<strong>(\d+)</strong>', shown.text, re.S)
    assert code is not None
    assert code.group(1) in again.text
    [order] = orders_placed(shop.engine)
    assert order.fulfilments[0].state == "ready_for_pickup"


def test_the_placed_page_shows_only_this_stores_assisted_orders(shop: Staff) -> None:
    guide = shop.as_("guide1")
    cart = guide.get(PAGE, params={"walkin": "1", "add_sku": TEE})
    placed = guide.post(
        PAGE, data=order_form(cart.text, how_1="pickup:ST-SH-1"), follow_redirects=False
    )
    where = placed.headers["location"]
    order_id = re.search(r"/orders/(\d+)", where)
    assert order_id is not None

    assert guide.get(where).status_code == 200
    elsewhere = shop.as_("guide2").get(f"{PAGE}/orders/{order_id.group(1)}")
    assert elsewhere.status_code == 404
    assert shop.as_("guide1").get(f"{PAGE}/orders/999999").status_code == 404
    assert shop.as_("guide1").get(f"{PAGE}/orders/abc").status_code == 404


def test_the_desk_and_the_member_page_lead_to_the_assisted_order(shop: Staff) -> None:
    member_id = member(shop.engine)
    hq = shop.as_("hq")
    desk = hq.get("/console/desk", params={"store": "ST-SH-1"})
    assert f'href="{PAGE}?store=ST-SH-1"' in desk.text

    profile = hq.get(f"/console/members/{member_id}")
    assert f'href="{PAGE}?member={member_id}"' in profile.text
    # HQ picks the store; the member comes along.
    chosen = hq.get(PAGE, params={"member": member_id})
    assert f'name="member" value="{member_id}"' in chosen.text
    started = hq.get(PAGE, params={"member": member_id, "store": "ST-SH-1"})
    assert member_id in started.text
    assert 'data-testid="step-cart"' in started.text


def test_a_member_id_alone_is_taken_only_within_the_users_scope(shop: Staff) -> None:
    member_id = member(shop.engine)  # never bought at ST-SH-1, bound to no store
    by_id = shop.as_("guide1").get(PAGE, params={"member": member_id})
    assert by_id.status_code == 404
    assert f"Member {member_id} cannot be found" in notice(by_id.text)
    # By phone the customer at the counter is found all the same.
    by_phone = shop.as_("guide1").get(PAGE, params={"phone": PHONE})
    assert member_id in by_phone.text
