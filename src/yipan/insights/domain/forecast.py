"""Demand forecasting policy: which model each SKU × node series gets, and how it is judged.

The models, the rolling-origin backtest and the error measures are statsforecast's and
utilsforecast's; only the policy around them is written here:

- **History** is a dense matrix, one row per series and one column per business day, with a mask
  of the days that were *observed*. A day is not observed before the series began (its first
  stock movement) or when it was *censored*: the node held none of the SKU at the start of the
  day and sold none during it — no stock, no sale, so the zero says nothing about demand. Such
  days are imputed for fitting (the mean of the series' observed days on the same weekday,
  else of all its observed days) and left out of every backtest error.
- **Classification**: a series with no observed demand gets a zero forecast (`Zero`, no
  backtest). Otherwise it is *intermittent* when its average demand interval (observed days per
  day with demand, ADI) exceeds 1.32 (Syntetos–Boylan), else *regular*.
- **Candidates** per family: intermittent → the Croston family (CrostonOptimized, ADIDA, IMAPA,
  TSB); regular → a seasonal model restricted to a cheap fixed spec (per-weekday optimised
  exponential smoothing, i.e. ETS(A,N,A)-like over the trimmed window, and a 4-week seasonal
  window average). AutoETS would search dozens of specs per series (~75 ms each here, an hour
  for an M5-sized run), so it is not a candidate.
- **Choice**: a rolling-origin backtest (`StatsForecast.cross_validation`, `windows` windows of
  `min(horizon, 28)` days) of SeasonalNaive(7) and the family's candidates on the last
  `history_days` days; WAPE, MASE and bias come from `utilsforecast.losses`. The candidate with
  the lowest WAPE is chosen only if it beats SeasonalNaive's WAPE; otherwise SeasonalNaive is.
  A series too short for the backtest gets SeasonalNaive without one.

Everything here is pure computation over arrays; the service reads the ledger and stores results.
statsforecast and utilsforecast are imported when a forecast runs, not with this module: they
take seconds to import, which every API process and CLI command would pay at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

SEASON = 7
ADI_CUTOFF = 1.32  # Syntetos & Boylan (2005): above it demand is intermittent
NAIVE = "SeasonalNaive"
ZERO = "Zero"
REGULAR, INTERMITTENT, NO_DEMAND = "regular", "intermittent", "no_demand"
MAX_BACKTEST_HORIZON = 28
MIN_HISTORY = 2 * SEASON  # fewer observed-or-imputed days: SeasonalNaive on what there is


def candidate_models(family: str) -> list[Any]:
    """The models a family is backtested with, SeasonalNaive(7) first."""
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        CrostonOptimized,
        SeasonalExponentialSmoothingOptimized,
        SeasonalNaive,
        SeasonalWindowAverage,
    )

    if family == INTERMITTENT:
        return [
            SeasonalNaive(SEASON),
            CrostonOptimized(),
            ADIDA(),
            IMAPA(),
            TSB(alpha_d=0.1, alpha_p=0.1),
        ]
    return [
        SeasonalNaive(SEASON),
        SeasonalExponentialSmoothingOptimized(season_length=SEASON, alias="SeasonalES"),
        SeasonalWindowAverage(season_length=SEASON, window_size=4, alias="SeasonalWA"),
    ]


@dataclass(frozen=True)
class Settings:
    """How a run forecasts: the horizon, the backtest and the history it looks at."""

    horizon: int = 28
    windows: int = 2
    history_days: int = 365
    n_jobs: int = 1

    def __post_init__(self) -> None:
        if self.horizon <= 0:
            raise ValueError(f"the horizon must be at least one day, got {self.horizon}")
        if self.windows <= 0:
            raise ValueError(f"the backtest needs at least one window, got {self.windows}")
        if self.history_days < MIN_HISTORY:
            raise ValueError(f"history_days must be at least {MIN_HISTORY}")

    @property
    def backtest_horizon(self) -> int:
        return min(self.horizon, MAX_BACKTEST_HORIZON)


@dataclass(frozen=True)
class Accuracy:
    """Backtest errors of one model on one series (over every window, observed days only)."""

    wape: float | None  # None when nothing was sold in the backtest windows
    mase: float | None  # None when the training history has no seasonal variation
    bias: float  # mean of forecast − actual, units a day
    abs_error: float  # Σ|forecast − actual|
    error_sd: float  # standard deviation of the daily error


@dataclass(frozen=True)
class SeriesForecast:
    family: str
    model: str
    history_days: int  # days the series is fitted on (observed or imputed)
    censored_days: int
    backtest_actual: float | None  # Σ actual over the backtest days; None without a backtest
    chosen: Accuracy | None
    naive: Accuracy | None
    daily: FloatArray  # the horizon's daily forecast, ≥ 0


@dataclass(frozen=True)
class Demand:
    """Daily demand of n series over T business days (the last column is the as-of day).

    `y[i, t]` is the net units sold; `observed[i, t]` is False before series i began and on
    its censored days."""

    y: FloatArray
    observed: BoolArray
    start: NDArray[np.int64]  # column of each series' first day
    first_weekday: int = 0  # weekday (Monday 0) of column 0

    def __post_init__(self) -> None:
        if self.y.shape != self.observed.shape or self.y.ndim != 2:
            raise ValueError("y and observed must be matrices of the same shape")
        if len(self.start) != self.y.shape[0]:
            raise ValueError("one start per series")

    def last(self, days: int) -> Demand:
        """The last `days` columns (all of them if there are fewer), as float64."""
        first = max(0, self.y.shape[1] - days)
        return Demand(
            y=np.asarray(self.y[:, first:], dtype=np.float64),
            observed=self.observed[:, first:],
            start=np.maximum(self.start - first, 0).astype(np.int64),
            first_weekday=(self.first_weekday + first) % SEASON,
        )


@dataclass
class Timings:
    backtest_seconds: float = 0.0
    forecast_seconds: float = 0.0
    series_by_family: dict[str, int] = field(default_factory=dict)


def classify(demand: Demand) -> list[str]:
    """Each series' family from its observed days (see the module docstring)."""
    days = demand.observed.sum(axis=1)
    selling = ((demand.y > 0) & demand.observed).sum(axis=1)
    out: list[str] = []
    for n_days, n_selling in zip(days.tolist(), selling.tolist(), strict=True):
        if n_selling == 0:
            out.append(NO_DEMAND)
        elif n_days / n_selling > ADI_CUTOFF:
            out.append(INTERMITTENT)
        else:
            out.append(REGULAR)
    return out


def impute(demand: Demand) -> FloatArray:
    """The history to fit on: censored days replaced by the mean of the series' observed days of
    the same weekday (else of all its observed days, else 0); days before the start stay 0."""
    y = np.where(demand.observed, demand.y, 0.0)
    n, t = y.shape
    weekday = (np.arange(t) + demand.first_weekday) % SEASON
    overall_n = demand.observed.sum(axis=1)
    overall = np.divide(y.sum(axis=1), overall_n, out=np.zeros(n), where=overall_n > 0)
    filled = y.copy()
    live = np.arange(t)[None, :] >= demand.start[:, None]
    for day in range(SEASON):
        cols = weekday == day
        seen = demand.observed[:, cols]
        count = seen.sum(axis=1)
        mean = np.where(
            count > 0,
            np.divide(y[:, cols].sum(axis=1), count, out=np.zeros(n), where=count > 0),
            overall,
        )
        hole = live[:, cols] & ~seen
        block = filled[:, cols]
        block[hole] = np.broadcast_to(mean[:, None], block.shape)[hole]
        filled[:, cols] = block
    return filled


def _long(ids: Sequence[int], y: FloatArray, start: NDArray[np.int64]) -> pd.DataFrame:
    """Rows i of y from their start as statsforecast's long frame; ds is the column number (an
    integer time index, freq 1)."""
    # Imported when forecasting, as statsforecast is: pandas takes ~0.3 s to load, which every
    # API worker and CLI command importing this module would otherwise pay.
    import pandas as pd

    t = y.shape[1]
    begins = [int(start[i]) for i in ids]
    lengths = [t - b for b in begins]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.asarray(ids, dtype=np.int64), lengths),
            "ds": np.concatenate([np.arange(b, t) for b in begins]) if ids else np.array([]),
            "y": np.concatenate([y[i, b:] for i, b in zip(ids, begins, strict=True)])
            if ids
            else np.array([]),
        }
    )


def _accuracy(
    cv: pd.DataFrame, models: list[str], train: pd.DataFrame
) -> dict[str, dict[int, Accuracy]]:
    """Per model, per series: WAPE, MASE and bias over all backtest windows (utilsforecast)."""
    from utilsforecast.losses import bias, mae, mase, wape

    flat = cv.drop(columns=["cutoff"])
    w = wape(flat, models)
    b = bias(flat, models)
    m = mase(flat, models, seasonality=SEASON, train_df=train)
    a = mae(flat, models)
    counts = flat.groupby("unique_id").size()
    errors = flat[models].sub(flat["y"], axis=0)
    errors["unique_id"] = flat["unique_id"]
    sd = errors.groupby("unique_id")[models].std(ddof=0)
    out: dict[str, dict[int, Accuracy]] = {name: {} for name in models}
    w, b, m, a = (x.set_index("unique_id") for x in (w, b, m, a))
    for name in models:
        for uid in w.index:
            wv, mv = float(w.at[uid, name]), float(m.at[uid, name])
            out[name][int(uid)] = Accuracy(
                wape=wv if np.isfinite(wv) else None,
                mase=mv if np.isfinite(mv) else None,
                bias=float(b.at[uid, name]),
                abs_error=float(a.at[uid, name]) * int(counts[uid]),
                error_sd=float(sd.at[uid, name]),
            )
    return out


def choose(naive: Accuracy, candidates: dict[str, Accuracy]) -> str:
    """The candidate with the lowest backtest WAPE if it beats SeasonalNaive's, else SeasonalNaive.

    Without sales in the backtest windows (no WAPE) the lowest absolute error decides."""

    def score(acc: Accuracy) -> float:
        return acc.wape if acc.wape is not None else acc.abs_error

    best = min(candidates, key=lambda name: (score(candidates[name]), name), default=None)
    if best is None or not score(candidates[best]) < score(naive):
        return NAIVE
    return best


def forecast_all(
    demand: Demand,
    settings: Settings,
    *,
    progress: Callable[[str, int], None] | None = None,
    timings: Timings | None = None,
) -> list[SeriesForecast]:
    """Forecast every series of `demand` `settings.horizon` days ahead, choosing its model by
    backtest. `progress(step, series)` is told as each family's steps finish."""
    from statsforecast import StatsForecast

    timings = timings if timings is not None else Timings()
    report = progress or (lambda step, count: None)
    demand = demand.last(settings.history_days)
    n, t = demand.y.shape
    y = impute(demand)
    families = classify(demand)
    live = np.arange(t)[None, :] >= demand.start[:, None]
    history = live.sum(axis=1)
    censored = (live & ~demand.observed).sum(axis=1)
    results: dict[int, SeriesForecast] = {}
    h, bh = settings.horizon, settings.backtest_horizon
    needed = settings.windows * bh + MIN_HISTORY

    for i in range(n):
        if families[i] == NO_DEMAND:
            results[i] = SeriesForecast(
                NO_DEMAND, ZERO, int(history[i]), int(censored[i]), None, None, None, np.zeros(h)
            )
    for family in (REGULAR, INTERMITTENT):
        ids = [i for i in range(n) if families[i] == family]
        timings.series_by_family[family] = len(ids)
        if not ids:
            continue
        models = candidate_models(family)
        names = [repr(m) for m in models]
        sf = StatsForecast(models=models, freq=1, n_jobs=settings.n_jobs)
        frame = _long(ids, y, demand.start)
        long_enough = [i for i in ids if history[i] >= needed]
        chosen: dict[int, str] = dict.fromkeys(ids, NAIVE)
        accuracy: dict[str, dict[int, Accuracy]] = {}
        actual: dict[int, float] = {}
        started = time.perf_counter()
        if long_enough:
            train = frame[frame["unique_id"].isin(long_enough)]
            cv = sf.cross_validation(df=train, h=bh, n_windows=settings.windows, step_size=bh)
            cv = cv.reset_index() if "unique_id" not in cv.columns else cv
            # Censored days are no observation of demand: out of every error.
            uid = cv["unique_id"].to_numpy(dtype=np.int64)
            seen = demand.observed[uid, cv["ds"].to_numpy(dtype=np.int64)]
            cv = cv[seen].copy()
            for name in names:
                cv[name] = cv[name].clip(lower=0.0)
            cutoff = t - settings.windows * bh
            accuracy = _accuracy(cv, names, train[train["ds"] < cutoff])
            actual = cv.groupby("unique_id")["y"].sum().to_dict()
            for i in long_enough:
                if i in accuracy[NAIVE]:
                    chosen[i] = choose(
                        accuracy[NAIVE][i],
                        {m: accuracy[m][i] for m in names if m != NAIVE and i in accuracy[m]},
                    )
        timings.backtest_seconds += time.perf_counter() - started
        report(f"{family} backtest", len(long_enough))
        started = time.perf_counter()
        fc = sf.forecast(df=frame, h=h)
        fc = fc.reset_index() if "unique_id" not in fc.columns else fc
        timings.forecast_seconds += time.perf_counter() - started
        values = {name: fc[name].to_numpy(dtype=np.float64).reshape(len(ids), h) for name in names}
        order = fc["unique_id"].to_numpy(dtype=np.int64).reshape(len(ids), h)[:, 0]
        for row, i in enumerate(order.tolist()):
            model = chosen[i]
            # Under a season of history SeasonalNaive has no value for some weekdays: the
            # series' mean stands in for them.
            raw = values[model][row]
            mean = float(y[i, demand.start[i] :].mean()) if demand.start[i] < t else 0.0
            daily = np.where(np.isnan(raw), mean, raw).clip(min=0.0)
            results[i] = SeriesForecast(
                family=family,
                model=model,
                history_days=int(history[i]),
                censored_days=int(censored[i]),
                backtest_actual=actual.get(i),
                chosen=accuracy[model].get(i) if accuracy else None,
                naive=accuracy[NAIVE].get(i) if accuracy else None,
                daily=daily,
            )
        report(f"{family} forecast", len(ids))
    return [results[i] for i in range(n)]


def pooled_wape(abs_error: float, actual: float) -> float | None:
    """WAPE of many series together: Σ|error| / Σ actual (None when nothing was sold)."""
    return abs_error / actual if actual > 0 else None
