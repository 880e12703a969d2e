"""Orders placed by two versions of the code in alternating slices: which one costs less?

    python -m bench.orders_ab --baseline PATH [--pairs 6] [--seconds 8] [--workers 2]

The VMs these benchmarks run on change speed by a third within minutes, which hides a change of
a few per cent between two full runs of `bench.orders`. This runs its uniform orders (2-line
`tmall` orders, 64 clients) against the code here and against the checkout at PATH (its `src`
first on the server's PYTHONPATH), one server at a time on the same PostgreSQL database, in
short slices: A B, then B A, and so on. Each pair's ratio (this code over the baseline) is
measured minutes apart at most, so the machine's drift moves both sides of it alike; the
median of the pairs is the answer, their range how sure it is.

The two must share the database schema (the same migrations). Progress goes to stderr; the
last line on stdout is one JSON object: every slice, and per figure the ratios' median, lowest
and highest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

from bench.harness import (
    api_server,
    deliver_backlog,
    fresh_postgres,
    log,
    machine,
    vacuum_analyze,
)
from bench.orders import DEFAULT_PG, build, uniform

HERE = Path(__file__).resolve().parent.parent
MIGRATIONS = Path("src/yipan/migrations/versions")


def _migrations(root: Path) -> set[str]:
    return {p.name for p in (root / MIGRATIONS).glob("*.py")}


def _figures(got: dict[str, Any]) -> dict[str, float]:
    cpu = got["cpu_ms_per_order"]
    return {
        "orders_per_s": got["orders_per_s"],
        "p99_ms": got["p99_ms"],
        "server_cpu_ms": cpu["server"],
        "database_cpu_ms": cpu["database"],
        "cpu_ms": round(cpu["server"] + cpu["database"], 2),
    }


def _ratios(slices: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_pair: dict[int, dict[str, dict[str, float]]] = {}
    for s in slices:
        by_pair.setdefault(s["pair"], {})[s["version"]] = s["figures"]
    out: dict[str, dict[str, float]] = {}
    for figure in ("orders_per_s", "p99_ms", "server_cpu_ms", "database_cpu_ms", "cpu_ms"):
        ratios = [
            p["candidate"][figure] / p["baseline"][figure]
            for p in by_pair.values()
            if p.get("baseline", {}).get(figure)
        ]
        if ratios:
            out[figure] = {
                "median": round(statistics.median(ratios), 3),
                "lowest": round(min(ratios), 3),
                "highest": round(max(ratios), 3),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout to compare with")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    if not (baseline / "src" / "yipan").is_dir():
        parser.error(f"{baseline} holds no src/yipan")
    if _migrations(baseline) != _migrations(HERE):
        parser.error(f"{baseline} has other migrations than this checkout: other tables")
    if args.pairs < 1 or args.seconds <= 0:
        parser.error("--pairs and --seconds must be positive")

    url = os.environ.get("YIPAN_BENCH_ORDERS_DATABASE_URL", DEFAULT_PG)
    engine = fresh_postgres(url)
    log("building the demo (165 nodes, 2,000 SKUs)")
    world = build(engine)
    deliver_backlog(engine)
    vacuum_analyze(engine)
    paths = {"candidate": None, "baseline": str(baseline / "src")}
    slices: list[dict[str, Any]] = []
    for pair in range(args.pairs):
        order = ("candidate", "baseline") if pair % 2 == 0 else ("baseline", "candidate")
        for version in order:
            with api_server(url, workers=args.workers, pythonpath=paths[version]) as (port, pid):
                got = uniform(port, pid, engine, world, args.seconds, f"ab{pair}{version[0]}")
            if got["errors"]:
                raise RuntimeError(f"{version} answered with errors: {got['errors']}")
            figures = _figures(got)
            slices.append({"pair": pair, "version": version, "figures": figures})
            log(f"pair {pair} {version}: {json.dumps(figures)}")
    engine.dispose()
    result = {
        "baseline": str(baseline),
        "workers": args.workers,
        "seconds": args.seconds,
        "ratios_candidate_over_baseline": _ratios(slices),
        "slices": slices,
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
