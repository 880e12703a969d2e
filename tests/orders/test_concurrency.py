"""Order capture under real concurrency: several OS processes placing orders at one database.

Each worker is a separate process (spawn) with its own engine, started together behind a barrier,
so order inserts, routing reads and stock holds race for real on the same rows.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests import factories, support
from tests.orders import world
from tests.orders.books import assert_books_balance, order_count
from tests.orders.world import JEANS, PEOPLES_SQUARE, TEE, line, order
from yipan.events.models import OutboxEvent
from yipan.inventory.models import Reservation
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.orders.events import OrderPlaced
from yipan.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine
from yipan.orders.schemas import OrderIn
from yipan.orders.service.capture import place_order

WORKERS = 6
WORKERS_FINISH_WITHIN = 600.0  # seconds; generous for a small, shared machine
FLASH = "FLASH-1"
# 40 units over three nodes; the pickup store is one of them.
FLASH_STOCK = {"ST-SH-1": 12, "ST-SH-2": 10, "WH-KS": 18}

Outcome = tuple[str, str, Any]  # (external id, "placed" | "refused" | "error", detail)


def _flash_body(worker: int, i: int) -> dict[str, Any]:
    external_id = f"FS-{worker}-{i}"
    if i % 3 == 2:  # every third: pick up at People's Square, from the mini-program
        return order(
            external_id,
            [line(FLASH, price=1990, method="pickup", pickup_node="ST-SH-1")],
            channel="miniapp",
        )
    return order(external_id, [line(FLASH, price=1990)], address=PEOPLES_SQUARE)


def _place(engine: Engine, body: dict[str, Any]) -> tuple[str, Any]:
    try:
        with unit_of_work(engine) as session:
            placed = place_order(session, OrderIn.model_validate(body))
        return "placed", (placed.created, placed.order.id)
    except YipanError as refused:
        return "refused", (refused.code, refused.status, refused.details)
    except Exception as crashed:  # reported, not raised: the test says which error it was
        return "error", repr(crashed)


def _flash_worker(url: str, worker: int, attempts: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    results: list[Outcome] = []
    barrier.wait()
    for i in range(attempts):
        body = _flash_body(worker, i)
        results.append((body["external_id"], *_place(engine, body)))
    engine.dispose()
    out.put(results)


def _replay_body(key: int, worker: int) -> dict[str, Any]:
    """Workers 0–3 send one payload under each key; 4 and 5 send a different one (2 units)."""
    qty = 1 if worker < 4 else 2
    return order(f"DUP-{key}", [line(TEE, qty=qty)], address=PEOPLES_SQUARE)


def _replay_worker(url: str, worker: int, keys: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    results: list[Outcome] = []
    for key in range(keys):
        barrier.wait()  # every key is sent by all workers at once
        body = _replay_body(key, worker)
        results.append((body["external_id"], *_place(engine, body)))
    engine.dispose()
    out.put([(worker, *r) for r in results])


def _basket_worker(url: str, worker: int, attempts: int, barrier: Any, out: Any) -> None:
    """Baskets of two or three SKUs, their lines in a different order each time."""
    rng = random.Random(worker)
    engine = make_engine(url, pool_size=1)
    results: list[Outcome] = []
    barrier.wait()
    for i in range(attempts):
        skus = rng.sample([TEE, JEANS, FLASH], k=rng.randint(2, 3))
        body = order(f"MIX-{worker}-{i}", [line(s) for s in skus], address=PEOPLES_SQUARE)
        results.append((body["external_id"], *_place(engine, body)))
    engine.dispose()
    out.put(results)


def _run(target: Any, url: str, n: int) -> list[Any]:
    """Start the workers and collect what each saw."""
    per_worker = support.run_in_processes(
        target, [(url, w, n) for w in range(WORKERS)], finish_within=WORKERS_FINISH_WITHIN
    )
    return [seen for results in per_worker for seen in results]


@pytest.mark.slow
def test_a_flash_sale_from_many_processes_sells_exactly_the_stock(
    engine: Engine, database_url: str
) -> None:
    world.build(engine)
    factories.sku(engine, FLASH, list_price_fen=1990)
    for node, units in FLASH_STOCK.items():
        factories.receive(engine, FLASH, node, units)
    stock = sum(FLASH_STOCK.values())
    attempts = 12  # 72 orders for 40 units; the 48 shipped ones alone outnumber the stock

    results = _run(_flash_worker, database_url, attempts)

    assert len(results) == WORKERS * attempts
    errors = [r for r in results if r[1] == "error"]
    assert errors == [], "an order failed with something other than a refusal"
    placed = {ext: detail for ext, kind, detail in results if kind == "placed"}
    refused = [(ext, detail) for ext, kind, detail in results if kind == "refused"]
    assert all(created for created, _ in placed.values())
    assert len(placed) == stock, f"sold {len(placed)} of {stock}: oversold or lost sales"
    assert {(code, status) for _, (code, status, _) in refused} <= {("OUT_OF_STOCK", 409)}
    assert len(refused) == WORKERS * attempts - stock

    with unit_of_work(engine, readonly=True) as session:
        stored = dict(session.execute(select(Order.external_id, Order.id)).all())
        assert stored == {ext: order_id for ext, (_, order_id) in placed.items()}
        # A refused order left nothing: no line, no fulfilment, no hold, no event.
        for model in (OrderLine, Fulfilment, FulfilmentLine, Reservation):
            assert session.scalar(select(func.count()).select_from(model)) == stock, model
        placed_events = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == OrderPlaced.name)
        )
        assert placed_events == stock
        held_per_node = Counter(
            dict(
                session.execute(
                    select(Fulfilment.node, func.sum(FulfilmentLine.quantity))
                    .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
                    .where(FulfilmentLine.sku == FLASH)
                    .group_by(Fulfilment.node)
                ).all()
            )
        )
    assert held_per_node == Counter(FLASH_STOCK)  # every unit of every node went, once
    for node, units in FLASH_STOCK.items():
        assert world.stock(engine, FLASH, node) == (units, units)
    assert_books_balance(engine)


@pytest.mark.slow
def test_one_external_id_sent_at_once_by_many_processes_is_one_order(
    engine: Engine, database_url: str
) -> None:
    world.build(engine)
    keys = 8

    results = _run(_replay_worker, database_url, keys)

    assert len(results) == WORKERS * keys
    errors = [r for r in results if r[2] == "error"]
    assert errors == [], "a replay failed with something other than the order or a refusal"
    by_key: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
    for worker, ext, kind, detail in results:
        by_key[ext].append((worker, kind, detail))

    winners: dict[str, tuple[int, int]] = {}  # external id → (order id, quantity taken)
    for ext, answers in by_key.items():
        placed = [(w, d) for w, kind, d in answers if kind == "placed"]
        refused = [(w, d) for w, kind, d in answers if kind == "refused"]
        assert len(placed) + len(refused) == WORKERS
        assert [created for _, (created, _) in placed].count(True) == 1, ext
        (order_id,) = {oid for _, (_, oid) in placed}
        # Whoever won, everyone who sent the same payload got that order back...
        groups = {w < 4 for w, _ in placed}
        assert len(groups) == 1, f"{ext}: callers with different payloads both got the order"
        winner_sent_qty1 = groups.pop()
        assert len(placed) == (4 if winner_sent_qty1 else 2)
        # ...and everyone who sent the other payload was refused, pointing at the same order.
        for w, (code, status, details) in refused:
            assert (code, status) == ("ORDER_REPLAY_MISMATCH", 409), (ext, w)
            assert (w < 4) != winner_sent_qty1
            assert details["order_id"] == order_id
        winners[ext] = (order_id, 1 if winner_sent_qty1 else 2)

    assert order_count(engine) == keys
    with unit_of_work(engine, readonly=True) as session:
        stored = dict(session.execute(select(Order.external_id, Order.id)).all())
        assert stored == {ext: oid for ext, (oid, _) in winners.items()}
        taken = dict(
            session.execute(
                select(Order.external_id, func.sum(OrderLine.quantity))
                .join(OrderLine, OrderLine.order_id == Order.id)
                .group_by(Order.external_id)
            ).all()
        )
        assert taken == {ext: qty for ext, (_, qty) in winners.items()}
        # One set of holds per order, for what the winning payload asked (the holds themselves
        # are matched one for one to these lines by `assert_books_balance`).
        held = dict(
            session.execute(
                select(Order.external_id, func.sum(FulfilmentLine.quantity))
                .join(Fulfilment, Fulfilment.order_id == Order.id)
                .join(FulfilmentLine, FulfilmentLine.fulfilment_id == Fulfilment.id)
                .where(FulfilmentLine.status == "held")
                .group_by(Order.external_id)
            ).all()
        )
        assert held == taken
        assert session.scalar(select(func.count()).select_from(Reservation)) == keys
    assert_books_balance(engine)


@pytest.mark.slow
def test_baskets_with_lines_in_any_order_never_deadlock(engine: Engine, database_url: str) -> None:
    world.build(engine)
    factories.sku(engine, FLASH, list_price_fen=9900)
    for sku in (TEE, JEANS, FLASH):  # plenty, at the store next to the customer
        factories.receive(engine, sku, "ST-SH-1", 500)
    attempts = 4

    results = _run(_basket_worker, database_url, attempts)

    assert [r for r in results if r[1] != "placed"] == [], "a basket failed"
    assert order_count(engine) == WORKERS * attempts
    assert_books_balance(engine)
