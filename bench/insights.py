"""Insights benchmark: a transfer plan for 10,000 SKUs × 160 nodes, from the database to a plan.

    python -m bench.insights [--backend postgresql|sqlite] [--skus 10000] [--nodes 160]
                             [--runs 3] [--quick]

A synthetic chain, not the demo: nodes spread over East China (three in four stores, the rest
warehouses and DCs), SKUs, a stock level of every SKU at every node, and the ledger behind them —
an opening receipt 60 days back and 28 days of `sale` movements — all written by a few
INSERT … SELECT statements over the SKU × node grid (and a 28-row table of days), set at a
time. Store levels are mostly in balance; about one in ten is short (0–2 units under a reorder
point of 4–6) and about one in seven holds several times its need; warehouses and DCs sell
online, most hold deep stock and some are under their reorder point. Quantities come from
integer hashes of the ids, so every run plans the same chain.

What is timed is `transfer_plans.plan_transfers` for the whole chain with the default rules, in
a read-only unit of work: reading nodes, levels, 28 days of sales and open transfers, working
out surplus and deficit, and solving one min-cost flow per SKU that has both. It runs `--runs`
times; the figure is the median wall-clock time (`transfer_plan_cpu_seconds`: the median CPU
time of the planning process itself, the database's work left out).

Then the demand forecast of `bench.forecast`: 30,490 synthetic series of 1,941 days, 28 days
ahead with model choice and backtest (`forecast_seconds_30490`, `forecast_wape`,
`baseline_wape`); `--quick` forecasts a 1,000-series sample instead (`forecast_seconds`).

Then the dashboard's KPI queries over the 12-month demo (`bench.kpis`: `kpi_p95_ms`), and
BG/NBD and Gamma-Gamma fitted on 100,000 simulated members (`bench.member_value`:
`bgnbd_fit_seconds_100k`).

PostgreSQL database yipan_bench_insights (YIPAN_BENCH_INSIGHTS_DATABASE_URL overrides it;
emptied and migrated first), or SQLite in a temporary file. Progress goes to stderr; the last
line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, insert, select, text

from bench import forecast as forecast_bench
from bench import kpis as kpi_bench
from bench import member_value as member_value_bench
from bench.harness import fresh_postgres, fresh_sqlite, log, machine, vacuum_analyze
from yipan.catalog.models import Category, Product, Sku
from yipan.insights.domain.rebalance import Rules
from yipan.insights.service import transfer_plans
from yipan.inventory.models import Movement, Node, StockLevel
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import UtcDateTime, unit_of_work

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yipan_bench_insights"
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
DAYS = 28
CHUNK = 5000

_days = Table("bench_days", MetaData(), Column("d", Integer), Column("at", UtcDateTime()))


def _nodes(count: int) -> list[dict[str, Any]]:
    rng = random.Random(160)
    rows = []
    for i in range(count):
        kind = "store" if i % 4 else ("dc" if i % 20 == 0 else "warehouse")
        rows.append(
            {
                "code": f"B-{kind[:2].upper()}-{i:04d}",
                "name": f"bench {kind} {i}",
                "type": kind,
                "province": f"P{i % 6}",
                "city": f"C{i % 24}",
                "latitude": round(28.0 + rng.random() * 9.0, 5),
                "longitude": round(113.0 + rng.random() * 9.0, 5),
                "can_ship": kind != "store",
                "can_pickup": kind == "store",
                "can_local_delivery": False,
                "local_delivery_radius_km": 0.0,
                "can_receive_returns": True,
                "daily_capacity": 500,
                "active": True,
                "created_at": NOW,
            }
        )
    return rows


def seed(engine: Engine, skus: int, node_count: int) -> dict[str, int]:
    """The chain, written set at a time; returns the row counts."""
    with unit_of_work(engine) as session:
        session.execute(insert(Node), _nodes(node_count))
        category = session.execute(
            insert(Category).values(code="bench", name="bench").returning(Category.id)
        ).scalar_one()
        for start in range(0, skus, CHUNK):
            block = range(start, min(skus, start + CHUNK))
            session.execute(
                insert(Product),
                [
                    {
                        "code": f"BP-{i:05d}",
                        "name": f"bench product {i}",
                        "category_id": category,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in block
                ],
            )
        products = dict(session.execute(select(Product.code, Product.id)).all())
        for start in range(0, skus, CHUNK):
            session.execute(
                insert(Sku),
                [
                    {
                        "code": f"BS-{i:05d}",
                        "product_id": products[f"BP-{i:05d}"],
                        "name": f"bench sku {i}",
                        "attributes": {},
                        "list_price_fen": 9900,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(start, min(skus, start + CHUNK))
                ],
            )
    log(f"{skus} SKUs and {node_count} nodes written")

    # h: a hash of the pair in 0..999 that decides the level's kind and depth.
    h = "((s.id * 7919 + n.id * 104729) % 1000)"
    store = "n.type = 'store'"
    on_hand = (
        f"CASE WHEN {store} THEN (CASE WHEN {h} < 100 THEN {h} % 3 "
        f"WHEN {h} < 250 THEN 40 + {h} % 40 ELSE 8 + {h} % 8 END) "
        f"ELSE (CASE WHEN {h} < 300 THEN 20 + {h} % 30 ELSE 100 + {h} % 400 END) END"
    )
    reorder = f"CASE WHEN {store} THEN 4 + s.id % 3 ELSE 30 END"
    safety = f"CASE WHEN {store} THEN 1 ELSE 5 END"
    levels_sql = (
        "INSERT INTO inventory_stock_levels "
        "(sku_id, node_id, on_hand, reserved, safety_stock, reorder_point, updated_at) "
        f"SELECT s.id, n.id, {on_hand} + {safety}, 0, {safety}, {reorder}, :now "
        "FROM catalog_skus s CROSS JOIN inventory_nodes n"
    )
    # Stores sell on about 3 days in 28, warehouses and DCs (online) on about 4.
    sells = (
        "CASE WHEN n.type = 'store' THEN (l.sku_id * 13 + l.node_id * 7 + d.d * 3) % 9 "
        "ELSE (l.sku_id * 11 + l.node_id * 5 + d.d) % 7 END = 0"
    )
    units = "1 + (l.sku_id + l.node_id + d.d) % 4"
    sales_sql = (
        "INSERT INTO inventory_movements (sku_id, node_id, kind, quantity, reference, "
        "occurred_at, recorded_at) "
        f"SELECT l.sku_id, l.node_id, 'sale', -({units}), 'bench-sales', d.at, d.at "
        "FROM inventory_stock_levels l JOIN inventory_nodes n ON n.id = l.node_id "
        f"CROSS JOIN bench_days d WHERE {sells}"
    )
    receipts_sql = (
        "INSERT INTO inventory_movements (sku_id, node_id, kind, quantity, reference, "
        "occurred_at, recorded_at) "
        "SELECT l.sku_id, l.node_id, 'receipt', l.on_hand + COALESCE(sold.units, 0), "
        "'bench-opening', :opened, :opened FROM inventory_stock_levels l LEFT JOIN "
        "(SELECT sku_id, node_id, -SUM(quantity) AS units FROM inventory_movements "
        "WHERE kind = 'sale' GROUP BY sku_id, node_id) sold "
        "ON sold.sku_id = l.sku_id AND sold.node_id = l.node_id "
        "WHERE l.on_hand + COALESCE(sold.units, 0) > 0"
    )
    with unit_of_work(engine) as session:
        started = time.perf_counter()
        session.execute(text(levels_sql), {"now": NOW})
        log(f"levels written in {time.perf_counter() - started:.1f} s")
        _days.create(session.connection())
        session.execute(
            insert(_days),
            [{"d": d, "at": NOW - timedelta(days=d, hours=5)} for d in range(DAYS)],
        )
        started = time.perf_counter()
        session.execute(text(sales_sql))
        log(f"sales written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        session.execute(text(receipts_sql), {"opened": NOW - timedelta(days=60)})
        log(f"opening receipts written in {time.perf_counter() - started:.1f} s")
        _days.drop(session.connection())
        levels = session.scalar(select(func.count()).select_from(StockLevel)) or 0
        movements = session.scalar(select(func.count()).select_from(Movement)) or 0
    vacuum_analyze(engine)
    return {"levels": int(levels), "movements": int(movements)}


def time_plans(
    engine: Engine, runs: int
) -> tuple[list[float], list[float], transfer_plans.TransferPlan]:
    """Wall-clock seconds and this process's CPU seconds of each run, and the last plan."""
    seconds: list[float] = []
    cpu: list[float] = []
    plan = None
    for run in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        with unit_of_work(engine, readonly=True) as session:
            plan = transfer_plans.plan_transfers(session, Rules(), clock=FixedClock(NOW))
        seconds.append(round(time.perf_counter() - started, 3))
        cpu.append(round(time.process_time() - cpu_started, 3))
        log(f"run {run + 1}: {seconds[-1]} s ({cpu[-1]} s CPU here), {len(plan.moves)} moves")
    assert plan is not None
    return seconds, cpu, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=160)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="forecast a 1,000-series sample, not 30,490"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "postgresql":
            engine = fresh_postgres(os.environ.get("YIPAN_BENCH_INSIGHTS_DATABASE_URL", DEFAULT_PG))
        else:
            engine = fresh_sqlite(Path(tmp))
        try:
            counts = seed(engine, args.skus, args.nodes)
            log(f"seeded {counts} in {time.perf_counter() - started:.0f} s")
            seconds, cpu, plan = time_plans(engine, args.runs)
        finally:
            engine.dispose()
    figures = {
        "backend": args.backend,
        "transfer_plan_seconds_runs": seconds,
        # The planning process's own CPU (reading rows, arrays, the flows), without the
        # database's: on a shared machine the wall clock also counts other work.
        "transfer_plan_cpu_seconds": statistics.median(cpu),
        **counts,
        "skus_short": plan.skus_short,
        "skus_planned": plan.skus_planned,
        "units_short": plan.units_short,
        "units_moved": plan.units_moved,
        "machine": {**machine(), "bench_total_s": round(time.perf_counter() - started)},
        "transfer_plan_seconds": round(statistics.median(seconds), 3),
        "skus": args.skus,
        "nodes": args.nodes,
        "moves": len(plan.moves),
    }
    # Demand forecasts: synthetic M5-sized series with model choice and backtest (bench.forecast).
    figures.update(forecast_bench.summary(quick=args.quick))
    # The dashboard's KPI queries over the 12-month demo (bench.kpis).
    figures.update(kpi_bench.summary())
    # BG/NBD and Gamma-Gamma fitted on 100,000 simulated members (bench.member_value).
    figures.update(member_value_bench.summary())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
