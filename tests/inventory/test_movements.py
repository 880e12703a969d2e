from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests import factories
from yipan.events.service import recent_events
from yipan.inventory.errors import StockWouldGoNegative, UnknownNode
from yipan.inventory.models import Movement
from yipan.inventory.schemas import MovementIn, ReserveIn
from yipan.inventory.service import ledger, movements, reservations
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import IdempotencyConflict, YipanError


@pytest.fixture
def pool(engine: Engine) -> Engine:
    factories.sku(engine, "TEE")
    factories.sku(engine, "CAP")
    factories.node(engine, "ST-1")
    factories.node(engine, "ST-2", lat=31.0, lon=121.0)
    return engine


def ingest(engine: Engine, rows: list[Any]):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return movements.ingest_movements(session, rows)


def on_hand(engine: Engine, sku: str, node: str) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return ledger.stock_level(session, sku=sku, node=node).on_hand


def ledger_rows(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(Movement)) or 0


def row(key: str, kind: str = "receipt", quantity: int = 5, **kw: Any) -> dict[str, Any]:
    return {
        "sku": "TEE",
        "node": "ST-1",
        "kind": kind,
        "quantity": quantity,
        "idempotency_key": key,
        **kw,
    }


def test_a_batch_keeps_good_rows_and_reports_each_bad_one(pool: Engine) -> None:
    result = ingest(
        pool,
        [
            row("pos-1", quantity=10),
            row("pos-2", sku="NOPE"),
            row("pos-3", node="NOPE"),
            row("pos-4", kind="sale", quantity=-2),
            row("pos-5", kind="sale", quantity=0),
            {
                "sku": "TEE",
                "node": "ST-1",
                "kind": "teleport",
                "quantity": 1,
                "idempotency_key": "x",
            },
            "not an object",
            row("pos-8", kind="sale", quantity=3, sku="CAP"),
            row("pos-9", kind="sale", quantity=4),
            {"sku": "TEE", "node": "ST-1", "kind": "receipt", "quantity": 1},
        ],
    )
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 8)
    assert [(e.index, e.code) for e in result.errors] == [
        (1, "UNKNOWN_SKU"),
        (2, "UNKNOWN_NODE"),
        (3, "INVALID_QUANTITY"),
        (4, "INVALID_QUANTITY"),
        (5, "INVALID_ROW"),
        (6, "INVALID_ROW"),
        (7, "STOCK_WOULD_GO_NEGATIVE"),
        (9, "MISSING_IDEMPOTENCY_KEY"),
    ]
    assert on_hand(pool, "TEE", "ST-1") == 6
    assert on_hand(pool, "CAP", "ST-1") == 0
    assert ledger_rows(pool) == 2


def test_replaying_a_batch_changes_nothing(pool: Engine) -> None:
    batch = [row("pos-1", quantity=10), row("pos-2", kind="sale", quantity=3)]
    ingest(pool, batch)
    again = ingest(pool, batch)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 0)
    assert on_hand(pool, "TEE", "ST-1") == 7
    assert ledger_rows(pool) == 2


def test_a_key_reused_with_another_payload_is_refused(pool: Engine) -> None:
    ingest(pool, [row("pos-1", quantity=10)])
    result = ingest(pool, [row("pos-1", quantity=11), row("pos-2", quantity=1)])
    assert [(e.index, e.code) for e in result.errors] == [(0, "IDEMPOTENCY_KEY_REUSED")]
    assert on_hand(pool, "TEE", "ST-1") == 11


def test_a_key_twice_in_one_batch_counts_once(pool: Engine) -> None:
    result = ingest(pool, [row("k", quantity=4), row("k", quantity=4), row("k", quantity=5)])
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, 1)
    assert on_hand(pool, "TEE", "ST-1") == 4


def test_a_sale_may_not_take_stock_that_is_reserved(pool: Engine) -> None:
    ingest(pool, [row("r", quantity=5)])
    with unit_of_work(pool) as session:
        reservations.reserve(
            session,
            ReserveIn(reference="order:1", lines=[{"sku": "TEE", "node": "ST-1", "quantity": 3}]),
        )
    result = ingest(pool, [row("s1", kind="sale", quantity=2), row("s2", kind="sale", quantity=1)])
    assert [(e.index, e.code) for e in result.errors] == [(1, "STOCK_WOULD_GO_NEGATIVE")]
    assert on_hand(pool, "TEE", "ST-1") == 3


def test_a_count_sets_on_hand_through_a_ledger_delta(pool: Engine) -> None:
    ingest(pool, [row("r", quantity=12)])
    result = ingest(pool, [row("c1", kind="count", quantity=9), row("s", kind="sale", quantity=2)])
    assert result.accepted == 2
    assert on_hand(pool, "TEE", "ST-1") == 7
    with unit_of_work(pool, readonly=True) as session:
        page = ledger.ledger(session, sku="TEE", node="ST-1")
    assert [(m.kind, m.quantity) for m in page.items] == [
        ("sale", -2),
        ("count", -3),
        ("receipt", 12),
    ]


def test_record_movement_raises_the_row_error(pool: Engine) -> None:
    with unit_of_work(pool) as session, pytest.raises(StockWouldGoNegative):
        movements.record_movement(
            session, MovementIn(sku="TEE", node="ST-1", kind="sale", quantity=1)
        )
    with unit_of_work(pool) as session, pytest.raises(UnknownNode):
        movements.record_movement(
            session, MovementIn(sku="TEE", node="X", kind="receipt", quantity=1)
        )
    with unit_of_work(pool) as session:
        movements.record_movement(
            session,
            MovementIn(sku="TEE", node="ST-1", kind="receipt", quantity=1, idempotency_key="once"),
        )
    with unit_of_work(pool) as session, pytest.raises(IdempotencyConflict):
        movements.record_movement(
            session,
            MovementIn(sku="TEE", node="ST-1", kind="receipt", quantity=2, idempotency_key="once"),
        )


def test_an_oversized_batch_is_refused_whole(pool: Engine) -> None:
    with pytest.raises(YipanError, match="at most"):
        ingest(pool, [row(f"k{i}", quantity=1) for i in range(movements.MAX_BATCH + 1)])
    assert ledger_rows(pool) == 0


_keys = itertools.count()

operation = st.one_of(
    st.tuples(
        st.just("movement"),
        st.sampled_from(["receipt", "sale", "return", "adjustment", "count", "transfer_out"]),
        st.sampled_from(["TEE", "CAP"]),
        st.sampled_from(["ST-1", "ST-2"]),
        st.integers(-20, 40),
    ),
    st.tuples(
        st.just("reserve"),
        st.sampled_from(["TEE", "CAP"]),
        st.sampled_from(["ST-1", "ST-2"]),
        st.integers(1, 15),
    ),
    st.tuples(st.just("release")),
    st.tuples(st.just("commit")),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_stock_invariants_hold_for_any_sequence(sqlite_engine: Engine, ops: list[Any]) -> None:
    """Whatever mix of movements and holds arrives, on_hand = ledger sum and 0 ≤ reserved ≤ on_hand."""
    engine = sqlite_engine
    factories.sku(engine, "TEE")
    factories.sku(engine, "CAP")
    factories.node(engine, "ST-1")
    factories.node(engine, "ST-2", lat=31.0, lon=121.0)
    open_refs: list[str] = []
    for op in ops:
        n = next(_keys)
        try:
            with unit_of_work(engine) as session:
                if op[0] == "movement":
                    _, kind, sku, node, qty = op
                    movements.ingest_movements(
                        session,
                        [
                            {
                                "sku": sku,
                                "node": node,
                                "kind": kind,
                                "quantity": qty,
                                "idempotency_key": f"k{n}",
                            }
                        ],
                    )
                elif op[0] == "reserve":
                    _, sku, node, qty = op
                    reservations.reserve(
                        session,
                        ReserveIn(
                            reference=f"r{n}", lines=[{"sku": sku, "node": node, "quantity": qty}]
                        ),
                    )
                    open_refs.append(f"r{n}")
                elif open_refs:
                    ref = open_refs.pop(0)
                    if op[0] == "release":
                        reservations.release(session, ref)
                    else:
                        reservations.commit(session, ref)
        except YipanError:
            pass  # refusals are fine; what matters is what they leave behind
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
        for sku, node in itertools.product(["TEE", "CAP"], ["ST-1", "ST-2"]):
            level = ledger.stock_level(session, sku=sku, node=node)
            assert 0 <= level.reserved <= level.on_hand


def test_a_batch_records_one_stock_moved_event_per_node(pool: Engine) -> None:
    ingest(
        pool,
        [
            row("a", quantity=10),
            row("b", kind="sale", quantity=3),
            row("c", quantity=4, sku="CAP"),
            row("d", quantity=2, node="ST-2"),
        ],
    )
    with unit_of_work(pool, readonly=True) as session:
        moved = {
            e["aggregate_id"]: e["payload"]
            for e in recent_events(session, aggregate_type="node")
            if e["name"] == "inventory.StockMoved"
        }
    assert set(moved) == {"ST-1", "ST-2"}
    assert sorted(moved["ST-1"]["changes"], key=lambda c: c["sku"]) == [
        {"sku": "CAP", "kind": "receipt", "quantity": 4, "on_hand": 4},
        {"sku": "TEE", "kind": "mixed", "quantity": 7, "on_hand": 7},
    ]
    assert moved["ST-2"]["changes"] == [
        {"sku": "TEE", "kind": "receipt", "quantity": 2, "on_hand": 2}
    ]
