"""Promotions and coupon templates: define, change, pause and resume them, and map them to the domain.

A definition is created once per code: sending the same body again changes nothing, another body
under the same code is refused unless it comes as an explicit update (PUT). The active promotions
are indexed once per process (`active_promotions`) and that index is dropped on any change made
here, so a pause is seen by this process's next quote at once and by others within
`reference_refresh_seconds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.kernel.cache import ReferenceCache
from yipan.kernel.clock import Clock, SystemClock
from yipan.promotions.domain.coupons import (
    AmountOff,
    Benefit,
    CappedPercentOff,
    CouponTemplate,
    FreeItem,
    ThresholdOff,
)
from yipan.promotions.domain.errors import InvalidCoupon, InvalidPromotion
from yipan.promotions.domain.promotions import (
    BuyXGetY,
    MemberPrice,
    NForPrice,
    PercentOff,
    Promotion,
    PromotionIndex,
    Rule,
    Step,
    ThresholdReduction,
)
from yipan.promotions.domain.scope import Scope
from yipan.promotions.errors import DefinitionTaken, UnknownCouponTemplate, UnknownPromotion
from yipan.promotions.events import (
    CouponTemplateSaved,
    PromotionPaused,
    PromotionResumed,
    PromotionSaved,
)
from yipan.promotions.models import CouponTemplateRow, PromotionRow
from yipan.promotions.schemas import (
    AmountOffIn,
    BenefitIn,
    BuyXGetYIn,
    CappedPercentOffIn,
    CouponTemplateIn,
    CouponTemplateOut,
    FreeItemIn,
    MemberPriceIn,
    NForPriceIn,
    PercentOffIn,
    PromotionIn,
    PromotionOut,
    RuleIn,
    ScopeIn,
    ThresholdOffIn,
    ThresholdReductionIn,
)

ACTIVE = "active"
PAUSED = "paused"

# --- to the domain ----------------------------------------------------------------------------


def scope_to_domain(scope: ScopeIn) -> Scope:
    return Scope(frozenset(scope.skus), frozenset(scope.categories), frozenset(scope.excluded_skus))


def _rule(rule: RuleIn) -> Rule:
    if isinstance(rule, ThresholdReductionIn):
        steps = tuple(Step(s.threshold_fen, s.reduction_fen) for s in rule.steps)
        return ThresholdReduction(steps, rule.repeat, rule.cap_fen)
    if isinstance(rule, PercentOffIn):
        return PercentOff(rule.percent)
    if isinstance(rule, BuyXGetYIn):
        return BuyXGetY(rule.buy, rule.get)
    if isinstance(rule, NForPriceIn):
        return NForPrice(rule.quantity, rule.price_fen)
    assert isinstance(rule, MemberPriceIn)
    return MemberPrice(dict(rule.tier_prices))


def _benefit(benefit: BenefitIn) -> Benefit:
    if isinstance(benefit, AmountOffIn):
        return AmountOff(benefit.amount_fen)
    if isinstance(benefit, CappedPercentOffIn):
        return CappedPercentOff(benefit.percent, benefit.cap_fen)
    if isinstance(benefit, ThresholdOffIn):
        return ThresholdOff(benefit.threshold_fen, benefit.amount_fen)
    assert isinstance(benefit, FreeItemIn)
    return FreeItem(benefit.sku, benefit.quantity)


def _restriction(values: list[str]) -> frozenset[str] | None:
    return frozenset(values) or None


def promotion_to_domain(promotion: PromotionIn) -> Promotion:
    """The domain's promotion; raises the domain's InvalidPromotion (422) for a bad definition."""
    return Promotion(
        promotion.code,
        _rule(promotion.rule),
        scope_to_domain(promotion.scope),
        promotion.starts_at,
        promotion.ends_at,
        _restriction(promotion.channels),
        _restriction(promotion.stores),
        promotion.exclusion_group,
    )


def template_to_domain(template: CouponTemplateIn) -> CouponTemplate:
    return CouponTemplate(
        template.code,
        _benefit(template.benefit),
        scope_to_domain(template.scope),
        template.min_spend_fen,
        template.stacking,
        _restriction(template.channels),
        _restriction(template.stores),
    )


# --- promotions -------------------------------------------------------------------------------


def _promotion_definition(row: PromotionRow) -> PromotionIn:
    return PromotionIn.model_validate(
        {name: getattr(row, name) for name in PromotionIn.model_fields}
    )


def _promotion_values(promotion_in: PromotionIn) -> dict[str, Any]:
    values = promotion_in.model_dump(mode="python")
    values["rule"] = promotion_in.rule.model_dump(mode="json")
    values["scope"] = promotion_in.scope.model_dump(mode="json")
    values["kind"] = promotion_in.rule.kind
    return values


def save_promotion(
    session: Session,
    promotion_in: PromotionIn,
    *,
    replace: bool = False,
    clock: Clock | None = None,
) -> tuple[PromotionOut, bool]:
    """Create a promotion (or, with `replace`, change it in place); True when it was created.

    The same definition again changes nothing. Another definition under a taken code is a 409
    unless `replace`. Status and what has been used so far survive a change; a budget cannot be
    lowered below what is already spent.
    """
    promotion_to_domain(promotion_in)
    now = (clock or SystemClock()).now()
    row = session.scalar(select(PromotionRow).where(PromotionRow.code == promotion_in.code))
    if row is not None and _promotion_definition(row) == promotion_in:
        return PromotionOut.model_validate(row), False
    if row is not None and not replace:
        raise DefinitionTaken(
            f"promotion {promotion_in.code} exists with another definition; PUT it to change it",
            code=promotion_in.code,
        )
    _active.forget(session)
    values = _promotion_values(promotion_in)
    created = row is None
    if row is None:
        row = PromotionRow(
            status=ACTIVE, used_fen=0, used_count=0, created_at=now, updated_at=now, **values
        )
        session.add(row)
    else:
        _check_budget_covers_use(row, promotion_in)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
    session.flush()
    events.record(
        session,
        PromotionSaved(promotion=row.code, kind=row.kind, status=row.status, created=created),
        clock=clock,
    )
    return PromotionOut.model_validate(row), created


def _check_budget_covers_use(row: PromotionRow, promotion_in: PromotionIn) -> None:
    if promotion_in.budget_fen is not None and promotion_in.budget_fen < row.used_fen:
        raise InvalidPromotion(
            f"{row.code}: {row.used_fen} fen are already spent, above the new budget",
            field="budget_fen",
            used_fen=row.used_fen,
        )
    if promotion_in.budget_uses is not None and promotion_in.budget_uses < row.used_count:
        raise InvalidPromotion(
            f"{row.code}: it has been used {row.used_count} times, above the new budget",
            field="budget_uses",
            used_count=row.used_count,
        )


def _promotion_row(session: Session, code: str) -> PromotionRow:
    row = session.scalar(select(PromotionRow).where(PromotionRow.code == code))
    if row is None:
        raise UnknownPromotion(f"no promotion with code {code}", code=code)
    return row


def get_promotion(session: Session, code: str) -> PromotionOut:
    return PromotionOut.model_validate(_promotion_row(session, code))


def list_promotions(session: Session, *, status: str | None = None) -> list[PromotionOut]:
    stmt = select(PromotionRow).order_by(PromotionRow.code)
    if status:
        stmt = stmt.where(PromotionRow.status == status)
    return [PromotionOut.model_validate(row) for row in session.scalars(stmt)]


def set_promotion_status(
    session: Session, code: str, status: str, *, clock: Clock | None = None
) -> PromotionOut:
    """Pause or resume; asking for the state it is already in changes nothing."""
    row = _promotion_row(session, code)
    if row.status == status:
        return PromotionOut.model_validate(row)
    _active.forget(session)
    row.status = status
    row.updated_at = (clock or SystemClock()).now()
    session.flush()
    event = (
        PromotionPaused(promotion=code) if status == PAUSED else PromotionResumed(promotion=code)
    )
    events.record(session, event, clock=clock)
    return PromotionOut.model_validate(row)


@dataclass(frozen=True)
class ActivePromotions:
    """The active promotions, indexed for pricing, and their row ids by code."""

    index: PromotionIndex
    ids: Mapping[str, int]


# Every quote reads the active promotions; they change seldom.
_active: ReferenceCache[ActivePromotions] = ReferenceCache()


def active_promotions(session: Session) -> ActivePromotions:
    def load() -> ActivePromotions:
        rows = session.scalars(select(PromotionRow).where(PromotionRow.status == ACTIVE))
        found = [(row.id, promotion_to_domain(_promotion_definition(row))) for row in rows]
        return ActivePromotions(
            PromotionIndex(p for _, p in found), {p.promotion_id: i for i, p in found}
        )

    return _active.get(session, "active", load)


# --- coupon templates -------------------------------------------------------------------------


def template_definition(row: CouponTemplateRow) -> CouponTemplateIn:
    return CouponTemplateIn.model_validate(
        {name: getattr(row, name) for name in CouponTemplateIn.model_fields}
    )


def save_coupon_template(
    session: Session,
    template_in: CouponTemplateIn,
    *,
    replace: bool = False,
    clock: Clock | None = None,
) -> tuple[CouponTemplateOut, bool]:
    """Create a coupon template (or, with `replace`, change it); True when it was created.

    A change applies to coupons already issued from it except their validity, fixed at issue.
    """
    template_to_domain(template_in)
    if (
        template_in.valid_from is not None
        and template_in.valid_until is not None
        and template_in.valid_until <= template_in.valid_from
    ):
        raise InvalidCoupon(f"{template_in.code}: the validity window ends before it starts")
    now = (clock or SystemClock()).now()
    row = session.scalar(
        select(CouponTemplateRow).where(CouponTemplateRow.code == template_in.code)
    )
    if row is not None and template_definition(row) == template_in:
        return CouponTemplateOut.model_validate(row), False
    if row is not None and not replace:
        raise DefinitionTaken(
            f"coupon template {template_in.code} exists with another definition; PUT it to "
            "change it",
            code=template_in.code,
        )
    values = template_in.model_dump(mode="python")
    values["benefit"] = template_in.benefit.model_dump(mode="json")
    values["scope"] = template_in.scope.model_dump(mode="json")
    values["stacking"] = template_in.stacking.value
    created = row is None
    if row is None:
        row = CouponTemplateRow(issued_count=0, created_at=now, updated_at=now, **values)
        session.add(row)
    else:
        if template_in.max_issued is not None and template_in.max_issued < row.issued_count:
            raise InvalidCoupon(
                f"{row.code}: {row.issued_count} coupons are already issued",
                field="max_issued",
            )
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
    session.flush()
    events.record(
        session,
        CouponTemplateSaved(template=row.code, kind=template_in.benefit.kind, created=created),
        clock=clock,
    )
    return CouponTemplateOut.model_validate(row), created


def template_row(session: Session, code: str) -> CouponTemplateRow:
    row = session.scalar(select(CouponTemplateRow).where(CouponTemplateRow.code == code))
    if row is None:
        raise UnknownCouponTemplate(f"no coupon template with code {code}", code=code)
    return row


def get_coupon_template(session: Session, code: str) -> CouponTemplateOut:
    return CouponTemplateOut.model_validate(template_row(session, code))


def list_coupon_templates(session: Session) -> list[CouponTemplateOut]:
    rows = session.scalars(select(CouponTemplateRow).order_by(CouponTemplateRow.code))
    return [CouponTemplateOut.model_validate(row) for row in rows]
