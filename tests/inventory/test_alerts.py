from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests import factories
from tests.access import sign_in
from yipan.app import create_app
from yipan.events.domain import OutboxMessage
from yipan.events.models import OutboxEvent
from yipan.events.service import InProcessRelay, deliver_pending
from yipan.inventory.domain import IllegalTransition, haversine_km
from yipan.inventory.errors import UnknownAlert
from yipan.inventory.schemas import (
    AcknowledgeIn,
    AlertOut,
    MovementIn,
    ReceiveIn,
    ReserveIn,
    TransferIn,
)
from yipan.inventory.service import alerts, movements, nodes, reservations, transfers
from yipan.kernel.clock import utcnow
from yipan.kernel.db import unit_of_work
from yipan.wiring import event_registry

SHANGHAI = (31.2304, 121.4737)
HANGZHOU = (30.2741, 120.1551)  # ~165 km from Shanghai
NANJING = (32.0603, 118.7969)  # ~270 km
SUZHOU = (31.2989, 120.5853)  # ~85 km
KUNSHAN = (31.385, 120.98)  # ~50 km
BEIJING = (39.9042, 116.4074)  # ~1067 km


def place(engine: Engine, code: str, where: tuple[float, float], **kw: Any) -> None:
    factories.node(engine, code, lat=where[0], lon=where[1], **kw)


def policy(engine: Engine, node: str, reorder_point: int, safety_stock: int = 0) -> None:
    with unit_of_work(engine) as session:
        nodes.set_stock_policy(
            session, sku="TEE", node=node, safety_stock=safety_stock, reorder_point=reorder_point
        )


def sell(engine: Engine, node: str, quantity: int) -> None:
    with unit_of_work(engine) as session:
        movements.record_movement(
            session, MovementIn(sku="TEE", node=node, kind="sale", quantity=quantity)
        )


def deliver(engine: Engine) -> None:
    report = deliver_pending(engine, InProcessRelay(event_registry()))
    assert (report.failed, report.dead) == (0, 0)


def alerts_at(engine: Engine, node: str = "ST-SH", **kw: Any) -> list[AlertOut]:
    with unit_of_work(engine, readonly=True) as session:
        return alerts.list_alerts(session, node=node, sku="TEE", **kw)


def raised_events(engine: Engine, name: str = "inventory.LowStockAlertRaised") -> int:
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == name)
            )
            or 0
        )


@pytest.fixture
def pool(engine: Engine) -> Engine:
    """Shanghai is low on TEE soon; Hangzhou and Nanjing could spare some, the rest cannot."""
    factories.sku(engine, "TEE")
    place(engine, "ST-SH", SHANGHAI)
    place(engine, "ST-HZ", HANGZHOU)
    place(engine, "ST-NJ", NANJING)
    place(engine, "ST-SZ", SUZHOU)
    place(engine, "ST-KS", KUNSHAN)
    place(engine, "WH-BJ", BEIJING, type="warehouse")
    for node, quantity in [
        ("ST-SH", 10),
        ("ST-HZ", 10),
        ("ST-NJ", 5),
        ("ST-SZ", 4),
        ("ST-KS", 50),
        ("WH-BJ", 100),
    ]:
        factories.receive(engine, "TEE", node, quantity)
    policy(engine, "ST-SH", reorder_point=5)
    policy(engine, "ST-HZ", reorder_point=3)  # surplus 7
    policy(engine, "ST-SZ", reorder_point=4)  # surplus 0: not worth naming
    place(engine, "ST-KS", KUNSHAN, active=False)  # closed: its stock is not on offer
    deliver(engine)
    return engine


def test_a_drop_under_the_reorder_point_raises_one_alert_naming_nearby_surplus(
    pool: Engine,
) -> None:
    sell(pool, "ST-SH", 5)  # ATP 5: at the reorder point, not under it
    deliver(pool)
    assert alerts_at(pool) == []
    sell(pool, "ST-SH", 1)  # ATP 4
    deliver(pool)
    [alert] = alerts_at(pool)
    assert (alert.kind, alert.status, alert.atp, alert.threshold) == ("low_stock", "open", 4, 5)
    assert [(n.node, n.surplus) for n in alert.nearby_surplus] == [("ST-HZ", 7), ("ST-NJ", 5)]
    assert alert.nearby_surplus[0].distance_km == pytest.approx(
        haversine_km(*SHANGHAI, *HANGZHOU), abs=0.01
    )
    assert alert.nearby_surplus[0].distance_km == pytest.approx(164.87, abs=0.01)
    assert alert.nearby_surplus[1].distance_km == pytest.approx(269.66, abs=0.01)
    assert raised_events(pool) == 1


def test_further_sales_raise_no_second_alert(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    deliver(pool)
    sell(pool, "ST-SH", 1)
    sell(pool, "ST-SH", 2)
    deliver(pool)
    # Even if the crossing is heard again, the live alert stands alone.
    message = OutboxMessage(
        id=0,
        name="inventory.StockFellBelowThreshold",
        aggregate_type="stock",
        aggregate_id="TEE@ST-SH",
        payload={"sku": "TEE", "node": "ST-SH", "atp": 1, "threshold": 5},
        occurred_at=utcnow(),
        attempts=0,
    )
    with unit_of_work(pool) as session:
        alerts.on_stock_fell_below(session, message)
    [alert] = alerts_at(pool)
    assert alert.atp == 4  # as raised; it is not rewritten on every sale
    assert raised_events(pool) == 1


def test_recovery_and_the_sweep_clear_the_alert_so_a_new_drop_raises_a_new_one(
    pool: Engine,
) -> None:
    sell(pool, "ST-SH", 6)
    deliver(pool)
    factories.receive(pool, "TEE", "ST-SH", 3)  # ATP 7; its event is not delivered yet
    with unit_of_work(pool) as session:
        assert alerts.clear_recovered_alerts(session) == 1
    [cleared] = alerts_at(pool)
    assert cleared.status == "cleared"
    assert cleared.cleared_at is not None
    with unit_of_work(pool) as session:
        assert alerts.clear_recovered_alerts(session) == 0
    deliver(pool)
    assert raised_events(pool, "inventory.AlertCleared") == 1

    sell(pool, "ST-SH", 3)  # ATP 4 again
    deliver(pool)
    newest, oldest = alerts_at(pool)
    assert (newest.status, oldest.status) == ("open", "cleared")
    assert newest.id != oldest.id
    assert alerts_at(pool, status="open") == [newest]
    assert raised_events(pool) == 2


def test_stock_coming_back_clears_the_alert_when_its_event_is_delivered(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    deliver(pool)
    factories.receive(pool, "TEE", "ST-SH", 1)  # ATP 5: back at the threshold
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["cleared"]


def test_a_held_reservation_raises_and_its_release_clears(pool: Engine) -> None:
    with unit_of_work(pool) as session:
        reservations.reserve(
            session,
            ReserveIn(reference="order:1", lines=[{"sku": "TEE", "node": "ST-SH", "quantity": 8}]),
        )
    deliver(pool)
    [alert] = alerts_at(pool)
    assert (alert.status, alert.atp) == ("open", 2)
    with unit_of_work(pool) as session:
        reservations.release(session, "order:1")
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["cleared"]


def test_a_crossing_that_recovered_before_delivery_raises_nothing(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    factories.receive(pool, "TEE", "ST-SH", 6)
    deliver(pool)
    assert alerts_at(pool) == []
    assert raised_events(pool) == 0


def test_without_a_reorder_point_the_safety_stock_is_the_threshold(pool: Engine) -> None:
    policy(pool, "ST-NJ", reorder_point=0, safety_stock=2)  # ATP 3
    sell(pool, "ST-NJ", 2)  # ATP 1
    deliver(pool)
    [alert] = alerts_at(pool, node="ST-NJ")
    assert (alert.atp, alert.threshold) == (1, 2)
    # Seen from Nanjing: Hangzhou (~235 km) and Shanghai (~270 km); Suzhou has nothing spare.
    assert [(n.node, n.surplus) for n in alert.nearby_surplus] == [("ST-HZ", 7), ("ST-SH", 5)]


def test_at_most_five_nearby_nodes_are_named_nearest_first(pool: Engine) -> None:
    for i in range(7):
        code = f"ST-N{i}"
        place(pool, code, (SHANGHAI[0] + 0.1 * (7 - i), SHANGHAI[1]))
        factories.receive(pool, "TEE", code, 1)
    sell(pool, "ST-SH", 6)
    deliver(pool)
    [alert] = alerts_at(pool)
    named = [n.node for n in alert.nearby_surplus]
    assert named == ["ST-N6", "ST-N5", "ST-N4", "ST-N3", "ST-N2"]
    distances = [n.distance_km for n in alert.nearby_surplus]
    assert distances == sorted(distances)


def test_acknowledging_keeps_the_alert_live_until_the_stock_is_back(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    deliver(pool)
    [alert] = alerts_at(pool)
    with unit_of_work(pool) as session:
        seen = alerts.acknowledge_alert(
            session, alert.id, AcknowledgeIn(by="li.wei", note="asked HZ for 5")
        )
    assert (seen.status, seen.acknowledged_by, seen.note) == (
        "acknowledged",
        "li.wei",
        "asked HZ for 5",
    )
    assert seen.acknowledged_at is not None
    with unit_of_work(pool) as session:
        again = alerts.acknowledge_alert(session, alert.id, AcknowledgeIn(by="someone.else"))
    assert again == seen
    with unit_of_work(pool, readonly=True) as session:
        acks = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == "inventory.AlertAcknowledged")
        )
    assert acks == 1

    # Up and down again before anyone looks: the acknowledged alert still stands alone.
    factories.receive(pool, "TEE", "ST-SH", 4)
    sell(pool, "ST-SH", 4)
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["acknowledged"]

    factories.receive(pool, "TEE", "ST-SH", 10)
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["cleared"]
    with pytest.raises(IllegalTransition) as refused, unit_of_work(pool) as session:
        alerts.acknowledge_alert(session, alert.id, AcknowledgeIn())
    assert refused.value.status == 409
    with pytest.raises(UnknownAlert), unit_of_work(pool) as session:
        alerts.acknowledge_alert(session, 9999, AcknowledgeIn())


def test_a_transfer_into_the_low_node_clears_its_alert(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    deliver(pool)
    [alert] = alerts_at(pool)
    source = alert.nearby_surplus[0].node
    with unit_of_work(pool) as session:
        transfers.request_transfer(
            session,
            TransferIn(
                code="TR-FIX",
                source=source,
                destination="ST-SH",
                lines=[{"sku": "TEE", "quantity": alert.nearby_surplus[0].surplus}],
            ),
        )
        transfers.ship_transfer(session, "TR-FIX")
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["open"]  # on the road is not on the shelf
    with unit_of_work(pool) as session:
        transfers.receive_transfer(session, "TR-FIX", ReceiveIn())
    deliver(pool)
    assert [a.status for a in alerts_at(pool)] == ["cleared"]
    assert alerts_at(pool, node=source) == []  # Hangzhou gave down to its reorder point only


def test_the_alert_api(pool: Engine) -> None:
    sell(pool, "ST-SH", 6)
    policy(pool, "ST-NJ", reorder_point=6)  # ATP 5 already under 6, but no crossing: no alert
    deliver(pool)
    client = sign_in(TestClient(create_app(pool, background=False)))
    listed = client.get("/api/v1/alerts", params={"status": "open"})
    assert listed.status_code == 200
    [alert] = listed.json()
    assert (alert["sku"], alert["node"], alert["atp"], alert["threshold"]) == ("TEE", "ST-SH", 4, 5)
    assert alert["nearby_surplus"][0]["node"] == "ST-HZ"
    assert client.get("/api/v1/alerts", params={"node": "ST-HZ"}).json() == []
    assert client.get("/api/v1/alerts", params={"status": "gone"}).status_code == 422
    unknown = client.get("/api/v1/alerts", params={"node": "NOPE"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_NODE")

    ack = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"by": "li.wei"})
    assert ack.status_code == 200, ack.text
    assert (ack.json()["status"], ack.json()["acknowledged_by"]) == ("acknowledged", "li.wei")
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 200
    assert client.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "acknowledged"
    missing = client.post("/api/v1/alerts/9999/acknowledge")
    assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_ALERT")
