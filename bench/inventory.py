"""Inventory pool benchmark: reservations under contention, ATP near a point, POS batch ingest.

    python -m bench.inventory [--seconds 8] [--only postgresql|sqlite]

PostgreSQL comes from YIPAN_BENCH_DATABASE_URL (default: the local server, database yipan_bench,
emptied first). Progress goes to stderr; the last line on stdout is one JSON object keyed by backend.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from bench.harness import (
    DEFAULT_PG,
    bearer,
    integration_key,
    log,
    percentiles,
    run_on_both_backends,
    run_workers,
)
from yipan.catalog import service as catalog
from yipan.catalog.schemas import SkuIn
from yipan.demo.network import demo_nodes
from yipan.events.service import InProcessRelay, deliver_pending
from yipan.inventory.errors import InsufficientStock
from yipan.inventory.models import StockLevel
from yipan.inventory.schemas import ReserveIn
from yipan.inventory.service import ledger, movements, nodes, reservations
from yipan.kernel.db import make_engine, unit_of_work
from yipan.wiring import event_registry

WORKERS = 16
SKUS = 400
HOT_SKU, HOT_NODE = "BENCH-HOT", None  # the hot node is the first demo store
LIMITED_SKU, LIMITED_STOCK = "BENCH-LIMITED", 3000
UNIFORM_STOCK = 10_000


def sku_code(i: int) -> str:
    return f"BENCH-{i:05d}"


def seed(engine: Engine) -> dict[str, Any]:
    """The demo's 165 nodes, SKUs, and stock at every node through the ledger."""
    node_list = demo_nodes(7)
    with unit_of_work(engine) as session:
        for node in node_list:
            nodes.save_node(session, node)
        for code in [HOT_SKU, LIMITED_SKU] + [sku_code(i) for i in range(SKUS)]:
            catalog.upsert_sku(
                session,
                SkuIn(
                    code=code,
                    name=code,
                    product_code=code,
                    category_code="bench",
                    list_price_fen=9900,
                ),
            )
    codes = [n.code for n in node_list]
    hot_node = next(n.code for n in node_list if n.type == "store")
    opening = [
        {"sku": sku_code(i), "node": code, "kind": "receipt", "quantity": UNIFORM_STOCK}
        for i in range(SKUS)
        for code in codes
    ]
    opening += [
        {"sku": HOT_SKU, "node": hot_node, "kind": "receipt", "quantity": 5_000_000},
        {"sku": LIMITED_SKU, "node": hot_node, "kind": "receipt", "quantity": LIMITED_STOCK},
    ]
    for start in range(0, len(opening), 5000):
        with unit_of_work(engine) as session:
            movements.ingest_movements(session, opening[start : start + 5000], require_keys=False)
    return {"nodes": node_list, "hot_node": hot_node}


def _reserve_loop(
    url: str, worker: int, seconds: float, barrier: Any, pick: Any
) -> tuple[int, int, float]:
    engine = make_engine(url, pool_size=1)
    warm_caches(engine)
    rng = random.Random(worker)
    done = refused = i = 0
    barrier.wait()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        sku, node = pick(rng)
        try:
            with unit_of_work(engine) as session:
                reservations.reserve(
                    session,
                    ReserveIn(
                        reference=f"b{worker}-{i}-{rng.random()}",
                        lines=[{"sku": sku, "node": node, "quantity": 1}],
                    ),
                )
            done += 1
        except InsufficientStock:
            refused += 1
        i += 1
    elapsed = time.perf_counter() - start
    engine.dispose()
    return done, refused, elapsed


def warm_caches(engine: Engine) -> None:
    """Resolve every code once, as a long-running API process has: measure the steady state,
    not each worker's first lookup of 400 SKUs."""
    with unit_of_work(engine, readonly=True) as session:
        catalog.find_sku_ids(session, [HOT_SKU, LIMITED_SKU, *(sku_code(i) for i in range(SKUS))])
        nodes.find_node_ids(session, json.loads(os.environ["BENCH_NODES"]))


def hot_worker(url: str, worker: int, seconds: float, barrier: Any) -> tuple[int, int, float]:
    node = os.environ["BENCH_HOT_NODE"]
    return _reserve_loop(url, worker, seconds, barrier, lambda _rng: (HOT_SKU, node))


def uniform_worker(url: str, worker: int, seconds: float, barrier: Any) -> tuple[int, int, float]:
    codes = json.loads(os.environ["BENCH_NODES"])
    return _reserve_loop(
        url,
        worker,
        seconds,
        barrier,
        lambda rng: (sku_code(rng.randrange(SKUS)), rng.choice(codes)),
    )


def limited_worker(url: str, worker: int, seconds: float, barrier: Any) -> tuple[int, int, float]:
    """Everyone races for LIMITED_STOCK units until they are gone."""
    engine = make_engine(url, pool_size=1)
    warm_caches(engine)
    node = os.environ["BENCH_HOT_NODE"]
    done = refused = 0
    barrier.wait()
    start = time.perf_counter()
    for i in range(LIMITED_STOCK // WORKERS * 2):
        try:
            with unit_of_work(engine) as session:
                reservations.reserve(
                    session,
                    ReserveIn(
                        reference=f"l{worker}-{i}",
                        lines=[{"sku": LIMITED_SKU, "node": node, "quantity": 1}],
                    ),
                )
            done += 1
        except InsufficientStock:
            refused += 1
    engine.dispose()
    return done, refused, time.perf_counter() - start


def oversold_levels(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(StockLevel)
                .where(StockLevel.reserved > StockLevel.on_hand)
            )
            or 0
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def atp_near_latency(url: str, key: str, node_list: list[Any], requests: int) -> dict[str, float]:
    """p50/p99 of GET /api/v1/atp/{sku}/near (50 km) through a real uvicorn server."""
    port = free_port()
    env = {**os.environ, "YIPAN_DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "yipan.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers=bearer(key), timeout=10) as client:
            for _ in range(200):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            rng = random.Random(1)

            def one() -> float:
                centre = rng.choice(node_list)
                params = {
                    "lat": centre.latitude + rng.uniform(-0.1, 0.1),
                    "lon": centre.longitude + rng.uniform(-0.1, 0.1),
                    "radius_km": 50,
                }
                t0 = time.perf_counter()
                response = client.get(
                    f"/api/v1/atp/{sku_code(rng.randrange(SKUS))}/near", params=params
                )
                elapsed = (time.perf_counter() - t0) * 1000
                response.raise_for_status()
                return elapsed

            for _ in range(300):
                one()
            samples = [one() for _ in range(requests)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    cut = percentiles(samples)
    return {
        "atp_near_p50_ms": cut["p50"],
        "atp_near_p99_ms": cut["p99"],
        "atp_near_max_ms": cut["max"],
        "atp_near_requests": requests,
    }


POS_BATCH = 1000
POS_WORKERS = 2


def _pos_batch(rng: random.Random, node_codes: list[str], tag: str) -> list[dict[str, Any]]:
    """A thousand POS/WMS movements: 70 % sales, 30 % receipts, over random SKUs × nodes."""
    batch = []
    for j in range(POS_BATCH):
        sale = rng.random() < 0.7
        batch.append(
            {
                "sku": sku_code(rng.randrange(SKUS)),
                "node": rng.choice(node_codes),
                "kind": "sale" if sale else "receipt",
                "quantity": rng.randint(1, 3),
                "channel": "pos",
                "reference": f"receipt-{tag}",
                "idempotency_key": f"pos-{tag}-{j}",
            }
        )
    return batch


def pos_worker(url: str, worker: int, seconds: float, barrier: Any) -> tuple[int, int, float]:
    """Uploads batches through the service for `seconds` (wall time, making the batches
    included, so the figure is conservative)."""
    engine = make_engine(url, pool_size=1)
    warm_caches(engine)
    node_codes = json.loads(os.environ["BENCH_NODES"])
    rng = random.Random(100 + worker)
    accepted = rejected = n = 0
    barrier.wait()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = _pos_batch(rng, node_codes, f"{worker}-{n}")
        with unit_of_work(engine) as session:
            result = movements.ingest_movements(session, batch)
        accepted += result.accepted
        rejected += result.rejected
        n += 1
    elapsed = time.perf_counter() - start
    engine.dispose()
    return accepted, rejected, elapsed


def drain_outbox(engine: Engine) -> dict[str, float]:
    """Deliver the events the phases above recorded, as the worker would."""
    t0 = time.perf_counter()
    report = deliver_pending(engine, InProcessRelay(event_registry()), batch_size=500)
    elapsed = time.perf_counter() - t0
    return {
        "outbox_delivered": report.delivered,
        "outbox_events_per_s": round(report.delivered / elapsed) if elapsed else 0,
    }


def run_backend(name: str, url: str, engine: Engine, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    log(f"{name}: seeding 165 nodes, {SKUS + 2} SKUs, {165 * SKUS:,} stock levels")
    t0 = time.perf_counter()
    data = seed(engine)
    figures["seed_s"] = round(time.perf_counter() - t0, 1)
    node_codes = [n.code for n in data["nodes"]]
    os.environ["BENCH_HOT_NODE"] = data["hot_node"]
    os.environ["BENCH_NODES"] = json.dumps(node_codes)

    log(f"{name}: hot SKU, {WORKERS} processes × {seconds}s")
    done, refused, elapsed = run_workers(hot_worker, url, WORKERS, seconds)
    figures["reserve_per_s_hot_sku"] = round(done / elapsed)

    log(f"{name}: uniform SKUs × nodes, {WORKERS} processes × {seconds}s")
    done, refused, elapsed = run_workers(uniform_worker, url, WORKERS, seconds)
    figures["reserve_per_s_uniform"] = round(done / elapsed)

    log(f"{name}: {WORKERS} processes race for {LIMITED_STOCK} units")
    done, refused, _ = run_workers(limited_worker, url, WORKERS, seconds)
    figures["limited_stock"] = LIMITED_STOCK
    figures["limited_reserved"] = done
    figures["limited_refused"] = refused
    figures["oversold"] = max(0, done - LIMITED_STOCK) + oversold_levels(engine)

    log(f"{name}: delivering the outbox")
    figures.update(drain_outbox(engine))

    log(f"{name}: ATP near a point through HTTP")
    figures.update(atp_near_latency(url, integration_key(engine), data["nodes"], requests=2000))

    log(f"{name}: POS batch ingest, one uploader")
    done, refused, elapsed = run_workers(pos_worker, url, 1, seconds)
    figures["pos_events_per_s_one_uploader"] = round(done / elapsed)
    log(f"{name}: POS batch ingest, {POS_WORKERS} uploaders")
    done, refused, elapsed = run_workers(pos_worker, url, POS_WORKERS, seconds)
    figures["pos_events_per_s"] = round(done / elapsed)
    figures["pos_uploaders"] = POS_WORKERS
    figures["pos_batch_size"] = POS_BATCH
    figures["pos_rejected"] = refused

    log(f"{name}: reconcile")
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
    figures["reconcile_rows"] = report.rows_checked
    figures["reconcile_drift"] = len(report.drifted)
    figures["workers"] = WORKERS
    figures["seconds_per_phase"] = seconds
    log(f"{name}: {json.dumps(figures)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    run_on_both_backends(
        lambda name, url, engine: run_backend(name, url, engine, args.seconds),
        only=args.only,
        pg_env="YIPAN_BENCH_DATABASE_URL",
        pg_default=DEFAULT_PG,
    )


if __name__ == "__main__":
    main()
