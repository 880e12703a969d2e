"""The forecasting policy over plain arrays: families, imputation of censored days, the choice
against SeasonalNaive, and a small end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.insights.domain import forecast as fc


def _demand(y: list[list[float]], observed: list[list[bool]] | None = None) -> fc.Demand:
    arr = np.array(y, dtype=np.float64)
    seen = np.ones_like(arr, dtype=np.bool_) if observed is None else np.array(observed)
    return fc.Demand(arr, seen, np.zeros(len(arr), dtype=np.int64))


def test_families_follow_the_average_demand_interval() -> None:
    demand = _demand(
        [
            [3, 4, 0, 5, 6, 2, 1],  # 6 selling days of 7: ADI 1.17
            [0, 0, 2, 0, 0, 1, 0],  # ADI 3.5
            [0] * 7,
        ]
    )
    assert fc.classify(demand) == [fc.REGULAR, fc.INTERMITTENT, fc.NO_DEMAND]
    # A stock-out is not a day without demand: with the zeros censored the first is regular.
    censored = _demand([[5, 0, 0, 0, 6, 5, 4]], [[True, False, False, False, True, True, True]])
    assert fc.classify(censored) == [fc.REGULAR]


def test_censored_days_take_the_mean_of_the_same_weekday() -> None:
    weeks = 4
    y = np.tile(np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.float64), weeks)
    observed = np.ones_like(y, dtype=np.bool_)
    y[[5, 12]] = 0  # two Saturdays out of stock
    observed[[5, 12]] = False
    demand = fc.Demand(y[None, :], observed[None, :], np.array([0]), first_weekday=0)
    filled = fc.impute(demand)[0]
    assert filled[5] == filled[12] == 6.0
    assert np.array_equal(np.delete(filled, [5, 12]), np.delete(y, [5, 12]))


@given(
    naive=st.floats(0, 5),
    others=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.floats(0, 5), max_size=3),
)
def test_a_candidate_is_chosen_only_when_it_beats_seasonal_naive(
    naive: float, others: dict[str, float]
) -> None:
    def acc(w: float) -> fc.Accuracy:
        return fc.Accuracy(wape=w, mase=None, bias=0.0, abs_error=w, error_sd=0.0)

    chosen = fc.choose(acc(naive), {k: acc(v) for k, v in others.items()})
    if chosen == fc.NAIVE:
        assert all(v >= naive for v in others.values())
    else:
        assert others[chosen] < naive
        assert others[chosen] == min(others.values())


def test_settings_refuse_a_horizon_under_one_day() -> None:
    with pytest.raises(ValueError, match="horizon"):
        fc.Settings(horizon=0)


def test_forecast_all_on_a_seasonal_and_an_intermittent_series() -> None:
    rng = np.random.default_rng(3)
    days = 140
    weekly = np.array([5, 5, 5, 6, 8, 14, 12], dtype=np.float64)
    seasonal = rng.poisson(weekly[np.arange(days) % 7]).astype(np.float64)
    sparse = (rng.random(days) < 0.15) * rng.integers(1, 4, days)
    demand = fc.Demand(
        np.vstack([seasonal, sparse, np.zeros(days)]),
        np.ones((3, days), dtype=np.bool_),
        np.array([0, 0, 0]),
    )
    out = fc.forecast_all(demand, fc.Settings(horizon=14, windows=2, history_days=days))
    regular, intermittent, nothing = out
    assert regular.family == fc.REGULAR
    assert regular.model != fc.NAIVE
    assert regular.chosen
    assert regular.naive
    assert regular.chosen.wape
    assert regular.naive.wape
    assert regular.chosen.wape < regular.naive.wape
    assert intermittent.family == fc.INTERMITTENT
    assert intermittent.model in ("CrostonOptimized", "ADIDA", "IMAPA", "TSB")
    assert (nothing.model, float(nothing.daily.sum())) == (fc.ZERO, 0.0)
    assert all(len(r.daily) == 14 and (r.daily >= 0).all() for r in out)


def test_a_series_younger_than_a_week_gets_its_mean_where_naive_has_nothing() -> None:
    days = 30
    y = np.zeros((1, days))
    y[0, -3:] = [2, 1, 3]
    observed = np.zeros((1, days), dtype=np.bool_)
    observed[0, -3:] = True
    demand = fc.Demand(y, observed, np.array([days - 3]))
    (young,) = fc.forecast_all(demand, fc.Settings(horizon=7, windows=1, history_days=days))
    assert (young.model, young.chosen, young.history_days) == (fc.NAIVE, None, 3)
    # The last three days repeat a week on; the four weekdays never seen get the mean, 2.
    assert young.daily.tolist() == [2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 3.0]
