"""Member-value benchmark: fitting BG/NBD and Gamma-Gamma on many members, and the whole service
read from the orders tables.

    python -m bench.member_value [--members 100000] [--seed 7] [--skip-database]

Members are simulated from known parameters over two years of daily history (BG/NBD: rates
~ Gamma(0.6, 40 days), drop-out ~ Beta(0.9, 3); spend per purchase ~ Gamma(6, ν), ν ~ Gamma(4,
60,000 fen)), with a few purchases falling on one day now and then. Phase "domain" times the
pure code on those purchases: the summary (same-day purchases folded), each fit and scoring
every member. Phase "service" writes the same purchases as completed till orders with one line
into a fresh SQLite database (rows inserted directly, not through the orders service: the read is
what is measured) and times `value_members`, which reads, folds, fits and scores. The recovered
parameters are printed beside the true ones.

Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from bench.harness import fresh_sqlite, log, machine
from yipan.insights.domain import member_value as mv
from yipan.insights.service import member_value as service
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import unit_of_work
from yipan.orders.models import Order, OrderLine

TRUE_BGNBD = mv.BgNbd(r=0.6, alpha=40.0, a=0.9, b=3.0)  # α in days
TRUE_SPEND = mv.GammaGamma(p=6.0, q=4.0, gamma=60_000.0)  # fen
HISTORY_DAYS = 730
AS_OF = date(2026, 3, 9)


def simulate(members: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Purchases as (member, day ordinal, fen): each member joins on a random day of the two
    years and buys by BG/NBD until they drop out or the history ends."""
    rate = rng.gamma(TRUE_BGNBD.r, 1 / TRUE_BGNBD.alpha, members)
    drop = rng.beta(TRUE_BGNBD.a, TRUE_BGNBD.b, members)
    nu = rng.gamma(TRUE_SPEND.q, 1 / TRUE_SPEND.gamma, members)
    joined = rng.integers(0, HISTORY_DAYS, members).astype(float)
    who: list[np.ndarray] = []
    when: list[np.ndarray] = []
    clock = joined.copy()
    active = np.ones(members, dtype=bool)
    first = True
    while active.any():
        ids = np.flatnonzero(active)
        who.append(ids)
        when.append(clock[ids].copy())
        gap = rng.exponential(1 / rate[ids])
        clock[ids] += gap
        stays = (rng.random(ids.size) >= drop[ids]) | first
        first = False
        active[ids] = stays & (clock[ids] < HISTORY_DAYS)
    member = np.concatenate(who)
    day = np.floor(np.concatenate(when)).astype(np.int64) + AS_OF.toordinal() - HISTORY_DAYS + 1
    fen = np.maximum(1, np.round(rng.gamma(TRUE_SPEND.p, 1 / nu[member])))
    return member, day, fen


def domain_phase(member: np.ndarray, day: np.ndarray, fen: np.ndarray) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    h = mv.summarise(member, day, fen, AS_OF.toordinal())
    timings["summarise_s"] = time.perf_counter() - started
    weeks = 7.0
    started = time.perf_counter()
    bg = mv.fit_bgnbd(h.frequency, h.recency / weeks, h.age / weeks)
    timings["fit_bgnbd_s"] = time.perf_counter() - started
    started = time.perf_counter()
    gg = mv.fit_gamma_gamma(h.frequency, h.monetary)
    timings["fit_gamma_gamma_s"] = time.perf_counter() - started
    started = time.perf_counter()
    expected = mv.expected_purchases(
        bg.params, 90 / weeks, h.frequency, h.recency / weeks, h.age / weeks
    )
    mv.probability_alive(bg.params, h.frequency, h.recency / weeks, h.age / weeks)
    spend = mv.expected_average_spend(gg.params, h.frequency, h.monetary)
    mv.customer_value(expected, spend)
    timings["score_all_s"] = time.perf_counter() - started
    return {
        "members": len(h),
        "repeat_members": int(np.count_nonzero(h.frequency)),
        "purchases": int(member.size),
        **{k: round(v, 3) for k, v in timings.items()},
        "bgnbd": {
            "r": round(bg.params.r, 4),
            "alpha_days": round(bg.params.alpha * weeks, 3),
            "a": round(bg.params.a, 4),
            "b": round(bg.params.b, 4),
            "converged": bg.converged,
        },
        "gamma_gamma": {
            "p": round(gg.params.p, 4),
            "q": round(gg.params.q, 4),
            "gamma_fen": round(gg.params.gamma, 1),
            "converged": gg.converged,
        },
        "truth": {
            "bgnbd": vars(TRUE_BGNBD),
            "gamma_gamma": vars(TRUE_SPEND),
        },
    }


def service_phase(member: np.ndarray, day: np.ndarray, fen: np.ndarray) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        engine = fresh_sqlite(Path(directory))
        log(f"writing {member.size} orders")
        started = time.perf_counter()
        epoch = date(1970, 1, 1).toordinal()
        # 12:00 in Shanghai (04:00 UTC) on each purchase day.
        placed = [
            datetime.fromtimestamp((int(d) - epoch) * 86400 + 4 * 3600, UTC) for d in day.tolist()
        ]
        batch = 50_000
        with unit_of_work(engine) as session:
            for start in range(0, member.size, batch):
                stop = min(member.size, start + batch)
                session.execute(
                    insert(Order),
                    [
                        {
                            "id": i + 1,
                            "channel": "pos",
                            "external_id": f"R{i}",
                            "payload_hash": "-",
                            "kind": "pos",
                            "state": "completed",
                            "member_id": f"M{int(member[i]) + 1:010d}",
                            "store": "ST-1",
                            "currency": "CNY",
                            "goods_fen": int(fen[i]),
                            "line_discount_fen": 0,
                            "order_discount_fen": 0,
                            "shipping_fen": 0,
                            "total_fen": int(fen[i]),
                            "placed_at": placed[i],
                            "created_at": placed[i],
                            "updated_at": placed[i],
                        }
                        for i in range(start, stop)
                    ],
                )
                session.execute(
                    insert(OrderLine),
                    [
                        {
                            "order_id": i + 1,
                            "line_no": 1,
                            "sku": "SKU-1",
                            "quantity": 1,
                            "unit_price_fen": int(fen[i]),
                            "line_discount_fen": 0,
                            "order_discount_fen": 0,
                            "paid_fen": int(fen[i]),
                            "method": "in_store",
                            "status": "fulfilled",
                            "returned_quantity": 0,
                            "refunded_fen": 0,
                        }
                        for i in range(start, stop)
                    ],
                )
        written = time.perf_counter() - started
        log(f"written in {written:.1f} s; valuing members")
        clock = FixedClock(datetime(2026, 3, 10, 4, 0, tzinfo=UTC))
        started = time.perf_counter()
        with unit_of_work(engine, readonly=True) as session:
            fitted, values = service.value_members(session, clock=clock)
        total = time.perf_counter() - started
        engine.dispose()
    return {
        "orders": int(member.size),
        "members": fitted.members,
        "value_members_s": round(total, 3),
        "of_which_fitting_s": round(fitted.fit_seconds, 3),
        "scored": len(values),
        "as_of": AS_OF.isoformat(),
        "r": round(fitted.purchases.params.r, 4),
        "alpha_days": round(fitted.purchases.params.alpha * 7, 3),
        "a": round(fitted.purchases.params.a, 4),
        "b": round(fitted.purchases.params.b, 4),
    }


def summary(members: int = 100_000, seed: int = 7) -> dict[str, Any]:
    """The keys `bench.insights` reports: the fits on `members` simulated members."""
    member, day, fen = simulate(members, np.random.default_rng(seed))
    log(f"member value: {members} members, {member.size} purchases simulated")
    domain = domain_phase(member, day, fen)
    return {
        "bgnbd_fit_seconds_100k": domain["fit_bgnbd_s"],
        "gamma_gamma_fit_seconds_100k": domain["fit_gamma_gamma_s"],
        "member_value_members": domain["members"],
        "bgnbd_fitted": domain["bgnbd"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-database", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    member, day, fen = simulate(args.members, rng)
    log(f"{args.members} members, {member.size} purchases simulated")
    result: dict[str, Any] = {
        "machine": machine(),
        "date": date.today().isoformat(),
        "domain": domain_phase(member, day, fen),
    }
    if not args.skip_database:
        result["service"] = service_phase(member, day, fen)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
