"""What the benchmarks share: fresh databases, a pool of worker processes, latency summaries."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from yipan.kernel import migrate
from yipan.kernel.db import make_engine

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yipan_bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_postgres(url: str) -> Engine:
    """Empty the bench database (create it if missing) and migrate it."""
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        engine.dispose()
        admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", pool_size=1)
        name = url.rsplit("/", 1)[1]
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    return engine


def fresh_sqlite(directory: Path) -> Engine:
    path = directory / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    return engine


Worker = Callable[[str, int, float, Any], tuple[int, int, float]]


def run_workers(target: Worker, url: str, processes: int, seconds: float) -> tuple[int, int, float]:
    """Start `processes` workers together; each works for `seconds` and reports
    (done, refused, elapsed). Returns the totals and the longest elapsed time."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(target, url, w, seconds, barrier, queue))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds * 20 + 120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        raise RuntimeError(f"worker failed: {failures[0]}")
    done = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    return done, refused, elapsed


def _worker_main(
    target: Worker, url: str, worker: int, seconds: float, barrier: Any, queue: Any
) -> None:
    try:
        queue.put(target(url, worker, seconds, barrier))
    except Exception as exc:  # report, so the parent does not hang waiting
        queue.put(f"{type(exc).__name__}: {exc}")


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p99": round(cuts[98], 3), "max": round(ordered[-1], 3)}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": sys.platform,
    }
