"""Member value: BG/NBD and Gamma-Gamma fitted on members' purchases, and each member's figures
for the next 90 days — expected purchases, the probability that they are still a customer, and
expected value in fen. docs/insights.md ("Member value") defines every figure.

What counts as a purchase. Completed orders placed under a member id, from every channel.
An order counts only if the customer kept some of it (an order returned whole is no purchase);
its worth is what was paid for its sold lines less refunds known now. An exchange's replacement
order is no new purchase: its worth joins the purchase it replaces, on that purchase's day.
Orders on one business day (in the tenant's time zone) are one purchase worth their sum, as in
the CDNOW validation of the model. Orders placed under an id since merged into another member
count for the member they now live in.

Time unit. The models are fitted in weeks (days / 7), as Fader, Hardie & Lee fit CDNOW, so the
parameters read the same way as the paper's; members' figures are shown in days. The observation
ends with the as-of business day (by default yesterday, the last whole one): a member's age is
counted from their first purchase to that day, the 90-day horizon starts the day after.

Insights only reads: the orders and members tables directly (one set-based statement for every
member), nothing written. Scores are returned, not stored; the fitted model is kept per process
for `YIPAN_MEMBER_VALUE_CACHE_SECONDS` (`cached_model`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session, aliased

from yipan.insights.domain import member_value as model
from yipan.insights.domain.kpis import SOLD_LINE_STATUSES
from yipan.insights.domain.periods import business_day, local_midnight
from yipan.insights.service.model_cache import ModelCache
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.errors import Conflict, InvalidInput
from yipan.members.models import Member
from yipan.members.service import profile
from yipan.members.service import store as members_store
from yipan.orders.models import Order, OrderLine, Return

HORIZON_DAYS = 90
WEEK_DAYS = 7
# The histogram of repeat purchases the fit is checked against: 0 … 6, and 7 or more.
BUCKETS = 7
# Timestamps are bucketed by the quarter hour in SQL; every quarter hour lies inside one business
# day in every time zone (a few are off UTC by 30 or 45 minutes), so the buckets fold into days.
_SLOT_SECONDS = 900


class MemberValueSettings(BaseSettings):
    """`YIPAN_MEMBER_VALUE_*`: how long a process keeps a fitted model, and how many members with
    a repeat purchase a fit needs."""

    model_config = SettingsConfigDict(env_prefix="YIPAN_MEMBER_VALUE_", extra="ignore")

    cache_seconds: float = 3600.0
    min_repeat_members: int = 30


class NotEnoughPurchaseHistory(Conflict):
    """Too few members have bought twice for the models to say anything."""

    code = "NOT_ENOUGH_PURCHASE_HISTORY"


class SpendModelUnusable(Conflict):
    """The spend model fitted a mean spend that is infinite (q ≤ 1): a few huge averages."""

    code = "SPEND_MODEL_UNUSABLE"


class InvalidAsOf(InvalidInput):
    code = "INVALID_AS_OF"


@dataclass(frozen=True)
class FrequencyBucket:
    """Members with `repeat_purchases` repeat purchases (or more, for the last bucket): how many
    there are, and how many the fitted model expects over each member's own history."""

    repeat_purchases: int
    or_more: bool
    observed: int
    expected: float


@dataclass(frozen=True)
class MemberValueModel:
    """Both models fitted on every member who had bought by the end of `as_of`.

    `purchases` is in weeks (α), `spend` in fen (γ). The checks: the repeat purchases the model
    expects over members' own histories against those made, the histogram of repeat purchases
    (the check Fader, Hardie & Lee show for CDNOW), the mean spend the spend model implies
    against the members' observed means, and the correlation of frequency with spend, which the
    spend model assumes to be near 0. `fit_seconds` covers reading the purchases and both fits."""

    as_of: date
    zone: str
    horizon_days: int
    members: int
    repeat_members: int
    purchases: model.ModelFit[model.BgNbd]
    spend: model.ModelFit[model.GammaGamma]
    observed_repeat_purchases: int
    expected_repeat_purchases: float
    frequency_buckets: tuple[FrequencyBucket, ...]
    observed_mean_spend_fen: float
    frequency_spend_correlation: float | None
    fitted_at: datetime
    fit_seconds: float


@dataclass(frozen=True)
class MemberValue:
    """One member's history as of the model's day and what the models expect of them over the
    next `horizon_days`; the expectations are empty for a member without a purchase by then."""

    member_id: str
    as_of: date
    horizon_days: int
    purchases: int
    repeat_purchases: int
    first_purchase: date | None
    last_purchase: date | None
    average_repeat_spend_fen: int | None
    expected_purchases: float | None
    probability_alive: float | None
    expected_spend_fen: int | None
    expected_value_fen: int | None


# --- reading purchases ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Purchases:
    members: list[str]  # index = customer code
    histories: model.Histories


def default_as_of(clock: Clock | None = None) -> date:
    """Yesterday in the tenant's time zone: the last whole business day."""
    zone = ZoneInfo(get_settings().timezone)
    return business_day((clock or SystemClock()).now(), zone) - timedelta(days=1)


def _check_as_of(as_of: date, clock: Clock | None) -> None:
    today = business_day((clock or SystemClock()).now(), ZoneInfo(get_settings().timezone))
    if as_of > today:
        raise InvalidAsOf(
            f"as_of {as_of} is after today ({today}): members are valued on what they bought",
            as_of=as_of.isoformat(),
        )


def _epoch_seconds(session: Session, column: ColumnElement[datetime]) -> ColumnElement[int]:
    """Whole seconds since the epoch, the same integer on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _holders(session: Session) -> dict[str, str]:
    """Public id of every member merged away → public id of the member it now lives in."""
    rows = session.execute(
        select(Member.id, Member.survivor_id).where(Member.survivor_id.is_not(None))
    ).all()
    survivor = {int(r.id): int(r.survivor_id) for r in rows}
    holders: dict[str, str] = {}
    for member_id in survivor:
        seen, current = {member_id}, survivor[member_id]
        while current in survivor and current not in seen:
            seen.add(current)
            current = survivor[current]
        holders[members_store.public_id(member_id)] = members_store.public_id(current)
    return holders


def _read_purchases(
    session: Session, as_of: date, member_ids: Sequence[str] | None = None
) -> _Purchases:
    """Every counted purchase of every member (or of `member_ids`, all of one member's ids)
    made by the end of `as_of`, summarised per member."""
    zone = ZoneInfo(get_settings().timezone)
    end = local_midnight(as_of + timedelta(days=1), zone)
    replaced = aliased(Return)
    original = aliased(Order)
    # An exchange's replacement is dated as the purchase it replaces.
    bought_at = func.coalesce(original.placed_at, Order.placed_at)
    net = OrderLine.paid_fen - OrderLine.refunded_fen
    kept = OrderLine.quantity - OrderLine.returned_quantity
    stmt = (
        select(
            Order.member_id,
            _epoch_seconds(session, bought_at).label("at"),
            func.sum(net).label("net"),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(replaced, replaced.id == Order.exchange_of_return_id)
        .outerjoin(original, original.id == replaced.order_id)
        .where(
            Order.member_id.is_not(None),
            Order.state == "completed",
            OrderLine.status.in_(SOLD_LINE_STATUSES),
            bought_at < end,
        )
        .group_by(Order.id, Order.member_id, bought_at)
        .having(func.sum(kept) > 0)
    )
    if member_ids is not None:
        stmt = stmt.where(Order.member_id.in_(list(member_ids)))
    rows = session.execute(stmt).all()
    holders = _holders(session) if member_ids is None else dict.fromkeys(member_ids, member_ids[0])
    codes: dict[str, int] = {}
    customer = np.empty(len(rows), dtype=np.int64)
    seconds = np.empty(len(rows), dtype=np.int64)
    worth = np.empty(len(rows), dtype=np.float64)
    for i, (member_id, at, fen) in enumerate(rows):
        holder = holders.get(str(member_id)) or str(member_id)
        customer[i] = codes.setdefault(holder, len(codes))
        seconds[i] = int(at)
        worth[i] = float(fen)
    day = _business_days(seconds, zone)
    histories = model.summarise(customer, day, worth, as_of.toordinal())
    return _Purchases(list(codes), histories)


def _business_days(seconds: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Each instant's business day (as an ordinal): zones are asked once per quarter hour."""
    slots, inverse = np.unique(seconds // _SLOT_SECONDS, return_inverse=True)
    days = np.array(
        [
            datetime.fromtimestamp(int(slot) * _SLOT_SECONDS, UTC).astimezone(zone).toordinal()
            for slot in slots
        ],
        dtype=np.int64,
    )
    result: np.ndarray = days[inverse] if slots.size else np.zeros(0, dtype=np.int64)
    return result


# --- fitting ----------------------------------------------------------------------------------


def _weeks(days: np.ndarray) -> np.ndarray:
    result: np.ndarray = days.astype(np.float64) / WEEK_DAYS
    return result


def fit_models(
    session: Session,
    *,
    as_of: date | None = None,
    clock: Clock | None = None,
    min_repeat_members: int | None = None,
) -> MemberValueModel:
    """Fit both models on every member's purchases up to the end of `as_of` (default
    yesterday). Refused when fewer than `min_repeat_members` members bought twice."""
    return _fit(session, as_of=as_of, clock=clock, min_repeat_members=min_repeat_members)[0]


def _fit(
    session: Session,
    *,
    as_of: date | None,
    clock: Clock | None,
    min_repeat_members: int | None,
) -> tuple[MemberValueModel, _Purchases]:
    clock = clock or SystemClock()
    day = as_of or default_as_of(clock)
    _check_as_of(day, clock)
    needed = (
        min_repeat_members
        if min_repeat_members is not None
        else MemberValueSettings().min_repeat_members
    )
    started = time.perf_counter()
    bought = _read_purchases(session, day)
    h = bought.histories
    repeaters = int(np.count_nonzero(h.frequency > 0))
    if repeaters < max(needed, 1):
        raise NotEnoughPurchaseHistory(
            f"member value needs at least {max(needed, 1)} members who bought on two days or "
            f"more; by {day} there are {repeaters} (of {len(h)} members who bought)",
            as_of=day.isoformat(),
            repeat_members=repeaters,
            members=len(h),
            needed=max(needed, 1),
        )
    x, t_x, age = h.frequency, _weeks(h.recency), _weeks(h.age)
    purchases = model.fit_bgnbd(x, t_x, age)
    spend = model.fit_gamma_gamma(x, h.monetary)
    if spend.params.q <= 1:
        raise SpendModelUnusable(
            "the spend model's mean spend per purchase is infinite (q ≤ 1): a few members' "
            "average spends are far above the rest; value them once the history is longer",
            as_of=day.isoformat(),
            q=spend.params.q,
        )
    fitted = MemberValueModel(
        as_of=day,
        zone=get_settings().timezone,
        horizon_days=HORIZON_DAYS,
        members=len(h),
        repeat_members=repeaters,
        purchases=purchases,
        spend=spend,
        observed_repeat_purchases=int(x.sum()),
        expected_repeat_purchases=float(
            model.expected_purchases_of_new(purchases.params, age).sum()
        ),
        frequency_buckets=_buckets(purchases.params, x, age),
        observed_mean_spend_fen=float(h.monetary[x > 0].mean()),
        frequency_spend_correlation=_correlation(x[x > 0], h.monetary[x > 0]),
        fitted_at=clock.now(),
        fit_seconds=time.perf_counter() - started,
    )
    return fitted, bought


def _buckets(params: model.BgNbd, x: np.ndarray, age: np.ndarray) -> tuple[FrequencyBucket, ...]:
    buckets: list[FrequencyBucket] = []
    expected_so_far = 0.0
    for k in range(BUCKETS - 1):
        expected = float(model.purchase_count_probability(params, k, age).sum())
        expected_so_far += expected
        buckets.append(FrequencyBucket(k, False, int(np.count_nonzero(x == k)), expected))
    buckets.append(
        FrequencyBucket(
            BUCKETS - 1,
            True,
            int(np.count_nonzero(x >= BUCKETS - 1)),
            max(0.0, len(x) - expected_so_far),
        )
    )
    return tuple(buckets)


def _correlation(x: np.ndarray, m: np.ndarray) -> float | None:
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(m) == 0:
        return None
    return float(np.corrcoef(x, m)[0, 1])


# --- scoring ----------------------------------------------------------------------------------


def _values(
    fitted: MemberValueModel, members: Sequence[str], h: model.Histories, margin: float
) -> list[MemberValue]:
    x, t_x, age = h.frequency, _weeks(h.recency), _weeks(h.age)
    horizon = HORIZON_DAYS / WEEK_DAYS
    expected = model.expected_purchases(fitted.purchases.params, horizon, x, t_x, age)
    alive = model.probability_alive(fitted.purchases.params, x, t_x, age)
    spend = model.expected_average_spend(fitted.spend.params, x, h.monetary)
    value = model.customer_value(expected, spend, margin)
    values: list[MemberValue] = []
    for i, code in enumerate(h.customer):
        first = date.fromordinal(int(h.first_day[i]))
        values.append(
            MemberValue(
                member_id=members[int(code)],
                as_of=fitted.as_of,
                horizon_days=HORIZON_DAYS,
                purchases=int(x[i]) + 1,
                repeat_purchases=int(x[i]),
                first_purchase=first,
                last_purchase=first + timedelta(days=int(h.recency[i])),
                average_repeat_spend_fen=round(float(h.monetary[i])) if x[i] > 0 else None,
                expected_purchases=float(expected[i]),
                probability_alive=float(alive[i]),
                expected_spend_fen=round(float(spend[i])),
                expected_value_fen=round(float(value[i])),
            )
        )
    return values


def value_members(
    session: Session,
    *,
    as_of: date | None = None,
    clock: Clock | None = None,
    margin: float = 1.0,
    min_repeat_members: int | None = None,
) -> tuple[MemberValueModel, list[MemberValue]]:
    """Fit both models and score every member who had bought by the end of `as_of`, highest
    expected value first (one read of the orders for both)."""
    _check_margin(margin)
    fitted, bought = _fit(session, as_of=as_of, clock=clock, min_repeat_members=min_repeat_members)
    values = _values(fitted, bought.members, bought.histories, margin)
    values.sort(key=lambda v: (-(v.expected_value_fen or 0), v.member_id))
    return fitted, values


def score_member(
    session: Session, member_id: str, fitted: MemberValueModel, *, margin: float = 1.0
) -> MemberValue:
    """One member's figures under `fitted`, as of its day, from the orders placed under every
    id the member has had. An id merged away answers for the member it now lives in;
    `UnknownMember` (404) for no such member."""
    _check_margin(margin)
    return _score(session, profile.get_member(session, member_id).id, fitted, margin)


def member_value_of(
    session: Session,
    member_id: str,
    *,
    as_of: date | None = None,
    margin: float = 1.0,
    clock: Clock | None = None,
) -> MemberValue:
    """One member's figures under the model kept by this process (`cached_model`); an unknown
    member is refused (404) before any model is fitted."""
    _check_margin(margin)
    holder = profile.get_member(session, member_id).id
    return _score(session, holder, cached_model(session, as_of=as_of, clock=clock), margin)


def _score(session: Session, holder: str, fitted: MemberValueModel, margin: float) -> MemberValue:
    absorbed = members_store.merged_into(session, members_store.parse_id(holder))
    ids = [holder, *(members_store.public_id(i) for i in absorbed)]
    bought = _read_purchases(session, fitted.as_of, ids)
    if len(bought.histories) == 0:
        return MemberValue(
            member_id=holder,
            as_of=fitted.as_of,
            horizon_days=HORIZON_DAYS,
            purchases=0,
            repeat_purchases=0,
            first_purchase=None,
            last_purchase=None,
            average_repeat_spend_fen=None,
            expected_purchases=None,
            probability_alive=None,
            expected_spend_fen=None,
            expected_value_fen=None,
        )
    [value] = _values(fitted, [holder], bought.histories, margin)
    return value


def _check_margin(margin: float) -> None:
    if not 0 < margin <= 1:
        raise InvalidInput(
            f"margin is the share of spend that is value: more than 0, at most 1 (got {margin})",
            margin=margin,
        )


# --- the fitted model kept per process --------------------------------------------------------


models: ModelCache[MemberValueModel] = ModelCache()


def cached_model(
    session: Session,
    *,
    as_of: date | None = None,
    clock: Clock | None = None,
    refresh: bool = False,
) -> MemberValueModel:
    """The model fitted as of `as_of` (default yesterday), fitted now or taken from this
    process's copy when it is younger than `YIPAN_MEMBER_VALUE_CACHE_SECONDS`."""
    settings = MemberValueSettings()
    day = as_of or default_as_of(clock)
    return models.get(
        session,
        (day, settings.min_repeat_members),
        lambda: fit_models(
            session, as_of=day, clock=clock, min_repeat_members=settings.min_repeat_members
        ),
        max_age_seconds=settings.cache_seconds,
        refresh=refresh,
    )
