"""Recommendations benchmark: the offline evaluation on the demo data, training time and the
serving latency of one member's list.

    python -m bench.recommendations [--database sqlite:////path/demo.db] [--scale 1.0]
                                    [--test-days 60] [--members 200] [--seed 7]

Without `--database` the demo is built (seed, scale) into a fresh SQLite file first (about
7 minutes at scale 1 on this machine). The evaluation is a time split: the model is trained on
the purchases placed before the last `test-days` days of the demo's year and judged on the
products each member bought in those days (members who bought on both sides), precision@10 and
recall@10 beside the popularity baseline under the same rules. Serving: `members` members with
purchases, one `recommend_for_member` each (own read-only transaction, model kept in the process,
as the API serves), p50/p95 in milliseconds. `train_seconds` is one training on every purchase
(the read from the orders tables included).

Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.harness import log, machine
from yipan.demo import build_demo
from yipan.insights.service import recommendations as recs
from yipan.kernel.db import make_engine, unit_of_work
from yipan.orders.models import Order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="an existing demo database (URL)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-days", type=int, default=60)
    parser.add_argument("--members", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite:///{Path(scratch) / 'demo.db'}"
        engine = make_engine(url)
        if args.database is None:
            log(f"building the demo at scale {args.scale} …")
            started = time.perf_counter()
            build_demo(engine, seed=args.seed, scale=args.scale)
            log(f"built in {time.perf_counter() - started:.0f} s")
        try:
            figures = run(engine, args.test_days, args.members)
        finally:
            engine.dispose()
    figures["machine"] = machine()
    print(json.dumps(figures))


def run(engine: object, test_days: int, sample: int) -> dict[str, object]:
    with unit_of_work(engine, readonly=True) as session:  # type: ignore[arg-type]
        end = session.scalar(select(func.max(Order.placed_at)))
        if end is None:
            raise SystemExit("the database holds no orders: build the demo first")
        cutoff = end - timedelta(days=test_days)
        log(f"evaluating: trained before {cutoff:%Y-%m-%d %H:%M}, tested on {test_days} days")
        evaluation = recs.evaluate(session, cutoff=cutoff, k=10)
        log(
            f"model P@10 {evaluation.precision_at_k:.4f} R@10 {evaluation.recall_at_k:.4f} · "
            f"popularity P@10 {evaluation.baseline_precision_at_k:.4f} "
            f"R@10 {evaluation.baseline_recall_at_k:.4f} over {evaluation.members} members"
        )
        recs.models.clear()
        model = recs.cached_model(session, refresh=True)
        members = list(
            session.scalars(
                select(Order.member_id)
                .where(Order.member_id.is_not(None))
                .group_by(Order.member_id)
                .order_by(Order.member_id)
            )
        )
    step = max(1, len(members) // max(sample, 1))
    chosen = [str(m) for m in members[::step][:sample]]
    log(f"trained on everything in {model.train_seconds:.2f} s; serving {len(chosen)} members")
    timings: list[float] = []
    for member_id in chosen:
        started = time.perf_counter()
        with unit_of_work(engine, readonly=True) as session:  # type: ignore[arg-type]
            recs.recommend_for_member(session, member_id, limit=10)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(sorted(timings), n=100, method="inclusive")
    return {
        "algorithm": evaluation.algorithm,
        "cutoff": cutoff.isoformat(),
        "test_days": test_days,
        "evaluated_members": evaluation.members,
        "precision_at_10": round(evaluation.precision_at_k, 4),
        "recall_at_10": round(evaluation.recall_at_k, 4),
        "baseline_precision_at_10": round(evaluation.baseline_precision_at_k, 4),
        "baseline_recall_at_10": round(evaluation.baseline_recall_at_k, 4),
        "beats_baseline": evaluation.precision_at_k > evaluation.baseline_precision_at_k
        and evaluation.recall_at_k > evaluation.baseline_recall_at_k,
        "train_seconds": round(model.train_seconds, 3),
        "members_trained": model.members,
        "products": len(model.items),
        "serve_p50_ms": round(cuts[49], 2),
        "serve_p95_ms": round(cuts[94], 2),
    }


if __name__ == "__main__":
    main()
