"""Member value: how often a member will buy again, whether they are still a customer, and what
they will spend — the BG/NBD and Gamma-Gamma models over plain arrays.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science
24(2)) says how many times a member buys: while "alive" a member buys at their own Poisson rate
λ, λ ~ Gamma(r, α) across members; after every purchase they drop out with their own
probability p, p ~ Beta(a, b). A member is summarised by three figures over their observed
history, in one time unit (the callers use weeks):

- frequency `x`: repeat purchases — purchase occasions after the first (several purchases on one
  day are one occasion);
- recency `t_x`: the time from the first purchase to the last one (0 when x = 0);
- age `T`: the time from the first purchase to the end of observation.

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base
analysis", JMR 42(4); Fader & Hardie 2013, "The Gamma-Gamma model of monetary value") says what a
member spends per purchase: each purchase's value ~ Gamma(p, ν) around the member's own mean,
ν ~ Gamma(q, γ) across members. It is fitted on members with repeat purchases, from `x` and the
mean value of their repeat purchases, and assumes spend is independent of frequency (callers
report the correlation so that this can be checked).

Why it is written here and not taken from a library: `lifetimes`, the library that implements
both models in Python, has not been maintained since 2020 (its last release, 0.11.3, predates
numpy 2 and pandas 2, which Yipan runs on); PyMC-Marketing, its successor, brings in PyMC for
what is two small maximum-likelihood problems. So the likelihoods are written with scipy
(`gammaln`, `digamma`, `hyp2f1`, the negative binomial of `scipy.stats`) and fitted with
`scipy.optimize.minimize` (L-BFGS-B, analytic gradients) over the logarithms of the parameters,
which keeps them positive without constraints; the whole module is checked against the published
CDNOW figures (tests/insights/test_member_value_domain.py).

Numerical notes: the BG/NBD likelihood is the usual log-sum form (`logaddexp`), finite for any
history. The conditional expectation (eq. 10 of the paper) is computed after Euler's
transformation of its Gauss hypergeometric function,
    ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) = (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z),
z = t/(α+T+t): the left-hand side's ₂F₁ overflows for members with many purchases, the right-hand
side's converges faster the more a member bought (where scipy still fails, near z = 1 with many
purchases, its series is summed here: `_hyp2f1`). Time and money are rescaled to order one
before fitting (α is a time scale, γ a money scale, both scaled back after), so the optimiser
starts near the answer whether time is in days or weeks and money in yuan or fen.

Nothing here reads a clock, a database or a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, expit, gammaln, hyp2f1  # type: ignore[import-untyped]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# The optimiser works on log-parameters inside these bounds: e^-20 to e^20 covers every sensible
# value in any time or money unit after rescaling, and keeps it away from overflow.
_LOG_BOUND = 20.0
# The most terms `_hyp2f1` sums where scipy's ₂F₁ fails.
_SERIES_TERMS = 100_000
# A fit has converged when the mean log-likelihood per customer is this flat in every
# log-parameter, whatever reason the optimiser gives for stopping.
_FLAT_GRADIENT = 1e-6
# Where a = 1 exactly, eq. 10 is 0/0; its value there is the limit, taken this close to it.
_A_NEAR_ONE = 1e-7


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD parameters: purchase rates ~ Gamma(shape r, rate α) (α in the time unit of the
    data it was fitted on); drop-out probabilities ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma parameters: spend per purchase ~ Gamma(p, ν), ν ~ Gamma(q, γ) (γ in the money
    unit of the data it was fitted on). The mean spend across members is pγ/(q−1), finite only
    when q > 1."""

    p: float
    q: float
    gamma: float

    @property
    def mean_spend(self) -> float:
        """The population's mean spend per purchase; infinite when q ≤ 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")


P = TypeVar("P", BgNbd, GammaGamma)


@dataclass(frozen=True)
class ModelFit(Generic[P]):
    """A maximum-likelihood fit: the parameters, the log-likelihood they reach, how many
    customers it was fitted on and whether the optimiser says it converged."""

    params: P
    log_likelihood: float
    customers: int
    converged: bool
    iterations: int


# --- purchase histories -----------------------------------------------------------------------


@dataclass(frozen=True)
class Histories:
    """Per customer (`customer`, ascending codes), in days: repeat purchase occasions
    (`frequency`), first-to-last purchase (`recency`), first purchase to the end of observation
    (`age`), the first purchase day, and the mean value of the repeat purchases (`monetary`, 0
    without any) in the money unit of the amounts."""

    customer: Ints
    frequency: Ints
    recency: Ints
    age: Ints
    first_day: Ints
    monetary: Floats

    def __len__(self) -> int:
        return len(self.customer)


def summarise(customer: ArrayLike, day: ArrayLike, amount: ArrayLike, last_day: int) -> Histories:
    """Histories from purchases: one row per purchase, `customer` an integer code, `day` an
    integer day number (e.g. `date.toordinal()`), `amount` what the purchase was worth net of
    refunds. Purchases after `last_day` are left out; purchases of one customer on one day are
    one occasion worth their sum. Which purchases count (a sale returned whole is none) is the
    caller's to decide."""
    who = np.asarray(customer, dtype=np.int64)
    when = np.asarray(day, dtype=np.int64)
    worth = np.asarray(amount, dtype=np.float64)
    if not who.shape == when.shape == worth.shape or who.ndim != 1:
        raise ValueError("customer, day and amount need one value per purchase each")
    kept = when <= last_day
    who, when, worth = who[kept], when[kept], worth[kept]
    if who.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Histories(empty, empty, empty, empty, empty, np.zeros(0))
    if who.min() < 0:
        raise ValueError("customer codes are non-negative integers")
    first_ever = int(when.min())
    span = last_day - first_ever + 1
    key = who * span + (when - first_ever)
    occasions, inverse = np.unique(key, return_inverse=True)  # sorted: by customer, then day
    value = np.bincount(inverse, weights=worth, minlength=occasions.size)
    occ_customer = occasions // span
    occ_day = occasions % span + first_ever
    customers, start, count = np.unique(occ_customer, return_index=True, return_counts=True)
    end = start + count - 1
    first = occ_day[start]
    total = np.add.reduceat(value, start) if value.size else np.zeros(0)
    frequency = count - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - value[start]) / frequency, 0.0)
    return Histories(
        customer=customers.astype(np.int64),
        frequency=frequency.astype(np.int64),
        recency=(occ_day[end] - first).astype(np.int64),
        age=(last_day - first).astype(np.int64),
        first_day=first.astype(np.int64),
        monetary=monetary.astype(np.float64),
    )


# --- BG/NBD -----------------------------------------------------------------------------------


def _rfm(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> tuple[Floats, ...]:
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    big_t = np.asarray(age, dtype=np.float64)
    x, t_x, big_t = np.broadcast_arrays(x, t_x, big_t)
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency counts repeat purchases: a whole number, 0 or more")
    if np.any(t_x < 0) or np.any(t_x > big_t):
        raise ValueError("recency lies between 0 and the customer's age (T)")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("a customer without repeat purchases has recency 0")
    return x, t_x, big_t


def _bgnbd_terms(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, big_t: Floats
) -> tuple[Floats, Floats, Floats]:
    """Eq. 6 of Fader, Hardie & Lee (2005) as ln L = A₁ + A₂ + ln(e^A₃ + δ(x>0) e^A₄): returns
    A₁ + A₂, A₃ and A₄ (−∞ where x = 0)."""
    a12 = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return a12, a3, a4


def _bgnbd_ll(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, big_t: Floats
) -> Floats:
    a12, a3, a4 = _bgnbd_terms(r, alpha, a, b, x, t_x, big_t)
    result: Floats = a12 + np.logaddexp(a3, a4)
    return result


def _bgnbd_ll_and_gradient(
    log_params: Floats, x: Floats, t_x: Floats, big_t: Floats, weights: Floats
) -> tuple[float, Floats]:
    """The weighted log-likelihood and its gradient in the log-parameters."""
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    a12, a3, a4 = _bgnbd_terms(r, alpha, a, b, x, t_x, big_t)
    ll = a12 + np.logaddexp(a3, a4)
    share4 = expit(a4 - a3)  # the weight of the "dropped out after the last purchase" term
    share3 = 1.0 - share4
    repeat = x > 0
    inverse_b = np.zeros_like(x)
    inverse_b[repeat] = 1.0 / (b + x[repeat] - 1)
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - share3 * np.log(alpha + big_t)
        - share4 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (share3 / (alpha + big_t) + share4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + share4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - share4 * inverse_b
    gradient = np.array(
        [
            r * np.dot(weights, d_r),
            alpha * np.dot(weights, d_alpha),
            a * np.dot(weights, d_a),
            b * np.dot(weights, d_b),
        ]
    )
    return float(np.dot(weights, ll)), gradient


def bgnbd_log_likelihood(
    params: BgNbd, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> Floats:
    """Each customer's log-likelihood under `params` (eq. 6)."""
    x, t_x, big_t = _rfm(frequency, recency, age)
    return _bgnbd_ll(params.r, params.alpha, params.a, params.b, x, t_x, big_t)


def _maximise(
    ll_and_gradient: Callable[[Floats], tuple[float, Floats]], start: Floats, customers: int
) -> tuple[Floats, bool, int]:
    """The log-parameters that maximise a log-likelihood, whether the optimiser converged, and
    the iterations it took. The mean per customer is minimised, so that the tolerances mean
    the same for a hundred customers as for a million."""

    def objective(log_params: Floats) -> tuple[float, Floats]:
        ll, gradient = ll_and_gradient(log_params)
        return -ll / customers, -gradient / customers

    # Imported when a model is fitted: scipy.optimize and scipy.stats take about a second to
    # load, which every process that imports the console (each API worker, the CLI) would
    # otherwise pay for a model it does not fit.
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    found = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * start.size,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000},
    )
    # Tolerances this tight can end in a line search that cannot improve on the last digits
    # (scipy's "ABNORMAL" stop); at a flat gradient that is the optimum all the same.
    flat = bool(np.max(np.abs(found.jac)) <= _FLAT_GRADIENT)
    return np.asarray(found.x, dtype=np.float64), bool(found.success) or flat, int(found.nit)


def _compressed(*columns: Floats) -> tuple[list[Floats], Floats]:
    """Identical rows once each, with how many times they occur."""
    unique, count = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    return [unique[:, i] for i in range(len(columns))], count.astype(np.float64)


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, age: ArrayLike) -> ModelFit[BgNbd]:
    """Maximum-likelihood BG/NBD parameters for these customers (one time unit throughout).

    Customers with the same history are counted once with a weight, time is rescaled to the
    mean age before fitting (α is scaled back), and the gradient is analytic, so 100,000
    customers fit in a second or two."""
    x, t_x, big_t = _rfm(frequency, recency, age)
    if x.size == 0:
        raise ValueError("no customers to fit")
    if not np.any(x > 0):
        raise ValueError("no customer has a repeat purchase: BG/NBD cannot be fitted")
    scale = float(big_t.mean()) or 1.0
    (ux, ut_x, ubig_t), weights = _compressed(x, t_x / scale, big_t / scale)
    best, converged, iterations = _maximise(
        lambda log_params: _bgnbd_ll_and_gradient(log_params, ux, ut_x, ubig_t, weights),
        np.zeros(4),
        x.size,
    )
    r, alpha, a, b = (float(v) for v in np.exp(best))
    alpha *= scale
    # Reported in the caller's time unit: rescaling time shifts each customer's by x·ln(scale).
    ll = float(np.sum(_bgnbd_ll(r, alpha, a, b, x, t_x, big_t)))
    return ModelFit(BgNbd(r, alpha, a, b), ll, int(x.size), converged, iterations)


def probability_alive(
    params: BgNbd, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> Floats:
    """P(still a customer | x, t_x, T) = 1 / (1 + δ(x>0) a/(b+x−1) ((α+T)/(α+t_x))^(r+x)).

    A customer without a repeat purchase is alive with probability 1 under BG/NBD (drop-out
    happens only right after a purchase): the model's known blind spot for one-off buyers."""
    x, t_x, big_t = _rfm(frequency, recency, age)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_odds_dead = np.full_like(x, -np.inf)
    xr = x[repeat]
    log_odds_dead[repeat] = (
        np.log(a)
        - np.log(b + xr - 1)
        + (r + xr) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    )
    alive: Floats = expit(-log_odds_dead)
    return alive


def _a_away_from_one(a: float) -> float:
    if abs(a - 1.0) < _A_NEAR_ONE:
        return 1.0 + _A_NEAR_ONE if a >= 1.0 else 1.0 - _A_NEAR_ONE
    return a


def _hyp2f1(a: float, b: float, c: Floats, z: Floats) -> Floats:
    """₂F₁(a, b; c; z) for 0 ≤ z < 1. scipy's (Cephes) answers inf or nan where c is large and
    z near 1: it moves to 1 − z through Γ(c) and Γ(c − a − b), which overflow. Those points
    are summed here from the series instead, whose terms fall like k^(a+b−c−1) there (c − a − b
    is large exactly when c is), so it ends in a few hundred terms at most."""
    result: Floats = np.asarray(hyp2f1(a, b, c, z), dtype=np.float64)
    failed = ~np.isfinite(result)
    if not failed.any():
        return result
    cf, zf = np.broadcast_arrays(c, z)
    cf, zf = cf[failed], zf[failed]
    term = np.ones_like(cf)
    total = np.ones_like(cf)
    for k in range(_SERIES_TERMS):
        term = term * (a + k) * (b + k) / ((cf + k) * (k + 1)) * zf
        total += term
        if np.all(np.abs(term) <= 1e-17 * np.abs(total)):
            break
    result = result.copy() if result.ndim else result.reshape(1)
    result[failed.reshape(result.shape)] = total
    return result.reshape(np.shape(failed))


def expected_purchases(
    params: BgNbd, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> Floats:
    """E[purchases in the next t | x, t_x, T] (eq. 10): what a customer with this history is
    expected to buy over a horizon t that starts at the end of their observation."""
    x, t_x, big_t = _rfm(frequency, recency, age)
    horizon = np.asarray(t, dtype=np.float64)
    if np.any(horizon < 0):
        raise ValueError("a horizon is 0 or more")
    x, t_x, big_t, horizon = np.broadcast_arrays(x, t_x, big_t, horizon)
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    z = horizon / (alpha + big_t + horizon)
    hyper = _hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    bought = (a + b + x - 1) / (a - 1) * (1 - np.power(1 - z, a - 1) * hyper)
    expected: Floats = np.maximum(bought, 0.0) * probability_alive(params, x, t_x, big_t)
    return expected


def expected_purchases_of_new(params: BgNbd, t: ArrayLike) -> Floats:
    """E[X(t)] (eq. 9): repeat purchases a customer makes in their first t after joining."""
    horizon = np.asarray(t, dtype=np.float64)
    zero = np.zeros_like(horizon)
    return expected_purchases(params, horizon, zero, zero, zero)


def purchase_count_probability(params: BgNbd, k: int, t: ArrayLike) -> Floats:
    """P(X(t) = k) (eq. 8): the chance that a customer makes exactly k repeat purchases in their
    first t. NBD terms come from scipy's negative binomial (n = r, p = α/(α+t))."""
    if k < 0:
        raise ValueError("a purchase count is 0 or more")
    from scipy.stats import nbinom  # type: ignore[import-untyped]  # loaded late: see _maximise

    horizon = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    p_nbd = alpha / (alpha + horizon)
    log_beta_ratio = gammaln(b + k) + gammaln(a + b) - gammaln(b) - gammaln(a + b + k)
    alive_k: Floats = np.exp(log_beta_ratio) * nbinom.pmf(k, r, p_nbd)
    if k == 0:
        return alive_k
    # B(a+1, b+k−1)/B(a, b) = B(a, b+k)/B(a, b) · a/(b+k−1)
    dropped = np.exp(log_beta_ratio) * a / (b + k - 1) * nbinom.sf(k - 1, r, p_nbd)
    result: Floats = alive_k + dropped
    return result


# --- Gamma-Gamma ------------------------------------------------------------------------------


def _spend(frequency: ArrayLike, monetary: ArrayLike) -> tuple[Floats, Floats]:
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    x, m = np.broadcast_arrays(x, m)
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency counts repeat purchases: a whole number, 0 or more")
    if np.any((x > 0) & ~(m > 0)):
        raise ValueError("a customer with repeat purchases spent more than 0 on average")
    return x, m


def _gg_ll(p: float, q: float, gamma: float, x: Floats, m: Floats) -> Floats:
    """ln f(m̄ | p, q, γ, x) for customers with x ≥ 1 repeat purchases of mean value m̄."""
    px = p * x
    result: Floats = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )
    return result


def _gg_ll_and_gradient(
    log_params: Floats, x: Floats, m: Floats, weights: Floats
) -> tuple[float, Floats]:
    p, q, gamma = (float(v) for v in np.exp(log_params))
    px = p * x
    log_spent = np.log(gamma + m * x)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_spent)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_spent
    d_gamma = q / gamma - (px + q) / (gamma + m * x)
    gradient = np.array(
        [
            p * np.dot(weights, d_p),
            q * np.dot(weights, d_q),
            gamma * np.dot(weights, d_gamma),
        ]
    )
    return float(np.dot(weights, _gg_ll(p, q, gamma, x, m))), gradient


def gamma_gamma_log_likelihood(
    params: GammaGamma, frequency: ArrayLike, monetary: ArrayLike
) -> Floats:
    """Each repeat customer's log-likelihood under `params` (customers with x = 0 are left out:
    they say nothing about spend beyond the first purchase)."""
    x, m = _spend(frequency, monetary)
    repeat = x > 0
    return _gg_ll(params.p, params.q, params.gamma, x[repeat], m[repeat])


def fit_gamma_gamma(frequency: ArrayLike, monetary: ArrayLike) -> ModelFit[GammaGamma]:
    """Maximum-likelihood Gamma-Gamma parameters from the customers with repeat purchases
    (`monetary` the mean value of their repeat purchases); the others are ignored. Money is
    rescaled to the mean before fitting (γ is scaled back)."""
    x, m = _spend(frequency, monetary)
    repeat = x > 0
    x, m = x[repeat], m[repeat]
    if x.size == 0:
        raise ValueError("no customer has a repeat purchase: Gamma-Gamma cannot be fitted")
    scale = float(m.mean())
    (ux, um), weights = _compressed(x, m / scale)
    best, converged, iterations = _maximise(
        lambda log_params: _gg_ll_and_gradient(log_params, ux, um, weights),
        np.zeros(3),
        x.size,
    )
    p, q, gamma = (float(v) for v in np.exp(best))
    gamma *= scale
    # Reported in the caller's money unit (a density in money shifts by ln(scale) per customer).
    ll = float(np.sum(_gg_ll(p, q, gamma, x, m)))
    return ModelFit(GammaGamma(p, q, gamma), ll, int(x.size), converged, iterations)


def expected_average_spend(params: GammaGamma, frequency: ArrayLike, monetary: ArrayLike) -> Floats:
    """E[spend per purchase | x, m̄] = (γ + m̄x)p / (px + q − 1): the customer's own mean
    weighted against the population's, the more so the more they bought. x = 0 gives the
    population's mean pγ/(q−1). Needs q > 1."""
    if params.q <= 1:
        raise ValueError("q ≤ 1: the model's mean spend is infinite; spend cannot be predicted")
    x, m = _spend(frequency, monetary)
    m = np.where(x > 0, m, 0.0)
    p, q, gamma = params.p, params.q, params.gamma
    expected: Floats = (gamma + m * x) * p / (p * x + q - 1)
    return expected


def customer_value(
    expected_purchase_count: ArrayLike, expected_spend: ArrayLike, margin: float = 1.0
) -> Floats:
    """Expected value over a horizon: expected purchases × expected spend per purchase × margin.
    No discounting: meant for short horizons (a quarter), where it changes little."""
    if not 0 < margin <= 1:
        raise ValueError("margin is a share of spend: more than 0, at most 1")
    value: Floats = (
        np.asarray(expected_purchase_count, dtype=np.float64)
        * np.asarray(expected_spend, dtype=np.float64)
        * margin
    )
    return value
