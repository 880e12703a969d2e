from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests import factories
from tests.access import sign_in
from yipan.app import create_app
from yipan.catalog.errors import UnknownSku
from yipan.events import service as events
from yipan.events.models import OutboxEvent
from yipan.inventory.domain import IllegalTransition
from yipan.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    InvalidTransfer,
    NodeInactive,
    UnknownNode,
    UnknownTransfer,
)
from yipan.inventory.models import Movement, Reservation, StockLevel, Transfer, TransferLine
from yipan.inventory.schemas import MovementIn, ReceiveIn, TransferIn, TransferOut
from yipan.inventory.service import ledger, movements, reservations, transfers
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import IdempotencyConflict, YipanError


@pytest.fixture
def pool(engine: Engine) -> Engine:
    factories.sku(engine, "TEE")
    factories.sku(engine, "CAP")
    factories.node(engine, "WH-1", type="warehouse", lat=31.3, lon=120.6)
    factories.node(engine, "ST-1")
    factories.node(engine, "ST-2", lat=30.27, lon=120.15)
    factories.receive(engine, "TEE", "WH-1", 20)
    factories.receive(engine, "CAP", "WH-1", 10)
    return engine


def request(
    engine: Engine, *lines: tuple[str, int], clock: FakeClock | None = None, **kw: Any
) -> TransferOut:
    data: dict[str, Any] = {"source": "WH-1", "destination": "ST-1"}
    data.update(kw)
    data["lines"] = [{"sku": s, "quantity": q} for s, q in lines]
    with unit_of_work(engine) as session:
        return transfers.request_transfer(session, TransferIn(**data), clock=clock)


def ship(engine: Engine, code: str) -> TransferOut:
    with unit_of_work(engine) as session:
        return transfers.ship_transfer(session, code)


def receive(engine: Engine, code: str, lines: list[dict[str, Any]] | None = None) -> TransferOut:
    with unit_of_work(engine) as session:
        return transfers.receive_transfer(session, code, ReceiveIn(lines=lines))


def level(engine: Engine, sku: str, node: str) -> tuple[int, int, int]:
    with unit_of_work(engine, readonly=True) as session:
        got = ledger.stock_level(session, sku=sku, node=node)
    return got.on_hand, got.reserved, got.atp


def ledger_rows(engine: Engine, sku: str, node: str) -> list[tuple[str, int, str | None]]:
    with unit_of_work(engine, readonly=True) as session:
        page = ledger.ledger(session, sku=sku, node=node)
    return [(m.kind, m.quantity, m.reference) for m in reversed(page.items)]


def in_transit(engine: Engine, sku: str, node: str) -> tuple[int, int]:
    with unit_of_work(engine, readonly=True) as session:
        found = transfers.in_transit(session, sku=sku, node=node)
    return found.inbound, found.outbound


def event_names(engine: Engine, code: str) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        found = events.recent_events(session, aggregate_type="transfer", aggregate_id=code)
    return [e["name"] for e in reversed(found)]


def count(engine: Engine, model: Any) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def no_drift(engine: Engine) -> None:
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
    assert report.rows_checked > 0
    assert report.drifted == []


def test_a_transfer_goes_from_request_to_close_through_the_ledger(pool: Engine) -> None:
    made = request(pool, ("TEE", 8), ("CAP", 5), code="TR-1", reason="rebalance")
    assert made.status == "requested"
    assert [(x.sku, x.requested, x.shipped, x.in_transit) for x in made.lines] == [
        ("TEE", 8, 0, 0),
        ("CAP", 5, 0, 0),
    ]
    # The goods are held at the source at once: ATP drops, on_hand does not.
    assert level(pool, "TEE", "WH-1") == (20, 8, 12)
    with unit_of_work(pool, readonly=True) as session:
        held = reservations.get_reservations(session, "transfer:TR-1")
    assert {(r.sku, r.node, r.quantity, r.status) for r in held} == {
        ("TEE", "WH-1", 8, "active"),
        ("CAP", "WH-1", 5, "active"),
    }

    shipped = ship(pool, "TR-1")
    assert shipped.status == "shipped"
    assert shipped.shipped_at is not None
    assert [(x.sku, x.shipped, x.in_transit, x.difference) for x in shipped.lines] == [
        ("TEE", 8, 8, 0),
        ("CAP", 5, 5, 0),
    ]
    assert level(pool, "TEE", "WH-1") == (12, 0, 12)
    assert ledger_rows(pool, "TEE", "WH-1") == [
        ("receipt", 20, None),
        ("transfer_out", -8, "transfer:TR-1"),
    ]
    assert in_transit(pool, "TEE", "WH-1") == (0, 8)
    assert in_transit(pool, "TEE", "ST-1") == (8, 0)
    assert in_transit(pool, "CAP", "ST-1") == (5, 0)
    with unit_of_work(pool, readonly=True) as session:
        statuses = {r.status for r in reservations.get_reservations(session, "transfer:TR-1")}
    assert statuses == {"committed"}
    no_drift(pool)

    received = receive(pool, "TR-1")
    assert received.status == "received"
    assert [(x.sku, x.received, x.damaged, x.in_transit, x.difference) for x in received.lines] == [
        ("TEE", 8, 0, 0, 0),
        ("CAP", 5, 0, 0, 0),
    ]
    assert level(pool, "TEE", "ST-1") == (8, 0, 8)
    assert level(pool, "CAP", "ST-1") == (5, 0, 5)
    assert ledger_rows(pool, "TEE", "ST-1") == [("transfer_in", 8, "transfer:TR-1")]
    assert in_transit(pool, "TEE", "ST-1") == (0, 0)
    assert in_transit(pool, "TEE", "WH-1") == (0, 0)

    with unit_of_work(pool) as session:
        closed = transfers.close_transfer(session, "TR-1")
    assert closed.status == "closed"
    assert closed.closed_at is not None
    no_drift(pool)
    assert event_names(pool, "TR-1") == [
        "inventory.TransferRequested",
        "inventory.TransferShipped",
        "inventory.TransferReceived",
        "inventory.TransferClosed",
    ]


def test_a_partial_receipt_records_damaged_and_missing_units(pool: Engine) -> None:
    request(pool, ("TEE", 10), ("CAP", 4), code="TR-2")
    ship(pool, "TR-2")
    got = receive(pool, "TR-2", [{"sku": "TEE", "received": 7, "damaged": 1, "note": "crushed"}])
    lines = {x.sku: x for x in got.lines}
    assert (lines["TEE"].received, lines["TEE"].damaged, lines["TEE"].difference) == (7, 1, 2)
    assert lines["TEE"].note == "crushed"
    # A SKU left out of the receipt did not arrive at all.
    assert (lines["CAP"].received, lines["CAP"].damaged, lines["CAP"].difference) == (0, 0, 4)
    assert all(x.in_transit == 0 for x in got.lines)
    # Damaged goods are not sellable: only what arrived whole is on hand.
    assert level(pool, "TEE", "ST-1") == (7, 0, 7)
    assert level(pool, "CAP", "ST-1") == (0, 0, 0)
    assert level(pool, "TEE", "WH-1") == (10, 0, 10)
    with unit_of_work(pool, readonly=True) as session:
        found = events.recent_events(session, aggregate_type="transfer", aggregate_id="TR-2")
    payload = next(e["payload"] for e in found if e["name"] == "inventory.TransferReceived")
    assert sorted(payload["discrepancies"], key=lambda d: d["sku"]) == [
        {"sku": "CAP", "shipped": 4, "received": 0, "damaged": 0, "missing": 4},
        {"sku": "TEE", "shipped": 10, "received": 7, "damaged": 1, "missing": 2},
    ]
    no_drift(pool)


def test_receiving_more_than_was_shipped_is_refused_and_changes_nothing(pool: Engine) -> None:
    request(pool, ("TEE", 10), code="TR-3")
    ship(pool, "TR-3")
    with pytest.raises(InvalidQuantity) as refused:
        receive(pool, "TR-3", [{"sku": "TEE", "received": 9, "damaged": 2}])
    assert refused.value.status == 422
    with pytest.raises(InvalidTransfer):
        receive(pool, "TR-3", [{"sku": "CAP", "received": 1}])
    with unit_of_work(pool, readonly=True) as session:
        assert transfers.get_transfer(session, "TR-3").status == "shipped"
    assert level(pool, "TEE", "ST-1") == (0, 0, 0)
    assert in_transit(pool, "TEE", "ST-1") == (10, 0)


def test_cancelling_a_requested_transfer_releases_its_hold(pool: Engine) -> None:
    request(pool, ("TEE", 15), code="TR-4")
    assert level(pool, "TEE", "WH-1") == (20, 15, 5)
    with unit_of_work(pool) as session:
        cancelled = transfers.cancel_transfer(session, "TR-4", reason="not needed")
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert level(pool, "TEE", "WH-1") == (20, 0, 20)
    with unit_of_work(pool, readonly=True) as session:
        held = reservations.get_reservations(session, "transfer:TR-4")
    assert [r.status for r in held] == ["released"]
    assert event_names(pool, "TR-4")[-1] == "inventory.TransferCancelled"
    assert ledger_rows(pool, "TEE", "WH-1") == [("receipt", 20, None)]


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        (["cancel"], "ship"),
        (["cancel"], "receive"),
        ([], "receive"),
        ([], "close"),
        (["ship"], "ship"),
        (["ship"], "cancel"),
        (["ship", "receive"], "receive"),
        (["ship", "receive", "close"], "cancel"),
    ],
)
def test_a_transfer_moves_only_along_its_life_cycle(
    pool: Engine, steps: list[str], refused: str
) -> None:
    request(pool, ("TEE", 5), code="TR-5")
    act = {
        "ship": lambda s: transfers.ship_transfer(s, "TR-5"),
        "receive": lambda s: transfers.receive_transfer(s, "TR-5", ReceiveIn()),
        "close": lambda s: transfers.close_transfer(s, "TR-5"),
        "cancel": lambda s: transfers.cancel_transfer(s, "TR-5"),
    }
    for step in steps:
        with unit_of_work(pool) as session:
            act[step](session)
    before = (level(pool, "TEE", "WH-1"), level(pool, "TEE", "ST-1"), count(pool, Movement))
    with pytest.raises(IllegalTransition) as illegal, unit_of_work(pool) as session:
        act[refused](session)
    assert illegal.value.code == "ILLEGAL_TRANSITION"
    assert illegal.value.status == 409
    assert illegal.value.details["action"] == refused
    after = (level(pool, "TEE", "WH-1"), level(pool, "TEE", "ST-1"), count(pool, Movement))
    assert after == before


def test_a_transfer_beyond_the_source_stock_writes_nothing(pool: Engine) -> None:
    events_before = count(pool, OutboxEvent)
    with pytest.raises(InsufficientStock) as refused:
        request(pool, ("TEE", 5), ("CAP", 11), code="TR-6")
    assert refused.value.status == 409
    assert refused.value.details["available"] == 10
    assert count(pool, Transfer) == 0
    assert count(pool, TransferLine) == 0
    assert count(pool, Reservation) == 0
    assert count(pool, OutboxEvent) == events_before
    assert level(pool, "TEE", "WH-1") == (20, 0, 20)


def test_unknown_nodes_and_skus_are_not_found(pool: Engine) -> None:
    with pytest.raises(UnknownNode) as node:
        request(pool, ("TEE", 1), destination="NOPE")
    assert node.value.status == 404
    with pytest.raises(UnknownSku) as sku:
        request(pool, ("TEE", 1), ("NOPE", 1))
    assert sku.value.status == 404
    with pytest.raises(UnknownTransfer), unit_of_work(pool) as session:
        transfers.ship_transfer(session, "NOPE")
    assert count(pool, Transfer) == 0


def test_a_transfer_needs_two_distinct_active_nodes_and_one_line_per_sku(pool: Engine) -> None:
    with pytest.raises(InvalidTransfer) as same:
        request(pool, ("TEE", 1), destination="WH-1")
    assert same.value.status == 422
    with pytest.raises(InvalidTransfer):
        request(pool, ("TEE", 1), ("TEE", 2))
    factories.node(pool, "ST-9", active=False)
    with pytest.raises(NodeInactive):
        request(pool, ("TEE", 1), destination="ST-9")
    assert count(pool, Transfer) == 0


def test_replaying_a_code_returns_the_first_transfer_and_other_lines_conflict(
    pool: Engine,
) -> None:
    first = request(pool, ("TEE", 6), ("CAP", 2), code="TR-7")
    again = request(pool, ("CAP", 2), ("TEE", 6), code="TR-7")
    assert again == first
    assert level(pool, "TEE", "WH-1") == (20, 6, 14)  # held once, not twice
    ship(pool, "TR-7")
    assert request(pool, ("TEE", 6), ("CAP", 2), code="TR-7").status == "shipped"
    with pytest.raises(IdempotencyConflict) as conflict:
        request(pool, ("TEE", 7), ("CAP", 2), code="TR-7")
    assert conflict.value.status == 409
    with pytest.raises(IdempotencyConflict):
        request(pool, ("TEE", 6), ("CAP", 2), code="TR-7", destination="ST-2")
    assert count(pool, Transfer) == 1


def test_a_transfer_without_a_code_is_named_after_its_date_and_id(pool: Engine) -> None:
    clock = FakeClock()
    first = request(pool, ("TEE", 1), clock=clock)
    second = request(pool, ("TEE", 1), clock=clock)
    assert first.code == "TR-20260101-00001"
    assert second.code == "TR-20260101-00002"
    with unit_of_work(pool, readonly=True) as session:
        held = reservations.get_reservations(session, "transfer:TR-20260101-00002")
    assert [r.quantity for r in held] == [1]
    # A client that took the next generated code for itself does not break generation.
    request(pool, ("TEE", 1), code="TR-20260101-00004")
    assert request(pool, ("TEE", 1), clock=clock).code == "TR-20260101-00004-2"


def test_transfers_are_listed_by_status_and_node(pool: Engine) -> None:
    request(pool, ("TEE", 1), code="A")
    request(pool, ("TEE", 1), code="B", destination="ST-2")
    ship(pool, "B")
    with unit_of_work(pool, readonly=True) as session:
        every = transfers.list_transfers(session)
        shipped = transfers.list_transfers(session, status="shipped")
        to_st2 = transfers.list_transfers(session, node="ST-2")
        from_wh = transfers.list_transfers(session, node="WH-1", offset=1, limit=1)
    assert [t.code for t in every] == ["B", "A"]
    assert [t.code for t in shipped] == ["B"]
    assert [t.code for t in to_st2] == ["B"]
    assert [t.code for t in from_wh] == ["A"]


def test_the_transfer_api(pool: Engine) -> None:
    client = sign_in(TestClient(create_app(pool, background=False)))
    body = {
        "code": "TR-API",
        "source": "WH-1",
        "destination": "ST-1",
        "lines": [{"sku": "TEE", "quantity": 4}],
    }
    created = client.post("/api/v1/transfers", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"
    assert client.post("/api/v1/transfers", json=body).json() == created.json()

    refused = client.post("/api/v1/transfers/TR-API/receive")
    assert refused.status_code == 409
    assert refused.json()["code"] == "ILLEGAL_TRANSITION"
    assert refused.json()["details"]["status"] == "requested"

    assert client.post("/api/v1/transfers/TR-API/ship").json()["status"] == "shipped"
    twice = client.post("/api/v1/transfers/TR-API/ship")
    assert (twice.status_code, twice.json()["code"]) == (409, "ILLEGAL_TRANSITION")
    transit = client.get("/api/v1/stock/TEE/ST-1/in-transit").json()
    assert (transit["inbound"], transit["outbound"]) == (4, 0)
    assert transit["transfers"] == [
        {"code": "TR-API", "source": "WH-1", "destination": "ST-1", "quantity": 4}
    ]
    too_many = client.post(
        "/api/v1/transfers/TR-API/receive", json={"lines": [{"sku": "TEE", "received": 5}]}
    )
    assert (too_many.status_code, too_many.json()["code"]) == (422, "INVALID_QUANTITY")
    got = client.post(
        "/api/v1/transfers/TR-API/receive",
        json={"lines": [{"sku": "TEE", "received": 3, "damaged": 1}]},
    )
    assert got.status_code == 200, got.text
    assert got.json()["lines"][0]["difference"] == 0
    assert got.json()["lines"][0]["damaged"] == 1
    assert client.post("/api/v1/transfers/TR-API/close").json()["status"] == "closed"
    assert client.get("/api/v1/transfers/TR-API").json()["status"] == "closed"
    assert [t["code"] for t in client.get("/api/v1/transfers?status=closed").json()] == ["TR-API"]

    other = client.post("/api/v1/transfers", json={**body, "code": "TR-X"})
    assert other.status_code == 201
    cancelled = client.post("/api/v1/transfers/TR-X/cancel", json={"reason": "wrong store"})
    assert cancelled.json()["status"] == "cancelled"
    cancelled_ship = client.post("/api/v1/transfers/TR-X/ship")
    assert (cancelled_ship.status_code, cancelled_ship.json()["code"]) == (
        409,
        "ILLEGAL_TRANSITION",
    )

    def error(payload: dict[str, Any]) -> tuple[int, str]:
        r = client.post("/api/v1/transfers", json={**body, **payload})
        return r.status_code, r.json()["code"]

    assert error({"code": "TR-Y", "destination": "NOPE"}) == (404, "UNKNOWN_NODE")
    assert error({"code": "TR-Y", "lines": [{"sku": "NOPE", "quantity": 1}]}) == (
        404,
        "UNKNOWN_SKU",
    )
    assert error({"code": "TR-Y", "destination": "WH-1"}) == (422, "INVALID_TRANSFER")
    assert error({"code": "TR-Y", "lines": [{"sku": "TEE", "quantity": 99}]}) == (
        409,
        "INSUFFICIENT_STOCK",
    )
    assert error({"code": "TR-API", "lines": [{"sku": "TEE", "quantity": 5}]}) == (
        409,
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert error({"code": "bad code!"}) == (422, "VALIDATION_ERROR")
    missing = client.get("/api/v1/transfers/NOPE")
    assert (missing.status_code, missing.json()["code"]) == (404, "UNKNOWN_TRANSFER")
    assert client.get("/api/v1/transfers?status=lost").status_code == 422


# --- property: any sequence of steps keeps the books straight ------------------------------------

NODES = ["WH-1", "ST-1", "ST-2"]
SKUS = ["TEE", "CAP"]
_codes = itertools.count()

counted_lines = st.none() | st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2)), min_size=1, max_size=2
)
plan = st.tuples(
    st.sampled_from(NODES),
    st.integers(1, 2),  # the destination, counted on from the source
    st.dictionaries(st.sampled_from(SKUS), st.integers(1, 4), min_size=1),
    st.sampled_from(["requested", "cancelled", "shipped", "received", "closed"]),
    counted_lines,
    st.none() | st.sampled_from(["ship", "receive", "close", "cancel"]),  # a step out of turn
)


def _steps(fate: str, counted: Any, extra: str | None) -> list[tuple[str, Any]]:
    path = {
        "requested": [],
        "cancelled": ["cancel"],
        "shipped": ["ship"],
        "received": ["ship", "receive"],
        "closed": ["ship", "receive", "close"],
    }[fate]
    steps: list[tuple[str, Any]] = [("request", None)]
    steps += [(s, counted if s == "receive" else None) for s in path]
    if extra:
        steps.append((extra, counted if extra == "receive" else None))
    return steps


def _act(session: Any, code: str, spec: tuple[Any, ...], step: str, counted: Any) -> None:
    source, hop, lines = spec[:3]
    if step == "request":
        transfers.request_transfer(
            session,
            TransferIn(
                code=code,
                source=source,
                destination=NODES[(NODES.index(source) + hop) % len(NODES)],
                lines=[{"sku": s, "quantity": q} for s, q in lines.items()],
            ),
        )
    elif step == "ship":
        transfers.ship_transfer(session, code)
    elif step == "cancel":
        transfers.cancel_transfer(session, code)
    elif step == "close":
        transfers.close_transfer(session, code)
    else:
        rows = None
        if counted is not None:
            rows = [
                {"sku": sku, "received": r, "damaged": d}
                for sku, (r, d) in zip(sorted(lines), counted, strict=False)
            ]
        transfers.receive_transfer(session, code, ReceiveIn(lines=rows))


def _check_books(engine: Engine) -> None:
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
        levels = session.execute(
            select(StockLevel.sku_id, StockLevel.node_id, StockLevel.on_hand, StockLevel.reserved)
        ).all()
        held = {
            (s, n): q
            for s, n, q in session.execute(
                select(Reservation.sku_id, Reservation.node_id, func.sum(Reservation.quantity))
                .where(Reservation.status == "active")
                .group_by(Reservation.sku_id, Reservation.node_id)
            )
        }
        for s, n, on_hand, reserved in levels:
            assert 0 <= reserved <= on_hand
            assert reserved == held.get((s, n), 0)
        on_hand_total = session.scalar(select(func.sum(StockLevel.on_hand))) or 0
        received = (
            session.scalar(select(func.sum(Movement.quantity)).where(Movement.kind == "receipt"))
            or 0
        )
        sold = -(
            session.scalar(select(func.sum(Movement.quantity)).where(Movement.kind == "sale")) or 0
        )
        # Damaged or missing on arrival: shipped but never put on a shelf.
        lost = (
            session.scalar(
                select(func.sum(TransferLine.quantity_shipped - TransferLine.quantity_received))
                .join(Transfer, Transfer.id == TransferLine.transfer_id)
                .where(Transfer.status.in_(["received", "closed"]))
            )
            or 0
        )
        travelling = transfers.in_transit_total(session)
    # Every unit received is on a shelf, sold, on the road, damaged or missing.
    assert on_hand_total + sold + travelling + lost == received


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=st.lists(plan, min_size=1, max_size=4), data=st.data())
def test_any_interleaving_of_transfer_steps_keeps_the_books_straight(
    pool: Engine, plans: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    """Several transfers, each walked some way along its life cycle (and sometimes one step
    out of turn), their steps interleaved with each other and with sales."""
    # The database is shared by the examples of one run: each restocks it and adds to it.
    with unit_of_work(pool) as session:
        movements.ingest_movements(
            session,
            [MovementIn(sku=s, node=n, kind="receipt", quantity=6) for s in SKUS for n in NODES],
            require_keys=False,
        )
    codes = [f"P-{next(_codes)}" for _ in plans]
    pending = [_steps(*spec[3:]) for spec in plans]
    while any(pending):
        i = data.draw(st.sampled_from([i for i, steps in enumerate(pending) if steps]))
        step, counted = pending[i].pop(0)
        # A refused step must leave nothing behind; the books say whether it did.
        with contextlib.suppress(YipanError), unit_of_work(pool) as session:
            _act(session, codes[i], plans[i], step, counted)
        if data.draw(st.booleans()):
            sale = MovementIn(
                sku=data.draw(st.sampled_from(SKUS)),
                node=data.draw(st.sampled_from(NODES)),
                kind="sale",
                quantity=data.draw(st.integers(1, 4)),
            )
            with contextlib.suppress(YipanError), unit_of_work(pool) as session:
                movements.record_movement(session, sale)
        _check_books(pool)
