"""The member-value models against the published CDNOW figures, and their properties.

CDNOW: the `lifetimes` wheel (a dev dependency, read here as a data file and never imported)
ships `CDNOW_sample.txt`, the 2,357 customers — 1/10 of the cohort that first bought at CDNOW in
the first quarter of 1997 — that Fader, Hardie & Lee (2005) fit BG/NBD on, with weeks 1–39
(1997-01-01 … 1997-09-30) as the calibration period. Each line: the customer's id in the full
cohort, their id in the sample (1 … 2357), the day (yyyymmdd), CDs bought, dollars spent. It also
ships Hardie's own calibration summary of the same customers (x, t_x, T, zbar), which the
summary built here must match.
"""

from __future__ import annotations

import csv
import importlib.metadata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1  # type: ignore[import-untyped]

from yipan.insights.domain import member_value as mv

CALIBRATION_END = date(1997, 9, 30)
WEEK = 7.0


def _dataset(name: str) -> Path:
    try:
        dist = importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the CDNOW data ships in the `lifetimes` wheel (a dev dependency)")
    return Path(str(dist.locate_file(f"lifetimes/datasets/{name}")))


@dataclass(frozen=True)
class Cdnow:
    histories: mv.Histories

    @property
    def x(self) -> np.ndarray:
        return self.histories.frequency

    @property
    def t_x(self) -> np.ndarray:
        return self.histories.recency / WEEK

    @property
    def age(self) -> np.ndarray:
        return self.histories.age / WEEK


@pytest.fixture(scope="module")
def cdnow() -> Cdnow:
    customer, day, amount = [], [], []
    with _dataset("CDNOW_sample.txt").open() as lines:
        for line in lines:
            _cohort_id, sample_id, when, _cds, dollars = line.split()
            customer.append(int(sample_id))
            day.append(date(int(when[:4]), int(when[4:6]), int(when[6:])).toordinal())
            amount.append(float(dollars))
    return Cdnow(mv.summarise(customer, day, amount, CALIBRATION_END.toordinal()))


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: Cdnow) -> mv.ModelFit[mv.BgNbd]:
    return mv.fit_bgnbd(cdnow.x, cdnow.t_x, cdnow.age)


def three_figures(value: float) -> str:
    return f"{value:.3g}"


# --- CDNOW ------------------------------------------------------------------------------------


def test_the_cdnow_calibration_summary_matches_hardies_own(cdnow: Cdnow) -> None:
    with _dataset("cdnow_customers_summary_with_transactions.csv").open() as f:
        published = {int(row["ID"]): row for row in csv.DictReader(f)}
    h = cdnow.histories
    assert len(h) == len(published) == 2357
    assert int(h.frequency.sum()) == 2457  # repeat purchases in weeks 1-39
    assert int(np.count_nonzero(h.frequency)) == 946
    for i, customer in enumerate(h.customer):
        row = published[int(customer)]
        assert h.frequency[i] == int(row["x"])
        assert round(h.recency[i] / WEEK, 2) == pytest.approx(float(row["t_x"]), abs=0.006)
        assert round(h.age[i] / WEEK, 2) == pytest.approx(float(row["T"]), abs=0.006)
        assert h.monetary[i] == pytest.approx(float(row["zbar"]), abs=0.006)


def test_bgnbd_on_cdnow_reproduces_the_papers_parameters(
    cdnow_fit: mv.ModelFit[mv.BgNbd],
) -> None:
    """Fader, Hardie & Lee (2005), section 4: r = 0.243, α = 4.414, a = 0.793, b = 2.426,
    log-likelihood −9582.4."""
    params = cdnow_fit.params
    assert [three_figures(v) for v in (params.r, params.alpha, params.a, params.b)] == [
        three_figures(0.243),
        three_figures(4.414),
        three_figures(0.793),
        three_figures(2.426),
    ]
    assert round(cdnow_fit.log_likelihood, 1) == -9582.4
    assert cdnow_fit.customers == 2357
    assert cdnow_fit.converged


def test_the_papers_example_customer_is_expected_to_buy_1_226_times_in_the_next_39_weeks(
    cdnow_fit: mv.ModelFit[mv.BgNbd],
) -> None:
    """Hardie's note "Implementing the BG/NBD model for customer base analysis in Excel": a
    customer with x = 2, t_x = 30.43, T = 38.86 makes 1.226 purchases in weeks 40-78."""
    expected = mv.expected_purchases(cdnow_fit.params, 39, 2, 30.43, 38.86)
    assert f"{float(expected):.3f}" == "1.226"


def test_gamma_gamma_on_cdnow_reproduces_the_published_parameters(cdnow: Cdnow) -> None:
    """Fader, Hardie & Lee (2005b, "RFM and CLV") and Fader & Hardie (2013, "The Gamma-Gamma
    model of monetary value"): on the 946 customers of this sample with repeat purchases in
    weeks 1-39, p = 6.25, q = 3.74, γ = 15.44."""
    fit = mv.fit_gamma_gamma(cdnow.x, cdnow.histories.monetary)
    assert fit.customers == 946
    assert f"{fit.params.p:.2f}" == "6.25"
    assert f"{fit.params.q:.2f}" == "3.74"
    assert f"{fit.params.gamma:.2f}" == "15.44"
    assert fit.converged


def test_the_count_distribution_agrees_with_the_expected_count(
    cdnow_fit: mv.ModelFit[mv.BgNbd],
) -> None:
    """Eq. 8 (P(X(t) = k)) sums to 1 and its mean is eq. 9 (E[X(t)]): two formulas that share
    no code but the parameters."""
    for t in (1.0, 39.0, 78.0):
        ks = np.arange(0, 800)
        probabilities = np.array(
            [float(mv.purchase_count_probability(cdnow_fit.params, int(k), t)) for k in ks]
        )
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
        mean = float((ks * probabilities).sum())
        assert mean == pytest.approx(float(mv.expected_purchases_of_new(cdnow_fit.params, t)))


# --- properties -------------------------------------------------------------------------------

params_st = st.builds(
    mv.BgNbd,
    r=st.floats(0.05, 5),
    alpha=st.floats(0.1, 50),
    a=st.floats(0.1, 5),
    b=st.floats(0.2, 10),
)


@st.composite
def history_st(draw: st.DrawFn) -> tuple[int, float, float]:
    age = draw(st.floats(0, 200))
    x = draw(st.integers(0, 150))
    recency = 0.0 if x == 0 else draw(st.floats(0, age))
    return x, recency, age


@settings(max_examples=300, deadline=None)
@given(params=params_st, history=history_st())
def test_the_probability_of_being_alive_is_a_probability(
    params: mv.BgNbd, history: tuple[int, float, float]
) -> None:
    alive = float(mv.probability_alive(params, *history))
    assert 0.0 <= alive <= 1.0
    if history[0] == 0:
        assert alive == 1.0  # BG/NBD: drop-out happens only right after a purchase


@settings(max_examples=300, deadline=None)
@given(
    params=params_st,
    history=history_st(),
    t1=st.floats(0.1, 100),
    more=st.floats(0.1, 100),
)
def test_expected_purchases_are_not_negative_and_grow_with_the_horizon(
    params: mv.BgNbd, history: tuple[int, float, float], t1: float, more: float
) -> None:
    shorter = float(mv.expected_purchases(params, t1, *history))
    longer = float(mv.expected_purchases(params, t1 + more, *history))
    assert np.isfinite(shorter)
    assert np.isfinite(longer)
    assert shorter >= 0.0
    assert longer >= shorter * (1 - 1e-9)
    assert float(mv.expected_purchases(params, 0.0, *history)) == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(params=params_st, history=history_st(), t=st.floats(0.5, 60))
def test_the_transformed_hypergeometric_agrees_with_eq_10_as_printed(
    params: mv.BgNbd, history: tuple[int, float, float], t: float
) -> None:
    """Eq. 10 as the paper prints it, for histories short enough that its ₂F₁ stays finite."""
    x, t_x, age = history
    assume(x <= 20 and abs(params.a - 1) > 1e-3)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + age + t)
    printed_f = hyp2f1(r + x, b + x, a + b + x - 1, z)
    assume(np.isfinite(printed_f) and printed_f < 1e12)
    alive = 1 + (a / (b + x - 1) * ((alpha + age) / (alpha + t_x)) ** (r + x) if x else 0)
    printed = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * printed_f)
    )
    printed /= alive
    assert float(mv.expected_purchases(params, t, x, t_x, age)) == pytest.approx(
        printed, rel=1e-6, abs=1e-9
    )


def test_a_long_silence_after_many_purchases_lowers_the_chance_of_being_alive() -> None:
    params = mv.BgNbd(r=0.5, alpha=5.0, a=0.8, b=2.5)
    ages = np.array([20.0, 30.0, 60.0, 120.0])
    alive = mv.probability_alive(params, 10, 20.0, ages)
    assert alive[0] == pytest.approx(1 / (1 + 0.8 / 11.5))  # bought on the last day observed
    assert np.all(np.diff(alive) < 0)
    assert alive[-1] < 0.05


def test_expectations_stay_finite_where_scipys_hypergeometric_overflows() -> None:
    """Many purchases in a short history and a long horizon: scipy's ₂F₁ answers inf there
    (c = a + b + x − 1 large, z > 0.9), and the series takes over without a seam."""
    params = mv.BgNbd(r=0.5, alpha=1.0, a=1.5, b=2.15)
    horizons = np.array([17.99, 18.01, 22.8, 50.0])  # z = t/(α+T+t) crosses 0.9 at t = 18
    assert not np.isfinite(hyp2f1(1.5 + 2.15 - 1 - 0.5, 0.5, 1.5 + 2.15 + 99, 18.01 / 20.01))
    expected = mv.expected_purchases(params, horizons, 100, 0.46, 1.0)
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) > 0)
    assert expected[1] == pytest.approx(expected[0], rel=1e-4)
    one_by_one = [float(mv.expected_purchases(params, t, 100, 0.46, 1.0)) for t in horizons]
    assert one_by_one == pytest.approx(expected.tolist(), rel=1e-12)


def test_a_equal_to_one_is_handled_as_its_limit() -> None:
    near = [mv.BgNbd(0.5, 5.0, a, 2.5) for a in (1 - 1e-4, 1.0, 1 + 1e-4)]
    values = [float(mv.expected_purchases(p, 13.0, 3, 10.0, 20.0)) for p in near]
    assert np.all(np.isfinite(values))
    assert values[1] == pytest.approx(values[0], rel=1e-3)
    assert values[1] == pytest.approx(values[2], rel=1e-3)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0.5, 20),
    q=st.floats(1.2, 20),
    gamma=st.floats(1, 1000),
    x=st.integers(1, 200),
    m=st.floats(0.01, 10_000),
)
def test_expected_spend_lies_between_the_members_own_mean_and_everyones(
    p: float, q: float, gamma: float, x: int, m: float
) -> None:
    params = mv.GammaGamma(p, q, gamma)
    spend = float(mv.expected_average_spend(params, x, m))
    low, high = sorted((m, params.mean_spend))
    assert low * (1 - 1e-9) <= spend <= high * (1 + 1e-9)
    assert float(mv.expected_average_spend(params, 0, 0)) == pytest.approx(params.mean_spend)


# --- fitting simulated members ----------------------------------------------------------------


def simulate_bgnbd(
    params: mv.BgNbd, ages: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency and recency of customers following BG/NBD over their ages."""
    n = ages.size
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    x, t_x, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        clock[alive] += rng.exponential(1 / rate[alive])
        bought = alive & (clock <= ages)
        x[bought] += 1
        t_x[bought] = clock[bought]
        alive = bought & (rng.random(n) >= drop)
    return x, t_x


def test_a_fit_in_days_recovers_the_parameters_customers_were_simulated_from() -> None:
    truth = mv.BgNbd(r=0.6, alpha=40.0, a=0.9, b=3.0)  # α in days
    rng = np.random.default_rng(20260310)
    ages = rng.integers(30, 730, 20_000).astype(float)
    x, t_x = simulate_bgnbd(truth, ages, rng)
    fit = mv.fit_bgnbd(x, np.floor(t_x), ages)
    assert fit.converged
    assert fit.params.r == pytest.approx(truth.r, rel=0.1)
    assert fit.params.alpha == pytest.approx(truth.alpha, rel=0.15)
    assert fit.params.a == pytest.approx(truth.a, rel=0.2)
    assert fit.params.b == pytest.approx(truth.b, rel=0.25)


# --- histories and guards ---------------------------------------------------------------------


def test_a_history_counts_days_not_orders_and_spend_after_the_first_day() -> None:
    d0 = date(2026, 1, 5).toordinal()
    h = mv.summarise(
        customer=[7, 7, 7, 7, 3],
        day=[d0, d0, d0 + 14, d0 + 40, d0 + 2],
        amount=[100.0, 50.0, 80.0, 999.0, 30.0],
        last_day=d0 + 30,  # the purchase on d0 + 40 is after the end
    )
    assert h.customer.tolist() == [3, 7]
    assert h.frequency.tolist() == [0, 1]
    assert h.recency.tolist() == [0, 14]
    assert h.age.tolist() == [28, 30]
    assert h.first_day.tolist() == [d0 + 2, d0]
    assert h.monetary.tolist() == [0.0, 80.0]  # the first day's 150 is not a repeat purchase


def test_nothing_to_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="repeat purchase"):
        mv.fit_bgnbd([0, 0], [0, 0], [5, 9])
    with pytest.raises(ValueError, match="repeat purchase"):
        mv.fit_gamma_gamma([0, 0], [0, 0])
    with pytest.raises(ValueError, match="recency"):
        mv.fit_bgnbd([1], [10], [5])
    with pytest.raises(ValueError, match="margin"):
        mv.customer_value([1.0], [100.0], margin=1.5)
    with pytest.raises(ValueError, match="infinite"):
        mv.expected_average_spend(mv.GammaGamma(2.0, 0.9, 10.0), [1], [10.0])
