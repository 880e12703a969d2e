"""No oversell under real concurrency: several OS processes against one database.

Each worker is a separate process with its own engine and connections, started together behind a
barrier, so the conditional updates race for real on the same rows.
"""

from __future__ import annotations

import multiprocessing
import random
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests import factories
from yipan.catalog.service import sku_id
from yipan.inventory.errors import InsufficientStock
from yipan.inventory.models import Reservation
from yipan.inventory.schemas import ReserveIn
from yipan.inventory.service import ledger, movements, reservations
from yipan.inventory.service.nodes import node_id
from yipan.kernel.db import make_engine, unit_of_work

WORKERS = 6


def _hot_sku_worker(url: str, worker: int, attempts: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    won = refused = 0
    barrier.wait()
    for i in range(attempts):
        try:
            with unit_of_work(engine) as session:
                reservations.reserve(
                    session,
                    ReserveIn(
                        reference=f"w{worker}-{i}",
                        lines=[{"sku": "HOT", "node": "ST-1", "quantity": 1}],
                    ),
                )
            won += 1
        except InsufficientStock:
            refused += 1
    engine.dispose()
    out.put((worker, won, refused))


def _mixed_worker(url: str, worker: int, attempts: int, barrier: Any, out: Any) -> None:
    """Multi-line holds in shuffled line order, releases, commits and POS batches, all at once."""
    rng = random.Random(worker)
    engine = make_engine(url, pool_size=1)
    won = refused = 0
    held: list[str] = []
    barrier.wait()
    for i in range(attempts):
        action = rng.random()
        try:
            with unit_of_work(engine) as session:
                if action < 0.6:
                    pairs = rng.sample(
                        [(s, n) for s in ("A", "B", "C") for n in ("ST-1", "WH-1")],
                        k=rng.randint(1, 4),
                    )
                    reference = f"m{worker}-{i}"
                    reservations.reserve(
                        session,
                        ReserveIn(
                            reference=reference,
                            lines=[
                                {"sku": s, "node": n, "quantity": rng.randint(1, 3)}
                                for s, n in pairs
                            ],
                        ),
                    )
                    held.append(reference)
                    won += 1
                elif action < 0.75 and held:
                    reservations.release(session, held.pop(rng.randrange(len(held))))
                elif action < 0.9 and held:
                    reservations.commit(session, held.pop(rng.randrange(len(held))))
                else:
                    movements.ingest_movements(
                        session,
                        [
                            {
                                "sku": rng.choice("ABC"),
                                "node": rng.choice(["ST-1", "WH-1"]),
                                "kind": rng.choice(["receipt", "sale"]),
                                "quantity": rng.randint(1, 4),
                                "idempotency_key": f"pos-{worker}-{i}-{j}",
                            }
                            for j in range(5)
                        ],
                    )
        except InsufficientStock:
            refused += 1
    engine.dispose()
    out.put((worker, won, refused))


def _run(target: Any, url: str, attempts: int) -> list[tuple[int, int, int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(url, w, attempts, barrier, out)) for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, "a worker crashed (a deadlock or a database error)"
    return results


@pytest.mark.slow
def test_processes_racing_for_one_hot_sku_reserve_exactly_the_stock(
    engine: Engine, database_url: str
) -> None:
    factories.sku(engine, "HOT")
    factories.node(engine, "ST-1")
    stock = 150
    factories.receive(engine, "HOT", "ST-1", stock)

    results = _run(_hot_sku_worker, database_url, attempts=40)  # 240 tries for 150 units

    won = sum(r[1] for r in results)
    assert won == stock
    assert sum(r[2] for r in results) == WORKERS * 40 - stock
    with unit_of_work(engine, readonly=True) as session:
        level = ledger.stock_level(session, sku="HOT", node="ST-1")
        held = session.scalar(
            select(func.sum(Reservation.quantity)).where(Reservation.status == "active")
        )
    assert level.reserved == held == level.on_hand == stock
    assert level.atp == 0


@pytest.mark.slow
def test_mixed_concurrent_work_never_deadlocks_or_breaks_the_invariants(
    engine: Engine, database_url: str
) -> None:
    for sku in "ABC":
        factories.sku(engine, sku)
    factories.node(engine, "ST-1")
    factories.node(engine, "WH-1", type="warehouse", lat=31.3, lon=120.6)
    for sku in "ABC":
        factories.receive(engine, sku, "ST-1", 30)
        factories.receive(engine, sku, "WH-1", 60)

    results = _run(_mixed_worker, database_url, attempts=40)

    assert sum(r[1] for r in results) > 0
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
        for sku in "ABC":
            for node in ("ST-1", "WH-1"):
                level = ledger.stock_level(session, sku=sku, node=node)
                held = session.scalar(
                    select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                        Reservation.status == "active",
                        Reservation.sku_id == sku_id(session, sku),
                        Reservation.node_id == node_id(session, node),
                    )
                )
                assert 0 <= level.reserved <= level.on_hand
                assert level.reserved == held
