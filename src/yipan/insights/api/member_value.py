"""HTTP routes for member value: the fitted BG/NBD and Gamma-Gamma models, and one member's
expected purchases, probability of being alive and expected value over the next 90 days.

The model is fitted on demand and kept by each server process for
`YIPAN_MEMBER_VALUE_CACHE_SECONDS` (default an hour) per as-of day; `refresh=true` fits again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from yipan import data_scope as scoped
from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.service import member_value
from yipan.insights.service.member_value import MemberValue, MemberValueModel
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(
    prefix="/api/v1/insights/member-value", tags=["insights"], responses=ERROR_RESPONSES
)

Reader = Annotated[Principal, Depends(require("members.read"))]
MemberId = Annotated[str, Path(min_length=1, max_length=32, description="e.g. M0000000042")]
AsOf = Annotated[
    date | None,
    Query(description="the last business day of history the model sees; default yesterday"),
]


class PurchaseModelOut(BaseModel):
    """BG/NBD, time in weeks: purchase rates ~ Gamma(r, α), drop-out ~ Beta(a, b)."""

    r: float
    alpha_weeks: float
    a: float
    b: float
    log_likelihood: float
    members: int
    converged: bool
    iterations: int


class SpendModelOut(BaseModel):
    """Gamma-Gamma, money in fen: fitted on the members with repeat purchases."""

    p: float
    q: float
    gamma_fen: float
    mean_spend_fen: float = Field(description="pγ/(q−1): the model's mean spend per purchase")
    log_likelihood: float
    members: int
    converged: bool
    iterations: int


class FrequencyBucketOut(BaseModel):
    repeat_purchases: int
    or_more: bool
    observed: int
    expected: float


class FitQualityOut(BaseModel):
    observed_repeat_purchases: int
    expected_repeat_purchases: float
    frequency_buckets: list[FrequencyBucketOut]
    observed_mean_spend_fen: float
    frequency_spend_correlation: float | None


class MemberValueModelOut(BaseModel):
    as_of: date
    zone: str
    horizon_days: int
    members: int
    repeat_members: int
    purchase_model: PurchaseModelOut
    spend_model: SpendModelOut
    fit_quality: FitQualityOut
    fitted_at: datetime
    fit_seconds: float
    cache_seconds: float

    @classmethod
    def of(cls, fitted: MemberValueModel, cache_seconds: float) -> MemberValueModelOut:
        bg, gg = fitted.purchases, fitted.spend
        return cls(
            as_of=fitted.as_of,
            zone=fitted.zone,
            horizon_days=fitted.horizon_days,
            members=fitted.members,
            repeat_members=fitted.repeat_members,
            purchase_model=PurchaseModelOut(
                r=bg.params.r,
                alpha_weeks=bg.params.alpha,
                a=bg.params.a,
                b=bg.params.b,
                log_likelihood=bg.log_likelihood,
                members=bg.customers,
                converged=bg.converged,
                iterations=bg.iterations,
            ),
            spend_model=SpendModelOut(
                p=gg.params.p,
                q=gg.params.q,
                gamma_fen=gg.params.gamma,
                mean_spend_fen=gg.params.mean_spend,
                log_likelihood=gg.log_likelihood,
                members=gg.customers,
                converged=gg.converged,
                iterations=gg.iterations,
            ),
            fit_quality=FitQualityOut(
                observed_repeat_purchases=fitted.observed_repeat_purchases,
                expected_repeat_purchases=fitted.expected_repeat_purchases,
                frequency_buckets=[
                    FrequencyBucketOut(
                        repeat_purchases=b.repeat_purchases,
                        or_more=b.or_more,
                        observed=b.observed,
                        expected=b.expected,
                    )
                    for b in fitted.frequency_buckets
                ],
                observed_mean_spend_fen=fitted.observed_mean_spend_fen,
                frequency_spend_correlation=fitted.frequency_spend_correlation,
            ),
            fitted_at=fitted.fitted_at,
            fit_seconds=fitted.fit_seconds,
            cache_seconds=cache_seconds,
        )


class MemberValueOut(BaseModel):
    member_id: str
    as_of: date
    horizon_days: int
    margin: float
    purchases: int = Field(description="purchase days up to as_of (same-day orders are one)")
    repeat_purchases: int
    first_purchase: date | None
    last_purchase: date | None
    average_repeat_spend_fen: int | None
    expected_purchases: float | None = Field(description="in the horizon after as_of")
    probability_alive: float | None
    expected_spend_fen: int | None = Field(description="per purchase")
    expected_value_fen: int | None = Field(
        description="expected purchases × expected spend × margin, over the horizon"
    )

    @classmethod
    def of(cls, value: MemberValue, margin: float) -> MemberValueOut:
        return cls(
            member_id=value.member_id,
            as_of=value.as_of,
            horizon_days=value.horizon_days,
            margin=margin,
            purchases=value.purchases,
            repeat_purchases=value.repeat_purchases,
            first_purchase=value.first_purchase,
            last_purchase=value.last_purchase,
            average_repeat_spend_fen=value.average_repeat_spend_fen,
            expected_purchases=value.expected_purchases,
            probability_alive=value.probability_alive,
            expected_spend_fen=value.expected_spend_fen,
            expected_value_fen=value.expected_value_fen,
        )


@router.get("/model")
def member_value_model(
    engine: EngineDep,
    who: Reader,
    as_of: AsOf = None,
    refresh: Annotated[bool, Query(description="fit again instead of the kept model")] = False,
) -> MemberValueModelOut:
    """The models fitted on every member's purchases up to `as_of`, with the checks of the fit.

    409 `NOT_ENOUGH_PURCHASE_HISTORY` while too few members have bought twice."""
    with unit_of_work(engine, readonly=True) as session:
        fitted = member_value.cached_model(session, as_of=as_of, refresh=refresh)
    return MemberValueModelOut.of(fitted, member_value.MemberValueSettings().cache_seconds)


@router.get("/members/{member_id}")
def member_value_of(
    member_id: MemberId,
    engine: EngineDep,
    who: Reader,
    as_of: AsOf = None,
    margin: Annotated[
        float, Query(gt=0, le=1, description="share of spend counted as value; 1 = revenue")
    ] = 1.0,
) -> MemberValueOut:
    """One member's purchases and what the models expect of them over the next 90 days."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        value = member_value.member_value_of(session, member_id, as_of=as_of, margin=margin)
    return MemberValueOut.of(value, margin)
