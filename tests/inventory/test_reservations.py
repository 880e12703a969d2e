from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests import factories
from yipan.catalog.errors import UnknownSku
from yipan.events.models import OutboxEvent
from yipan.events.service import recent_events
from yipan.inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    NodeInactive,
    ReservationClosed,
    ReservationMismatch,
    UnknownNode,
    UnknownReservation,
)
from yipan.inventory.models import Reservation
from yipan.inventory.schemas import ChannelBufferIn, ReserveIn
from yipan.inventory.service import ledger, nodes, reservations
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work


@pytest.fixture
def pool(engine: Engine) -> Engine:
    factories.sku(engine, "TEE")
    factories.sku(engine, "CAP")
    factories.node(engine, "ST-1")
    factories.node(engine, "WH-1", type="warehouse", lat=31.3, lon=120.6)
    factories.receive(engine, "TEE", "ST-1", 10)
    factories.receive(engine, "TEE", "WH-1", 100)
    factories.receive(engine, "CAP", "ST-1", 3)
    return engine


def hold(engine: Engine, reference: str, *lines: tuple[str, str, int], **kw: object):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return reservations.reserve(
            session,
            ReserveIn(
                reference=reference,
                lines=[{"sku": s, "node": n, "quantity": q} for s, n, q in lines],
                **kw,  # type: ignore[arg-type]
            ),
        )


def level(engine: Engine, sku: str, node: str):  # type: ignore[no-untyped-def]
    with unit_of_work(engine, readonly=True) as session:
        return ledger.stock_level(session, sku=sku, node=node)


def events_named(engine: Engine, name: str) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == name)
            )
            or 0
        )


def test_reserving_lowers_atp_but_not_on_hand(pool: Engine) -> None:
    held = hold(pool, "order:1", ("TEE", "ST-1", 4))
    assert [(r.sku, r.node, r.quantity, r.status) for r in held] == [("TEE", "ST-1", 4, "active")]
    after = level(pool, "TEE", "ST-1")
    assert (after.on_hand, after.reserved, after.atp) == (10, 4, 6)
    assert events_named(pool, "inventory.StockReserved") == 1


def test_a_multi_line_reservation_holds_every_line_or_none(pool: Engine) -> None:
    with pytest.raises(InsufficientStock) as refused:
        hold(pool, "order:2", ("TEE", "ST-1", 2), ("CAP", "ST-1", 4))
    assert refused.value.details == {"sku": "CAP", "node": "ST-1", "requested": 4, "available": 3}
    assert level(pool, "TEE", "ST-1").reserved == 0
    with unit_of_work(pool, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Reservation)) == 0
    assert events_named(pool, "inventory.StockReserved") == 0


def test_replaying_a_reservation_returns_the_first_hold(pool: Engine) -> None:
    first = hold(pool, "cart:9", ("TEE", "ST-1", 3), ("TEE", "WH-1", 5))
    again = hold(pool, "cart:9", ("TEE", "WH-1", 5), ("TEE", "ST-1", 3))
    assert sorted(r.id for r in again) == sorted(r.id for r in first)
    assert level(pool, "TEE", "ST-1").reserved == 3
    assert level(pool, "TEE", "WH-1").reserved == 5


def test_the_same_reference_with_other_lines_is_a_conflict(pool: Engine) -> None:
    hold(pool, "cart:9", ("TEE", "ST-1", 3))
    with pytest.raises(ReservationMismatch):
        hold(pool, "cart:9", ("TEE", "ST-1", 4))
    assert level(pool, "TEE", "ST-1").reserved == 3


def test_safety_stock_is_never_promised(pool: Engine) -> None:
    with unit_of_work(pool) as session:
        nodes.set_stock_policy(session, sku="TEE", node="ST-1", safety_stock=4, reorder_point=6)
    with pytest.raises(InsufficientStock):
        hold(pool, "order:3", ("TEE", "ST-1", 7))
    assert hold(pool, "order:3", ("TEE", "ST-1", 6))[0].quantity == 6


def test_a_channel_buffer_keeps_stock_off_that_channel_only(pool: Engine) -> None:
    with unit_of_work(pool) as session:
        nodes.set_channel_buffer(
            session,
            ChannelBufferIn(channel="tmall", node_type="store", mode="percent", value=50),
        )
    with pytest.raises(InsufficientStock):
        hold(pool, "tmall:1", ("TEE", "ST-1", 6), channel="tmall")
    hold(pool, "tmall:1", ("TEE", "ST-1", 5), channel="tmall")
    hold(pool, "pos:1", ("TEE", "ST-1", 5))  # the store's own till sees everything left


def test_unknown_sku_or_node_and_duplicate_lines_are_refused(pool: Engine) -> None:
    with pytest.raises(UnknownSku):
        hold(pool, "x", ("NOPE", "ST-1", 1))
    with pytest.raises(UnknownNode):
        hold(pool, "x", ("TEE", "NOPE", 1))
    with pytest.raises(InvalidQuantity):
        hold(pool, "x", ("TEE", "ST-1", 1), ("TEE", "ST-1", 2))


def test_an_inactive_node_promises_nothing(pool: Engine) -> None:
    factories.node(pool, "ST-1", active=False)
    with pytest.raises(NodeInactive):
        hold(pool, "order:4", ("TEE", "ST-1", 1))


def test_release_gives_the_stock_back_once(pool: Engine) -> None:
    hold(pool, "order:5", ("TEE", "ST-1", 4))
    with unit_of_work(pool) as session:
        released = reservations.release(session, "order:5")
    assert [r.status for r in released] == ["released"]
    with unit_of_work(pool) as session:
        reservations.release(session, "order:5")  # a replay changes nothing
    assert level(pool, "TEE", "ST-1").reserved == 0
    assert events_named(pool, "inventory.ReservationReleased") == 1
    with unit_of_work(pool) as session, pytest.raises(ReservationClosed):
        reservations.commit(session, "order:5")


def test_commit_turns_the_hold_into_a_sale_in_the_ledger(pool: Engine) -> None:
    hold(pool, "order:6", ("TEE", "ST-1", 4), ("TEE", "WH-1", 1))
    with unit_of_work(pool) as session:
        committed = reservations.commit(session, "order:6")
    assert {r.status for r in committed} == {"committed"}
    store = level(pool, "TEE", "ST-1")
    assert (store.on_hand, store.reserved) == (6, 0)
    with unit_of_work(pool, readonly=True) as session:
        page = ledger.ledger(session, sku="TEE", node="ST-1")
        assert page.items[0].kind == "reservation_commit"
        assert page.items[0].quantity == -4
        assert page.items[0].reference == "order:6"
        assert ledger.reconcile(session).drifted == []
    with unit_of_work(pool) as session:
        assert {r.status for r in reservations.commit(session, "order:6")} == {"committed"}
    assert level(pool, "TEE", "ST-1").on_hand == 6  # committing twice sells once
    with unit_of_work(pool) as session, pytest.raises(ReservationClosed):
        reservations.release(session, "order:6")


def test_unknown_reference(pool: Engine) -> None:
    with unit_of_work(pool) as session, pytest.raises(UnknownReservation):
        reservations.release(session, "order:missing")


def test_the_sweeper_releases_expired_holds_only(pool: Engine) -> None:
    clock = FakeClock()
    with unit_of_work(pool) as session:
        reservations.reserve(
            session,
            ReserveIn(
                reference="cart:1",
                lines=[{"sku": "TEE", "node": "ST-1", "quantity": 2}],
                ttl_seconds=900,
            ),
            clock=clock,
        )
        reservations.reserve(
            session,
            ReserveIn(
                reference="cart:2",
                lines=[{"sku": "TEE", "node": "ST-1", "quantity": 3}],
                expires_at=clock.now() + timedelta(hours=2),
            ),
            clock=clock,
        )
        reservations.reserve(
            session,
            ReserveIn(reference="order:7", lines=[{"sku": "TEE", "node": "ST-1", "quantity": 1}]),
            clock=clock,
        )
    clock.advance(minutes=16)
    with unit_of_work(pool) as session:
        assert reservations.release_expired(session, clock=clock) == 1
    with unit_of_work(pool, readonly=True) as session:
        statuses = {
            ref: reservations.get_reservations(session, ref)[0].status
            for ref in ("cart:1", "cart:2", "order:7")
        }
    assert statuses == {"cart:1": "expired", "cart:2": "active", "order:7": "active"}
    assert level(pool, "TEE", "ST-1").reserved == 4
    clock.advance(hours=2)
    with unit_of_work(pool) as session:
        assert reservations.release_expired(session, clock=clock) == 1
    assert level(pool, "TEE", "ST-1").reserved == 1


def test_each_hold_records_its_event_with_the_reservation_id(pool: Engine) -> None:
    one = hold(pool, "order:8", ("TEE", "ST-1", 2))
    two = hold(pool, "order:9", ("TEE", "ST-1", 1), ("CAP", "ST-1", 1))
    hold(pool, "order:8", ("TEE", "ST-1", 2))  # a replay records nothing
    with unit_of_work(pool, readonly=True) as session:
        payloads = [
            e["payload"]
            for e in recent_events(session, aggregate_type="stock")
            if e["name"] == "inventory.StockReserved"
        ]
    assert sorted((p["reference"], p["sku"], p["reservation_id"]) for p in payloads) == sorted(
        (r.reference, r.sku, r.id) for r in one + two
    )


def test_a_refused_hold_inside_a_savepoint_leaves_nothing_and_another_node_can_be_tried(
    pool: Engine,
) -> None:
    with unit_of_work(pool) as session:
        with pytest.raises(InsufficientStock), session.begin_nested():
            reservations.reserve(
                session,
                ReserveIn(
                    reference="order:10", lines=[{"sku": "TEE", "node": "ST-1", "quantity": 11}]
                ),
            )
        reservations.reserve(
            session,
            ReserveIn(reference="order:10", lines=[{"sku": "TEE", "node": "WH-1", "quantity": 11}]),
        )
    assert [(r.node, r.quantity) for r in hold(pool, "order:10", ("TEE", "WH-1", 11))] == [
        ("WH-1", 11)
    ]
    assert level(pool, "TEE", "ST-1").reserved == 0
    assert level(pool, "TEE", "WH-1").reserved == 11
    assert events_named(pool, "inventory.StockReserved") == 1


def reservation_count(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(Reservation)) or 0


def test_fresh_holds_for_several_lines_are_taken_together_or_not_at_all(pool: Engine) -> None:
    # Two holds of the same SKU at the same node count together: 6 + 5 is more than the 10 there.
    too_much = [("fl:1", "TEE", "ST-1", 6), ("fl:2", "TEE", "ST-1", 5), ("fl:3", "CAP", "ST-1", 1)]
    with pytest.raises(InsufficientStock) as refused, unit_of_work(pool) as session:
        reservations.hold_new(session, "online", too_much)
    assert (refused.value.details["sku"], refused.value.details["node"]) == ("TEE", "ST-1")
    assert (level(pool, "TEE", "ST-1").reserved, level(pool, "CAP", "ST-1").reserved) == (0, 0)
    assert reservation_count(pool) == 0
    assert events_named(pool, "inventory.StockReserved") == 0

    fits = [("fl:1", "TEE", "ST-1", 6), ("fl:2", "TEE", "ST-1", 4), ("fl:3", "CAP", "ST-1", 3)]
    with unit_of_work(pool) as session:
        reservations.hold_new(session, "online", fits)
    assert (level(pool, "TEE", "ST-1").reserved, level(pool, "CAP", "ST-1").reserved) == (10, 3)
    with unit_of_work(pool, readonly=True) as session:
        held = {
            ref: [(r.sku, r.node, r.quantity) for r in reservations.get_reservations(session, ref)]
            for ref, *_ in fits
        }
        payloads = [
            e["payload"]
            for e in recent_events(session, aggregate_type="stock")
            if e["name"] == "inventory.StockReserved"
        ]
    assert held == {ref: [(sku, node, qty)] for ref, sku, node, qty in fits}
    assert sorted((p["reference"], p["sku"], p["node"], p["quantity"]) for p in payloads) == sorted(
        fits
    )
    assert all(p["reservation_id"] > 0 for p in payloads)


def test_fresh_holds_that_touch_an_inactive_node_are_refused_whole(pool: Engine) -> None:
    # The node closed after the caller read it as active: its stock must not be promised.
    factories.node(pool, "WH-1", type="warehouse", lat=31.3, lon=120.6, active=False)
    holds = [("fl:1", "TEE", "ST-1", 1), ("fl:2", "TEE", "WH-1", 1)]
    with pytest.raises(NodeInactive), unit_of_work(pool) as session:
        reservations.hold_new(session, "online", holds)
    assert (level(pool, "TEE", "ST-1").reserved, level(pool, "TEE", "WH-1").reserved) == (0, 0)
    assert reservation_count(pool) == 0
    assert events_named(pool, "inventory.StockReserved") == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    wanted=st.lists(
        st.tuples(
            st.sampled_from(["TEE", "CAP"]), st.sampled_from(["ST-1", "WH-1"]), st.integers(1, 8)
        ),
        min_size=1,
        max_size=5,
    )
)
def test_fresh_holds_never_take_more_than_is_there_and_are_all_or_nothing(
    pool: Engine, wanted: list[tuple[str, str, int]]
) -> None:
    pairs = {(sku, node) for sku, node, _ in wanted}
    before = {pair: level(pool, *pair) for pair in pairs}
    asked = {pair: sum(q for s, n, q in wanted if (s, n) == pair) for pair in pairs}
    fits = all(before[pair].atp >= asked[pair] for pair in pairs)
    holds = [(f"prop:{uuid4()}", sku, node, qty) for sku, node, qty in wanted]
    try:
        with unit_of_work(pool) as session:
            reservations.hold_new(session, None, holds)
    except (InsufficientStock, NodeInactive):
        assert not fits
        assert all(level(pool, *pair).reserved == before[pair].reserved for pair in pairs)
    else:
        assert fits
        assert all(
            level(pool, *pair).reserved == before[pair].reserved + asked[pair] for pair in pairs
        )
