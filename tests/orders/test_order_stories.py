"""The order stories of issue 3, told through the HTTP API on both backends."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.orders import world
from tests.orders.world import BEIJING, JEANS, LUJIAZUI, PEOPLES_SQUARE, TEE, line, order, stock
from yipan import wiring
from yipan.events import service as events
from yipan.events.models import OutboxEvent
from yipan.events.service import recent_events
from yipan.kernel.db import unit_of_work


def place(client: TestClient, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == status, response.json()
    return dict(response.json())


def step(
    client: TestClient, fulfilment_id: int, action: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    response = client.post(f"/api/v1/fulfilments/{fulfilment_id}/{action}", json=body)
    assert response.status_code == status, response.json()
    return dict(response.json())


def events_named(engine: Engine, name: str) -> list[dict[str, Any]]:
    with unit_of_work(engine, readonly=True) as session:
        return [e for e in recent_events(session, limit=500) if e["name"] == name]


def test_an_online_order_goes_to_the_nearest_store_with_stock_and_says_why(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        placed = place(client, order("TM-1", [line()], address=LUJIAZUI))["order"]
        (parcel,) = placed["fulfilments"]
        assert (parcel["node"], parcel["method"], parcel["state"]) == (
            "ST-SH-2",
            "ship",
            "allocated",
        )
        assert stock(engine, TEE, "ST-SH-2") == (5, 1)
        (decision,) = client.get(f"/api/v1/orders/{placed['id']}/routing").json()
        group = decision["explanation"]["groups"][0]
        assert group["chosen"]["nodes"] == ["ST-SH-2"]
        assert "ST-SH-2" in group["why"]
        scored = {p["nodes"][0]: p["total"] for p in group["plans"]}
        assert scored["ST-SH-2"] == min(scored.values())
        assert set(scored) >= {"ST-SH-1", "WH-KS", "WH-BJ"}
        # ST-SH-3 has the tee but does not ship: a shipping order does not even consider it.
        assert "ST-SH-3" not in scored
        assert group["rejected_by_reason"] == {}
        (placed_event,) = events_named(engine, "orders.OrderPlaced")
        assert placed_event["payload"]["lines"][0]["paid_fen"] == 9900


def test_a_replay_returns_the_same_order_and_a_changed_replay_is_refused(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order("TM-2", [line()], address=LUJIAZUI)
        first = place(client, body)
        again = place(client, body, status=200)
        assert again["created"] is False
        assert again["order"]["id"] == first["order"]["id"]
        assert stock(engine, TEE, "ST-SH-2") == (5, 1)  # held once
        before = world.footprint(engine)
        changed = client.post("/api/v1/orders", json=order("TM-2", [line(qty=2)], address=LUJIAZUI))
        assert (changed.status_code, changed.json()["code"]) == (409, "ORDER_REPLAY_MISMATCH")
        assert changed.json()["details"]["order_id"] == first["order"]["id"]
        assert world.footprint(engine) == before


def test_buy_online_pick_up_in_store_with_a_code(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order(
            "MP-1",
            [line(method="pickup", pickup_node="ST-SH-1")],
            channel="miniapp",
            customer={"member_id": "M-1"},
        )
        placed = place(client, body)["order"]
        (pickup,) = placed["fulfilments"]
        assert (pickup["kind"], pickup["node"], pickup["state"]) == (
            "pickup",
            "ST-SH-1",
            "allocated",
        )
        assert stock(engine, TEE, "ST-SH-1") == (5, 1)

        ready = step(client, pickup["id"], "mark_ready", actor="clerk-7", terminal="PAD-3")
        code = ready["pickup_code"]
        assert code is not None
        assert len(code) == 6
        assert code.isdigit()
        assert ready["fulfilment"]["state"] == "ready_for_pickup"
        (notice,) = events_named(engine, "orders.PickupReady")
        assert notice["payload"] == {
            "order_id": placed["id"],
            "fulfilment_id": pickup["id"],
            "node": "ST-SH-1",
            "member_id": "M-1",
            "pickup_code": code,
        }
        assert "pickup_code" not in client.get(f"/api/v1/orders/{placed['id']}").text

        wrong = "000000" if code != "000000" else "111111"
        refused = client.post(f"/api/v1/fulfilments/{pickup['id']}/hand_over", json={"code": wrong})
        assert (refused.status_code, refused.json()["code"]) == (409, "WRONG_PICKUP_CODE")
        assert stock(engine, TEE, "ST-SH-1") == (5, 1)

        spaced = f"{code[:3]} {code[3:]}"  # read out in two groups at the counter
        done = step(
            client, pickup["id"], "hand_over", code=spaced, actor="clerk-7", terminal="PAD-3"
        )
        assert done["fulfilment"]["state"] == "picked_up"
        assert stock(engine, TEE, "ST-SH-1") == (4, 0)  # the hold became a sale
        order_now = client.get(f"/api/v1/orders/{placed['id']}").json()
        assert order_now["state"] == "completed"
        assert len(events_named(engine, "orders.OrderCompleted")) == 1

        trail = client.get(f"/api/v1/orders/{placed['id']}/events").json()
        steps = [(e["type"], e["actor"], e["terminal"]) for e in trail]
        assert ("fulfilment.mark_ready", "clerk-7", "PAD-3") in steps
        assert ("fulfilment.hand_over", "clerk-7", "PAD-3") in steps
        assert steps[-1][0] == "order.completed"


def test_same_city_delivery_is_promised_within_the_hour_and_refused_out_of_range(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        placed = place(
            client,
            order(
                "MP-2", [line(method="local_delivery")], channel="miniapp", address=PEOPLES_SQUARE
            ),
        )["order"]
        (run,) = placed["fulfilments"]
        assert (run["node"], run["method"], run["kind"]) == (
            "ST-SH-1",
            "local_delivery",
            "shipment",
        )
        promised = run["promised_by"]
        assert promised is not None
        from datetime import datetime

        gap = datetime.fromisoformat(promised) - datetime.fromisoformat(placed["placed_at"])
        assert gap.total_seconds() == 3600

        before = world.footprint(engine)
        far = client.post(
            "/api/v1/orders",
            json=order(
                "MP-3", [line(method="local_delivery")], channel="miniapp", address=world.SUZHOU
            ),
        )
        assert (far.status_code, far.json()["code"]) == (422, "OUTSIDE_DELIVERY_AREA")
        assert world.footprint(engine) == before


def test_one_order_mixes_a_pickup_now_and_a_parcel_to_a_friend(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order(
            "TM-3",
            [
                line(method="pickup", pickup_node="ST-SH-1"),
                line(JEANS, price=39900, address=BEIJING),
            ],
            address=LUJIAZUI,
        )
        placed = place(client, body)["order"]
        by_method = {f["method"]: f for f in placed["fulfilments"]}
        assert by_method["pickup"]["node"] == "ST-SH-1"
        assert by_method["ship"]["node"] == "WH-BJ"  # nearest to the friend in Beijing
        assert [ln["line_no"] for ln in by_method["ship"]["lines"]] == [2]
        assert stock(engine, JEANS, "WH-BJ") == (50, 1)


def test_a_pos_receipt_uploaded_twice_is_one_sale(engine: Engine) -> None:
    with world.client(engine) as client:
        receipt = {
            "channel": "pos",
            "receipt_id": "R-0001",
            "store": "ST-SH-1",
            "terminal": "POS-2",
            "cashier": "C-9",
            "lines": [
                {"sku": TEE, "quantity": 2, "unit_price_fen": 9900, "line_discount_fen": 800},
                {"sku": JEANS, "quantity": 1, "unit_price_fen": 39900},
            ],
            "order_discount_fen": 1000,
            "total_fen": 2 * 9900 - 800 + 39900 - 1000,
            "sold_at": "2026-11-20T10:15:00+08:00",
        }
        first = client.post("/api/v1/pos/receipts", json=receipt)
        assert first.status_code == 201
        sale = first.json()["order"]
        assert (sale["kind"], sale["state"], sale["store"]) == ("pos", "completed", "ST-SH-1")
        assert [f["state"] for f in sale["fulfilments"]] == ["picked_up"]
        assert sum(ln["paid_fen"] for ln in sale["lines"]) == receipt["total_fen"]
        assert stock(engine, TEE, "ST-SH-1") == (3, 0)
        assert stock(engine, JEANS, "ST-SH-1") == (1, 0)

        again = client.post("/api/v1/pos/receipts", json=receipt)  # the terminal retries
        assert (again.status_code, again.json()["order"]["id"]) == (200, sale["id"])
        assert stock(engine, TEE, "ST-SH-1") == (3, 0)
        changed = client.post("/api/v1/pos/receipts", json={**receipt, "terminal": "POS-3"})
        assert (changed.status_code, changed.json()["code"]) == (409, "ORDER_REPLAY_MISMATCH")


def test_a_till_sale_the_books_did_not_expect_is_kept_and_flagged(engine: Engine) -> None:
    with world.client(engine) as client:
        receipt = {
            "channel": "pos",
            "receipt_id": "R-0002",
            "store": "ST-SH-2",  # holds no jeans on the books
            "lines": [{"sku": JEANS, "quantity": 1, "unit_price_fen": 39900}],
            "total_fen": 39900,
            "sold_at": "2026-11-20T11:00:00+08:00",
        }
        response = client.post("/api/v1/pos/receipts", json=receipt)
        assert response.status_code == 201
        order_id = response.json()["order"]["id"]
        trail = client.get(f"/api/v1/orders/{order_id}/events").json()
        (flag,) = [e for e in trail if e["type"] == "stock_discrepancy"]
        assert flag["details"]["sku"] == JEANS


def test_a_guide_places_an_order_for_a_member_and_is_credited(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order(
            "G-1",
            [line(method="pickup", pickup_node="ST-SH-1"), line(JEANS, price=39900)],
            channel="guide",
            address=BEIJING,
            customer={"member_id": "M-42"},
            guide="GD-007",
            store="ST-SH-1",
        )
        placed = place(client, body)["order"]
        assert (placed["kind"], placed["guide"], placed["store"], placed["member_id"]) == (
            "guide",
            "GD-007",
            "ST-SH-1",
            "M-42",
        )
        listed = client.get("/api/v1/orders?store=ST-SH-1").json()
        assert [o["id"] for o in listed] == [placed["id"]]
        (event,) = events_named(engine, "orders.OrderPlaced")
        assert (event["payload"]["guide"], event["payload"]["store"]) == ("GD-007", "ST-SH-1")
        no_store = client.post("/api/v1/orders", json={**body, "external_id": "G-2", "store": None})
        assert no_store.status_code == 422


def test_an_online_order_is_returned_in_a_store(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order(
            "TM-4",
            [line(qty=3, line_discount_fen=300), line(JEANS, price=39900)],
            address=BEIJING,
            order_discount_fen=1000,
            shipping_fen=1000,
        )
        placed = place(client, body)["order"]
        (parcel,) = placed["fulfilments"]
        assert parcel["node"] == "WH-BJ"
        for action in ("start_picking", "pack", "ship", "deliver"):
            step(client, parcel["id"], action, actor="wms")
        assert stock(engine, TEE, "WH-BJ") == (97, 0)
        tee = placed["lines"][0]
        assert tee["paid_fen"] == 3 * 9900 - 300 - tee["order_discount_fen"]

        back = {
            "order_id": placed["id"],
            "node": "ST-SH-1",
            "channel": "pos",
            "idempotency_key": "RET-1",
            "lines": [{"line_no": 1, "quantity": 1}],
            "reason": "wrong size",
        }
        first = client.post("/api/v1/returns", json=back)
        assert first.status_code == 201, first.json()
        refund_one = first.json()["refund_fen"]
        assert refund_one == tee["paid_fen"] // 3
        assert stock(engine, TEE, "ST-SH-1") == (6, 0)  # restocked where it was handed in
        assert client.post("/api/v1/returns", json=back).status_code == 200  # replay

        rest = {
            **back,
            "idempotency_key": "RET-2",
            "lines": [{"line_no": 1, "quantity": 2, "condition": "damaged"}],
        }
        second = client.post("/api/v1/returns", json=rest).json()
        assert refund_one + second["refund_fen"] == tee["paid_fen"]  # to the fen
        assert stock(engine, TEE, "ST-SH-1") == (6, 0)  # damaged goods are not sellable
        too_many = client.post("/api/v1/returns", json={**back, "idempotency_key": "RET-3"})
        assert (too_many.status_code, too_many.json()["code"]) == (409, "RETURN_NOT_ALLOWED")
        returned = events_named(engine, "orders.OrderReturned")
        assert sorted(e["payload"]["refund_fen"] for e in returned) == sorted(
            [refund_one, second["refund_fen"]]
        )


def test_cancelling_before_shipment_releases_the_stock(engine: Engine) -> None:
    with world.client(engine) as client:
        placed = place(
            client, order("TM-5", [line(qty=2), line(JEANS, price=39900)], address=BEIJING)
        )["order"]
        assert stock(engine, TEE, "WH-BJ") == (100, 2)
        line_cancel = client.post(
            f"/api/v1/orders/{placed['id']}/lines/2/cancel",
            json={"reason": "customer changed mind"},
        )
        assert line_cancel.status_code == 200
        assert [ln["status"] for ln in line_cancel.json()["lines"]] == ["open", "cancelled"]
        assert stock(engine, JEANS, "WH-BJ") == (50, 0)
        cancelled = client.post(
            f"/api/v1/orders/{placed['id']}/cancel", json={"reason": "fraud check"}
        )
        assert cancelled.json()["state"] == "cancelled"
        assert [f["state"] for f in cancelled.json()["fulfilments"]] == ["cancelled"]
        assert stock(engine, TEE, "WH-BJ") == (100, 0)
        assert (
            client.post(
                f"/api/v1/orders/{placed['id']}/cancel", json={"reason": "again"}
            ).status_code
            == 200
        )

        shipped = place(client, order("TM-6", [line()], address=BEIJING))["order"]
        fid = shipped["fulfilments"][0]["id"]
        for action in ("start_picking", "pack", "ship"):
            step(client, fid, action)
        late = client.post(f"/api/v1/orders/{shipped['id']}/cancel", json={"reason": "too late"})
        assert (late.status_code, late.json()["code"]) == (409, "ALREADY_SHIPPED")
        assert stock(engine, TEE, "WH-BJ") == (99, 0)


def test_illegal_steps_are_refused_with_the_allowed_ones_and_replays_are_harmless(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        placed = place(client, order("TM-7", [line()], address=BEIJING))["order"]
        fid = placed["fulfilments"][0]["id"]
        refused = client.post(f"/api/v1/fulfilments/{fid}/ship", json={})
        assert (refused.status_code, refused.json()["code"]) == (409, "ILLEGAL_TRANSITION")
        assert refused.json()["details"]["allowed_actions"] == ["start_picking", "cancel"]
        step(client, fid, "start_picking")
        assert step(client, fid, "start_picking")["fulfilment"]["state"] == "picking"
        trail = client.get(f"/api/v1/orders/{placed['id']}/events").json()
        assert [e["type"] for e in trail].count("fulfilment.start_picking") == 1


def test_a_rejected_line_is_rerouted_and_never_back_to_a_node_that_refused(engine: Engine) -> None:
    with world.client(engine) as client:
        placed = place(client, order("TM-8", [line()], address=LUJIAZUI))["order"]
        first = placed["fulfilments"][0]
        assert first["node"] == "ST-SH-2"
        after = client.post(
            f"/api/v1/fulfilments/{first['id']}/reject", json={"reason": "damaged", "actor": "st2"}
        ).json()
        live = [f for f in after["fulfilments"] if f["state"] != "cancelled"]
        assert [f["node"] for f in live] == ["ST-SH-1"]
        assert stock(engine, TEE, "ST-SH-2") == (5, 0)
        assert stock(engine, TEE, "ST-SH-1") == (5, 1)

        again = client.post(
            f"/api/v1/fulfilments/{live[0]['id']}/reject", json={"reason": "not found"}
        ).json()
        nodes = [f["node"] for f in again["fulfilments"] if f["state"] != "cancelled"]
        assert nodes == ["WH-KS"]
        decisions = client.get(f"/api/v1/orders/{placed['id']}/routing").json()
        assert [d["trigger"] for d in decisions] == ["placement", "reroute", "reroute"]
        assert decisions[-1]["explanation"]["excluded_nodes"] == ["ST-SH-1", "ST-SH-2"]
        assert len(events_named(engine, "orders.FulfilmentRejected")) == 2


def test_pickup_at_a_store_without_stock_offers_nearby_stores_and_a_transfer(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        before = world.footprint(engine)
        response = client.post(
            "/api/v1/orders",
            json=order(
                "MP-4",
                [line(JEANS, qty=3, price=39900, method="pickup", pickup_node="ST-SH-1")],
                channel="miniapp",
            ),
        )
        assert (response.status_code, response.json()["code"]) == (409, "OUT_OF_STOCK")
        (short,) = response.json()["details"]["lines"]
        assert short["line_no"] == 1
        assert short["transfer_plan"]["from_node"] == "ST-SH-3"  # nearest holder of 3 jeans
        assert short["transfer_plan"]["to_node"] == "ST-SH-1"
        assert short["transfer_plan"]["eta_hours"] > 0
        assert world.footprint(engine) == before


def test_an_exchange_is_a_return_plus_a_linked_order(engine: Engine) -> None:
    with world.client(engine) as client:
        placed = place(
            client, order("MP-5", [line(method="pickup", pickup_node="ST-SH-1")], channel="miniapp")
        )["order"]
        fid = placed["fulfilments"][0]["id"]
        code = step(client, fid, "mark_ready")["pickup_code"]
        step(client, fid, "hand_over", code=code)
        swap = {
            "return": {
                "order_id": placed["id"],
                "node": "ST-SH-1",
                "idempotency_key": "EX-1",
                "lines": [{"line_no": 1, "quantity": 1}],
            },
            "order": order(
                "MP-5-X",
                [line(JEANS, price=39900, method="pickup", pickup_node="ST-SH-1")],
                channel="miniapp",
            ),
        }
        response = client.post("/api/v1/exchanges", json=swap)
        assert response.status_code == 201, response.json()
        out = response.json()
        assert out["order"]["order"]["exchange_of_return_id"] == out["return"]["id"]
        assert client.post("/api/v1/exchanges", json=swap).status_code == 200
        (placed_x,) = [
            e
            for e in events_named(engine, "orders.OrderPlaced")
            if e["payload"]["external_id"] == "MP-5-X"
        ]
        assert placed_x["payload"]["exchange_of_return_id"] == out["return"]["id"]


def test_a_parcel_the_carrier_brings_back_is_stock_again_and_the_order_closes(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        placed = place(client, order("TM-9", [line(qty=2)], address=BEIJING))["order"]
        fid = placed["fulfilments"][0]["id"]
        for action in ("start_picking", "pack", "ship"):
            step(client, fid, action)
        assert stock(engine, TEE, "WH-BJ") == (98, 0)
        assert step(client, fid, "fail_delivery")["fulfilment"]["state"] == "returned_to_sender"
        assert stock(engine, TEE, "WH-BJ") == (100, 0)
        after = client.get(f"/api/v1/orders/{placed['id']}").json()
        assert [ln["status"] for ln in after["lines"]] == ["undelivered"]
        assert after["state"] == "cancelled"
        step(client, fid, "fail_delivery")  # a replay books nothing twice
        assert stock(engine, TEE, "WH-BJ") == (100, 0)


def test_cancelling_a_fulfilment_ends_its_lines_and_the_order(engine: Engine) -> None:
    with world.client(engine) as client:
        placed = place(client, order("TM-10", [line()], address=BEIJING))["order"]
        fid = placed["fulfilments"][0]["id"]
        step(client, fid, "cancel", actor="wh-lead")
        after = client.get(f"/api/v1/orders/{placed['id']}").json()
        assert (after["state"], after["lines"][0]["status"]) == ("cancelled", "cancelled")
        assert stock(engine, TEE, "WH-BJ") == (100, 0)
        (cancelled,) = events_named(engine, "orders.OrderCancelled")
        assert cancelled["payload"]["line_nos"] == [1]


def test_wrong_pickup_codes_are_counted_and_lock_the_pickup(engine: Engine) -> None:
    with world.client(engine) as client:
        body = order("MP-9", [line(method="pickup", pickup_node="ST-SH-1")], channel="miniapp")
        placed = place(client, body)["order"]
        fid = placed["fulfilments"][0]["id"]
        code = step(client, fid, "mark_ready")["pickup_code"]
        wrong = "000000" if code != "000000" else "111111"
        for left in (4, 3, 2, 1, 0):
            refused = client.post(
                f"/api/v1/fulfilments/{fid}/hand_over", json={"code": wrong, "terminal": "PAD-1"}
            )
            assert refused.json()["code"] == "WRONG_PICKUP_CODE"
            assert refused.json()["details"]["attempts_left"] == left
        locked = client.post(f"/api/v1/fulfilments/{fid}/hand_over", json={"code": code})
        assert (locked.status_code, locked.json()["code"]) == (409, "PICKUP_LOCKED")
        trail = client.get(f"/api/v1/orders/{placed['id']}/events").json()
        refusals = [e for e in trail if e["type"] == "pickup_code_refused"]
        assert [e["terminal"] for e in refusals] == ["PAD-1"] * 5
        assert stock(engine, TEE, "ST-SH-1") == (5, 1)  # still held for the customer


def test_a_receipt_stamped_in_shanghai_time_keeps_its_instant(engine: Engine) -> None:
    with world.client(engine) as client:
        receipt = {
            "channel": "pos",
            "receipt_id": "R-TZ",
            "store": "ST-SH-1",
            "lines": [{"sku": TEE, "quantity": 1, "unit_price_fen": 9900}],
            "total_fen": 9900,
            "sold_at": "2026-11-22T13:42:10+08:00",
        }
        sale = client.post("/api/v1/pos/receipts", json=receipt).json()["order"]
        assert sale["placed_at"] == "2026-11-22T05:42:10Z"
        assert sale["fulfilments"][0]["delivered_at"] == "2026-11-22T05:42:10Z"


def test_a_community_group_leader_order_comes_from_a_store_near_the_leader(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        body = order(
            "MP-GL", [line(qty=2, method="group_leader")], channel="miniapp", address=LUJIAZUI
        )
        (run,) = place(client, body)["order"]["fulfilments"]
        assert (run["node"], run["method"], run["kind"]) == ("ST-SH-2", "group_leader", "shipment")
        assert run["promised_by"] is not None
        far = client.post(
            "/api/v1/orders",
            json=order(
                "MP-GL2", [line(method="group_leader")], channel="miniapp", address=world.SUZHOU
            ),
        )
        assert (far.status_code, far.json()["code"]) == (409, "OUT_OF_STOCK")


def test_an_orders_events_that_nothing_listens_for_are_recorded_delivered(engine: Engine) -> None:
    events.deliver_through(wiring.relay())  # as a serving process is told at start
    two_lines = order("TM-Q", [line(), line(JEANS, price=39900)], address=LUJIAZUI)
    with world.client(engine) as client:
        placed = place(client, two_lines)["order"]
        assert sum(len(f["lines"]) for f in placed["fulfilments"]) == 2
    with unit_of_work(engine, readonly=True) as session:
        written = session.execute(
            select(OutboxEvent.name, OutboxEvent.status, OutboxEvent.delivered_at).where(
                OutboxEvent.name.in_(["orders.OrderPlaced", "inventory.StockReserved"])
            )
        ).all()
    assert sorted(name for name, _, _ in written) == [
        "inventory.StockReserved",
        "inventory.StockReserved",
        "orders.OrderPlaced",
    ]
    assert {status for _, status, _ in written} == {"delivered"}
    assert all(at is not None for _, _, at in written)
