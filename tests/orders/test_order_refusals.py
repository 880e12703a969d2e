"""Bad input gets a clear 4xx and writes nothing; policies, races and expiry behave as promised."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests import factories
from tests.orders import world
from tests.orders.world import BEIJING, JEANS, LUJIAZUI, PEOPLES_SQUARE, TEE, line, order, stock
from yipan.channels import service as channels
from yipan.channels.schemas import ChannelIn, RoutingRules
from yipan.inventory.service import atp as inventory_atp
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.orders.domain.fulfilment import Action
from yipan.orders.schemas import ActionIn, OrderIn
from yipan.orders.service import capture, lifecycle, queries

BAD_ORDERS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown SKU", order("X-1", [line("NO-SUCH-SKU")], address=LUJIAZUI), 422, "UNKNOWN_SKU"),
    (
        "unknown pickup node",
        order("X-2", [line(method="pickup", pickup_node="ST-NOWHERE")]),
        422,
        "UNKNOWN_NODE",
    ),
    (
        "unknown channel",
        order("X-3", [line()], channel="jd", address=LUJIAZUI),
        404,
        "UNKNOWN_CHANNEL",
    ),
    (
        "pickup at a store without a counter",
        order("X-4", [line(method="pickup", pickup_node="ST-SH-3")]),
        422,
        "PICKUP_NOT_OFFERED",
    ),
    (
        "pickup at a warehouse",
        order("X-5", [line(method="pickup", pickup_node="WH-KS")]),
        422,
        "PICKUP_NOT_OFFERED",
    ),
    (
        "address outside every delivery radius",
        order("X-6", [line(method="local_delivery")], address=world.SUZHOU),
        422,
        "OUTSIDE_DELIVERY_AREA",
    ),
    ("negative quantity", order("X-7", [line(qty=-1)], address=LUJIAZUI), 422, "VALIDATION_ERROR"),
    ("zero quantity", order("X-8", [line(qty=0)], address=LUJIAZUI), 422, "VALIDATION_ERROR"),
    (
        "total does not add up",
        {**order("X-9", [line(qty=2)], address=LUJIAZUI), "total_fen": 9900},
        422,
        "SUMS_DO_NOT_ADD_UP",
    ),
    (
        "line discount above the line",
        {**order("X-10", [line(line_discount_fen=10_000)], address=LUJIAZUI), "total_fen": 0},
        422,
        "SUMS_DO_NOT_ADD_UP",
    ),
    (
        "order discount above the goods",
        {**order("X-11", [line()], address=LUJIAZUI), "order_discount_fen": 10_000, "total_fen": 0},
        422,
        "SUMS_DO_NOT_ADD_UP",
    ),
    ("shipping without an address", order("X-12", [line()]), 422, "INVALID_ORDER"),
    (
        "a price in yuan with decimals",
        order("X-13", [line(price=99.5)], address=LUJIAZUI),  # type: ignore[arg-type]
        422,
        "VALIDATION_ERROR",
    ),
    (
        "pickup without a store",
        order("X-14", [line(method="pickup")]),
        422,
        "VALIDATION_ERROR",
    ),
    (
        "more than any node holds",
        order("X-15", [line(qty=1000)], address=LUJIAZUI),
        409,
        "OUT_OF_STOCK",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS]
)
def test_bad_orders_are_refused_clearly_and_write_nothing(
    engine: Engine, case: str, body: dict[str, Any], status: int, code: str
) -> None:
    with world.client(engine) as client:
        before = world.footprint(engine)
        response = client.post("/api/v1/orders", json=body)
        assert (response.status_code, response.json()["code"]) == (status, code), case
        assert response.json()["message"]
        assert world.footprint(engine) == before
        assert stock(engine, TEE, "ST-SH-2") == (5, 0)


def test_the_sum_error_names_the_field_and_what_was_expected(engine: Engine) -> None:
    with world.client(engine) as client:
        body = {
            **order("X-20", [line(qty=2), line(JEANS, price=39900)], address=LUJIAZUI),
            "total_fen": 1,
        }
        problems = client.post("/api/v1/orders", json=body).json()["details"]["problems"]
        assert problems == [
            {
                "problem": "total_mismatch",
                "field": "total_fen",
                "line_no": None,
                "expected": 2 * 9900 + 39900,
                "given": 1,
            }
        ]


def test_a_bad_pos_receipt_writes_nothing(engine: Engine) -> None:
    with world.client(engine) as client:
        receipt = {
            "channel": "tmall",  # not a till
            "receipt_id": "R-9",
            "store": "ST-SH-1",
            "lines": [{"sku": TEE, "quantity": 1, "unit_price_fen": 9900}],
            "total_fen": 9900,
            "sold_at": "2026-11-20T10:00:00+08:00",
        }
        before = world.footprint(engine)
        wrong_channel = client.post("/api/v1/pos/receipts", json=receipt)
        assert (wrong_channel.status_code, wrong_channel.json()["code"]) == (422, "INVALID_ORDER")
        bad_sum = client.post(
            "/api/v1/pos/receipts", json={**receipt, "channel": "pos", "total_fen": 1}
        )
        assert (bad_sum.status_code, bad_sum.json()["code"]) == (422, "SUMS_DO_NOT_ADD_UP")
        no_store = client.post(
            "/api/v1/pos/receipts", json={**receipt, "channel": "pos", "store": "ST-X"}
        )
        assert (no_store.status_code, no_store.json()["code"]) == (422, "UNKNOWN_NODE")
        assert world.footprint(engine) == before
        assert stock(engine, TEE, "ST-SH-1") == (5, 0)


def test_returns_are_refused_outside_the_window_and_at_nodes_that_take_none(engine: Engine) -> None:
    world.build(engine)
    clock = FakeClock()
    with unit_of_work(engine) as session:
        placed = capture.place_order(
            session, OrderIn.model_validate(order("TM-R", [line()], address=BEIJING)), clock=clock
        ).order
    fid = placed.fulfilments[0].id
    with unit_of_work(engine) as session:
        for action in (Action.START_PICKING, Action.PACK, Action.SHIP, Action.DELIVER):
            lifecycle.advance(session, fid, action, ActionIn(), clock=clock)
    from yipan.orders.errors import ReturnNotAllowed
    from yipan.orders.schemas import ReturnIn
    from yipan.orders.service import returns

    back = ReturnIn(
        order_id=placed.id,
        node="ST-SH-1",
        idempotency_key="R-1",
        lines=[{"line_no": 1, "quantity": 1}],
    )  # type: ignore[list-item]
    clock.advance(days=7)  # the channel's 7-day window has just closed
    with unit_of_work(engine) as session, pytest.raises(ReturnNotAllowed, match="window"):
        returns.take_return(session, back, clock=clock)
    clock.advance(seconds=-1)
    with unit_of_work(engine) as session:
        ret, created = returns.take_return(session, back, clock=clock)
    assert created
    assert ret.refund_fen == 9900
    factories.node(engine, "ST-NO-RETURNS", can_receive_returns=False)
    other = back.model_copy(update={"idempotency_key": "R-2", "node": "ST-NO-RETURNS"})
    with (
        unit_of_work(engine) as session,
        pytest.raises(ReturnNotAllowed, match="does not take returns"),
    ):
        returns.take_return(session, other, clock=clock)


def test_a_channel_that_excludes_stores_ships_from_warehouses(engine: Engine) -> None:
    with world.client(engine) as client:
        rules = {
            "code": "tmall",
            "name": "tmall",
            "type": "marketplace",
            "routing": {"excluded_node_types": ["store"]},
        }
        assert client.put("/api/v1/channels/tmall", json=rules).status_code == 200
        placed = client.post(
            "/api/v1/orders", json=order("TM-P1", [line()], address=LUJIAZUI)
        ).json()
        assert placed["order"]["fulfilments"][0]["node"] == "WH-KS"
        decision = client.get(f"/api/v1/orders/{placed['order']['id']}/routing").json()[0]
        # ST-SH-1 and ST-SH-2 ship and are turned down for their type; ST-SH-3 does not ship,
        # so a shipping order never reads it.
        rejected = decision["explanation"]["groups"][0]["rejected_sample"]
        assert {(r["node"], r["reason"]) for r in rejected} == {
            ("ST-SH-1", "excluded_type"),
            ("ST-SH-2", "excluded_type"),
        }

        near_only = {**rules, "routing": {"max_distance_km": 10}}
        client.put("/api/v1/channels/tmall", json=near_only)
        far = client.post("/api/v1/orders", json=order("TM-P2", [line()], address=BEIJING))
        assert far.json()["order"]["fulfilments"][0]["node"] == "WH-BJ"
        too_far = client.post("/api/v1/orders", json=order("TM-P3", [line()], address=world.SUZHOU))
        assert (too_far.status_code, too_far.json()["code"]) == (409, "OUT_OF_STOCK")


def test_a_channel_without_splits_refuses_what_one_node_cannot_serve(engine: Engine) -> None:
    with world.client(engine) as client:
        # 150 tees: no node holds them all; WH-KS (100) and WH-BJ (100) could together.
        split = client.post(
            "/api/v1/orders", json=order("TM-S1", [line(qty=150)], address=LUJIAZUI)
        )
        assert split.status_code == 201
        assert len(split.json()["order"]["fulfilments"]) == 2
        rules = {
            "code": "miniapp",
            "name": "m",
            "type": "mini_program",
            "routing": {"allow_split": False},
        }
        client.put("/api/v1/channels/miniapp", json=rules)
        whole = client.post(
            "/api/v1/orders",
            json=order("MP-S1", [line(qty=60)], channel="miniapp", address=LUJIAZUI),
        )
        assert (whole.status_code, whole.json()["code"]) == (409, "OUT_OF_STOCK")


def test_when_stock_moves_after_routing_the_next_candidate_is_held(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.build(engine)
    real = inventory_atp.sourcing_nodes
    with unit_of_work(engine, readonly=True) as session:
        stale = real(session, [TEE], channel="tmall")  # read before ST-SH-2 sells out
    reads: list[int] = []

    def stale_first(session: Any, skus: Any, **kw: Any) -> Any:
        reads.append(1)
        return stale if len(reads) == 1 else real(session, skus, **kw)

    with unit_of_work(engine) as session:
        capture.record_pos_receipt(
            session,
            capture.PosReceiptIn(
                channel="pos",
                receipt_id="SELL-OUT",
                store="ST-SH-2",
                lines=[{"sku": TEE, "quantity": 5, "unit_price_fen": 9900}],  # type: ignore[list-item]
                total_fen=5 * 9900,
                sold_at=FakeClock().now(),
            ),
        )
    monkeypatch.setattr(inventory_atp, "sourcing_nodes", stale_first)
    with unit_of_work(engine) as session:
        placed = capture.place_order(
            session, OrderIn.model_validate(order("TM-R1", [line()], address=LUJIAZUI))
        )
    assert [f.node for f in placed.order.fulfilments] == ["ST-SH-1"]
    with unit_of_work(engine, readonly=True) as session:
        (decision,) = queries.routing_decisions(session, placed.order.id)
    assert decision.explanation["attempt"] == 2
    assert decision.explanation["lost_races"][0]["node"] == "ST-SH-2"
    assert stock(engine, TEE, "ST-SH-2") == (0, 0)
    assert stock(engine, TEE, "ST-SH-1") == (5, 1)


def test_a_pickup_left_waiting_expires_and_its_stock_goes_back_on_sale(engine: Engine) -> None:
    world.build(engine)
    clock = FakeClock()
    body = order(
        "MP-E",
        [line(method="pickup", pickup_node="ST-SH-1")],
        channel="miniapp",
        address=PEOPLES_SQUARE,
    )
    with unit_of_work(engine) as session:
        placed = capture.place_order(session, OrderIn.model_validate(body), clock=clock).order
    fid = placed.fulfilments[0].id
    with unit_of_work(engine) as session:
        lifecycle.advance(session, fid, Action.MARK_READY, ActionIn(), clock=clock)
    clock.advance(days=3, seconds=-1)
    with unit_of_work(engine) as session:
        assert lifecycle.expire_pickups(session, hold_days=3, clock=clock) == 0
    assert stock(engine, TEE, "ST-SH-1") == (5, 1)
    clock.advance(seconds=1)
    with unit_of_work(engine) as session:
        assert lifecycle.expire_pickups(session, hold_days=3, clock=clock) == 1
    assert stock(engine, TEE, "ST-SH-1") == (5, 0)
    with unit_of_work(engine, readonly=True) as session:
        (f,) = queries.get_order(session, placed.id).fulfilments
        trail = queries.order_events(session, placed.id)
    assert f.state == "expired"
    with unit_of_work(engine, readonly=True) as session:
        after = queries.get_order(session, placed.id)
    assert (after.state, after.lines[0].status) == ("cancelled", "not_collected")
    assert any(e.type == "fulfilment.expire" and e.actor == "system:pickup-expiry" for e in trail)


def test_capacity_used_today_steers_orders_away_from_a_full_node(engine: Engine) -> None:
    world.build(engine)
    # Both Shanghai stores hand out one parcel a day; the channel does not weigh capacity, so it
    # acts only as a limit.
    for code, lat, lon in [("ST-SH-1", 31.2320, 121.4750), ("ST-SH-2", 31.2380, 121.5000)]:
        factories.node(engine, code, lat=lat, lon=lon, can_ship=True, daily_capacity=1)
    with unit_of_work(engine) as session:
        rules = RoutingRules(capacity_weight=0)
        channels.save_channel(
            session, ChannelIn(code="tmall", name="tmall", type="marketplace", routing=rules)
        )
    placed = []
    for n in range(2):
        with unit_of_work(engine) as session:
            body = OrderIn.model_validate(order(f"TM-C{n}", [line()], address=LUJIAZUI))
            placed.append(capture.place_order(session, body).order)
    assert [p.fulfilments[0].node for p in placed] == ["ST-SH-2", "ST-SH-1"]
    with unit_of_work(engine, readonly=True) as session:
        (decision,) = queries.routing_decisions(session, placed[1].id)
    rejected = decision.explanation["groups"][0]["rejected_sample"]
    assert {
        "node": "ST-SH-2",
        "reason": "at_capacity",
        "detail": "no shipments left today",
    } in rejected
