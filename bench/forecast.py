"""Forecast benchmark: 30,490 synthetic daily series of 1,941 days (the M5 competition's size),
28 days ahead, with model choice by backtest.

    python -m bench.forecast [--quick] [--series 30490] [--days 1941] [--n-jobs 2]

The series are synthetic, generated from a seed: about half regular (Poisson around a level
with a weekly pattern, a slow trend and a yearly swing) and half intermittent (a few sales a
month, Bernoulli × a small geometric size), and about one in twenty with stock-out stretches
(censored days, as the ledger would show them). What is timed is
`insights.domain.forecast.forecast_all`: classification, imputation of censored days, the
rolling-origin backtest of SeasonalNaive(7) and each family's candidates on the last 365 days,
the choice, and the final 28-day forecast — everything the service does after reading the
ledger. `forecast_wape` is the chosen models' pooled backtest WAPE (Σ|error| / Σ actual over
every series), `baseline_wape` SeasonalNaive's over the same days.

`--quick` runs 1,000 series. Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from bench.harness import log, machine
from yipan.insights.domain import forecast as fc

M5_SERIES = 30_490
M5_DAYS = 1_941
QUICK_SERIES = 1_000


def synthetic_demand(series: int, days: int, seed: int = 5) -> fc.Demand:
    """M5-like daily demand; float32 to keep 30,490 × 1,941 in memory (≈ 240 MB)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    weekly = np.array([0.9, 0.85, 0.85, 0.9, 1.1, 1.3, 1.2])
    y = np.zeros((series, days), dtype=np.float32)
    observed = np.ones((series, days), dtype=np.bool_)
    start = rng.integers(0, days // 3, size=series).astype(np.int64)
    regular = rng.random(series) < 0.5
    for lo in range(0, series, 2000):
        hi = min(series, lo + 2000)
        block = slice(lo, hi)
        k = hi - lo
        level = rng.lognormal(mean=1.0, sigma=0.8, size=(k, 1))
        trend = 1 + rng.normal(0, 0.3, size=(k, 1)) * t[None, :] / days
        yearly = 1 + 0.2 * np.sin(2 * np.pi * (t[None, :] + rng.integers(0, 365, (k, 1))) / 365)
        rate = level * weekly[t % 7][None, :] * np.clip(trend, 0.2, None) * yearly
        reg = rng.poisson(rate)
        p = rng.uniform(0.03, 0.3, size=(k, 1))
        sells = rng.random((k, days)) < p * weekly[t % 7][None, :]
        inter = sells * rng.geometric(0.6, size=(k, days))
        y[block] = np.where(regular[block, None], reg, inter)
        y[block][np.arange(days)[None, :] < start[block, None]] = 0
    # One series in twenty runs out of stock for a week or two now and then.
    for i in np.flatnonzero(rng.random(series) < 0.05):
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(start[i], days))
            gap = slice(at, min(days, at + int(rng.integers(7, 15))))
            y[i, gap] = 0
            observed[i, gap] = False
    observed &= np.arange(days)[None, :] >= start[:, None]
    return fc.Demand(y=y, observed=observed, start=start, first_weekday=0)  # type: ignore[arg-type]


def run(series: int = M5_SERIES, days: int = M5_DAYS, n_jobs: int = 2) -> dict[str, Any]:
    """Generate, forecast 28 days with model choice and backtest; the figures."""
    started = time.perf_counter()
    demand = synthetic_demand(series, days)
    log(f"{series} series × {days} days generated in {time.perf_counter() - started:.1f} s")
    timings = fc.Timings()
    settings = fc.Settings(horizon=28, windows=2, history_days=365, n_jobs=n_jobs)
    began, cpu = time.perf_counter(), time.process_time()
    results = fc.forecast_all(
        demand,
        settings,
        timings=timings,
        progress=lambda step, count: log(
            f"{step}: {count} series at {time.perf_counter() - began:.1f} s"
        ),
    )
    seconds = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu
    backtested = [r for r in results if r.chosen is not None and r.naive is not None]
    actual = sum(r.backtest_actual or 0.0 for r in backtested)
    chosen_error = sum(r.chosen.abs_error for r in backtested if r.chosen)
    naive_error = sum(r.naive.abs_error for r in backtested if r.naive)
    models: dict[str, int] = {}
    for r in results:
        models[r.model] = models.get(r.model, 0) + 1
    return {
        "forecast_series": series,
        "forecast_days": days,
        "forecast_seconds": round(seconds, 2),
        "forecast_cpu_seconds_main": round(cpu_seconds, 2),
        "forecast_backtest_seconds": round(timings.backtest_seconds, 2),
        "forecast_fit_seconds": round(timings.forecast_seconds, 2),
        "forecast_families": timings.series_by_family,
        "forecast_models": dict(sorted(models.items())),
        "forecast_wape": round(fc.pooled_wape(chosen_error, actual) or 0.0, 4),
        "baseline_wape": round(fc.pooled_wape(naive_error, actual) or 0.0, 4),
        "forecast_n_jobs": n_jobs,
    }


def summary(quick: bool = False, n_jobs: int = 2) -> dict[str, Any]:
    """The keys `bench.insights` reports: the full M5-sized run, or with `quick` the sample
    (then `forecast_seconds_30490` is left out: the sample's time is `forecast_seconds`)."""
    figures = run(QUICK_SERIES if quick else M5_SERIES, M5_DAYS, n_jobs)
    keep = ("forecast_seconds", "forecast_series", "forecast_wape", "baseline_wape")
    out = {key: figures[key] for key in keep}
    if not quick:
        out["forecast_seconds_30490"] = figures["forecast_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SERIES} series")
    parser.add_argument("--series", type=int, default=None)
    parser.add_argument("--days", type=int, default=M5_DAYS)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    series = args.series or (QUICK_SERIES if args.quick else M5_SERIES)
    figures = run(series, args.days, args.n_jobs)
    if series == M5_SERIES and args.days == M5_DAYS:
        figures["forecast_seconds_30490"] = figures["forecast_seconds"]
    figures["machine"] = machine()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
