"""KPI benchmark: the dashboard's KPI queries (DuckDB) over the 12-month demo on PostgreSQL.

    python -m bench.kpis [--requests 40] [--live-runs 3]

The demo (`build_demo`, seed 7, scale 1: 180,000 orders over 12 months, 590,000 ledger rows) is
built into the PostgreSQL database yipan_bench_kpi once (about 12 minutes here) and kept:
`build_demo` leaves a finished demo alone. YIPAN_BENCH_KPI_DATABASE_URL overrides it (any URL
the application takes, SQLite too).

What is timed is `analytics.kpi_table` as the console dashboard and the API call it, from the
process's DuckDB snapshot: HQ over 30 days by region, HQ over 7 days by region, a region
manager's province over 30 days by store, and a store over 7 days; `--requests` rounds of the
four after one warm-up round. `kpi_p95_ms` is the p95 over all of them. `kpi_snapshot_seconds`
is what taking the snapshot cost (once a minute in the background by default), and
`kpi_live_p95_ms` the same HQ 30-day query read live through postgres_scanner — the figure that
made the snapshot the default (docs/kpis.md).

Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text

from bench.console import _Phases
from bench.harness import log, machine, vacuum_analyze
from yipan.auth.domain import ALL, Scope
from yipan.demo.build import build_demo
from yipan.insights.domain.kpis import Breakdown
from yipan.insights.domain.periods import PeriodName
from yipan.insights.service import analytics, kpis
from yipan.kernel.db import make_engine, unit_of_work
from yipan.orders.models import Order

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/yipan_bench_kpi"
REGION, STORE = "江苏省", "ST-JS-NJ-001"


def _ensure_database(url: str) -> None:
    """Create the PostgreSQL database when it is missing (never empty it: the demo is kept)."""
    if not url.startswith("postgres"):
        return
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", pool_size=1)
    name = url.rsplit("/", 1)[1]
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            known = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not known:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _p(samples: list[float], q: int) -> float:
    return round(statistics.quantiles(sorted(samples), n=100, method="inclusive")[q - 1], 1)


def run(url: str, requests: int, live_runs: int) -> dict[str, Any]:
    _ensure_database(url)
    engine = make_engine(url)
    backend = engine.dialect.name
    try:
        started = time.perf_counter()
        summary = build_demo(engine, seed=7, scale=1.0, progress=_Phases())
        if summary.built:
            vacuum_analyze(engine)
            log(f"demo built in {time.perf_counter() - started:.0f} s")
        month = kpis.current_period(PeriodName.MONTH)
        week = kpis.current_period(PeriodName.WEEK)
        asks: list[tuple[str, Callable[..., Any]]] = [
            ("hq_30d_region", lambda s: analytics.kpi_table(s, month, ALL, Breakdown.REGION)),
            ("hq_7d_region", lambda s: analytics.kpi_table(s, week, ALL, Breakdown.REGION)),
            (
                "region_30d_store",
                lambda s: analytics.kpi_table(s, month, Scope("region", REGION), Breakdown.STORE),
            ),
            ("store_7d", lambda s: analytics.kpi_table(s, week, Scope("store", STORE))),
        ]
        with unit_of_work(engine, readonly=True) as session:
            orders = int(session.scalar(select(func.count()).select_from(Order)) or 0)
            snapshot = analytics.take_snapshot(session)
            log(f"{orders:,} orders; snapshot taken in {snapshot:.2f} s")
            samples: list[float] = []
            per_ask: dict[str, list[float]] = {name: [] for name, _ in asks}
            for round_no in range(requests + 1):
                for name, ask in asks:
                    t = time.perf_counter()
                    ask(session)
                    if round_no:  # the first round warms up
                        samples.append((time.perf_counter() - t) * 1000)
                        per_ask[name].append(samples[-1])
            live: list[float] = []
            for _ in range(live_runs):
                t = time.perf_counter()
                analytics.kpi_table(session, month, ALL, Breakdown.REGION, max_age=0)
                live.append((time.perf_counter() - t) * 1000)
    finally:
        engine.dispose()
    log(f"KPI p50 {_p(samples, 50)} ms, p95 {_p(samples, 95)} ms; live {max(live):.0f} ms")
    return {
        "kpi_p95_ms": _p(samples, 95),
        "kpi_p50_ms": _p(samples, 50),
        **{f"kpi_{name}_p95_ms": _p(xs, 95) for name, xs in per_ask.items()},
        "kpi_snapshot_seconds": round(snapshot, 2),
        "kpi_live_p95_ms": _p(live, 95) if len(live) > 1 else round(live[0], 1),
        "kpi_orders": orders,
        "kpi_backend": backend,
    }


def summary(requests: int = 40, live_runs: int = 3) -> dict[str, Any]:
    """The keys `bench.insights` reports."""
    url = os.environ.get("YIPAN_BENCH_KPI_DATABASE_URL", DEFAULT_URL)
    return run(url, requests, live_runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--live-runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = summary(args.requests, args.live_runs)
    figures["machine"] = {**machine(), "bench_total_s": round(time.perf_counter() - started)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
