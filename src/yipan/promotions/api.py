"""HTTP routes for promotions, coupon templates, coupons, quotes and redemptions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from yipan.auth.api import allowed
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep
from yipan.promotions.errors import CodeMismatch
from yipan.promotions.schemas import (
    CouponOut,
    CouponTemplateIn,
    CouponTemplateOut,
    IssueBearerCodesIn,
    IssuedOut,
    IssueToMembersIn,
    PriceQuoteOut,
    PromotionIn,
    PromotionOut,
    QuoteIn,
    RedeemIn,
    RedemptionOut,
    RestorationOut,
    ReturnedUnitsIn,
    TillRedeemIn,
)
from yipan.promotions.service import coupons, definitions, pricing, redemptions

router = APIRouter(prefix="/api/v1", tags=["promotions"], responses=ERROR_RESPONSES)

CodePath = Annotated[str, Path(min_length=1, max_length=64)]
RefPath = Annotated[str, Path(min_length=1, max_length=100)]


def _replayed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "Sent before: nothing changed"}}


def _status(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


def _same_code(body_code: str, path_code: str) -> None:
    if body_code != path_code:
        raise CodeMismatch(f"body code {body_code} does not match path {path_code}", code=path_code)


# --- promotions -------------------------------------------------------------------------------


@router.post(
    "/promotions",
    status_code=201,
    responses=_replayed(PromotionOut),
    dependencies=allowed("promotions.write"),
)
def create_promotion(
    promotion_in: PromotionIn, response: Response, engine: EngineDep
) -> PromotionOut:
    """Create a promotion; the same body again changes nothing, another body is a 409."""
    with unit_of_work(engine) as session:
        out, created = definitions.save_promotion(session, promotion_in)
    _status(response, created)
    return out


@router.put(
    "/promotions/{code}",
    responses={201: {"model": PromotionOut}},
    dependencies=allowed("promotions.write"),
)
def put_promotion(
    code: CodePath, promotion_in: PromotionIn, response: Response, engine: EngineDep
) -> PromotionOut:
    """Create or change a promotion; its status and what it has used are kept."""
    _same_code(promotion_in.code, code)
    with unit_of_work(engine) as session:
        out, created = definitions.save_promotion(session, promotion_in, replace=True)
    _status(response, created)
    return out


@router.get("/promotions", dependencies=allowed("promotions.read"))
def list_promotions(
    engine: EngineDep, status: Literal["active", "paused"] | None = None
) -> list[PromotionOut]:
    with unit_of_work(engine, readonly=True) as session:
        return definitions.list_promotions(session, status=status)


@router.get("/promotions/{code}", dependencies=allowed("promotions.read"))
def get_promotion(code: CodePath, engine: EngineDep) -> PromotionOut:
    with unit_of_work(engine, readonly=True) as session:
        return definitions.get_promotion(session, code)


@router.post("/promotions/{code}/pause", dependencies=allowed("promotions.write"))
def pause_promotion(code: CodePath, engine: EngineDep) -> PromotionOut:
    """Stop offering it at once; pausing a paused promotion changes nothing."""
    with unit_of_work(engine) as session:
        return definitions.set_promotion_status(session, code, definitions.PAUSED)


@router.post("/promotions/{code}/resume", dependencies=allowed("promotions.write"))
def resume_promotion(code: CodePath, engine: EngineDep) -> PromotionOut:
    with unit_of_work(engine) as session:
        return definitions.set_promotion_status(session, code, definitions.ACTIVE)


# --- coupon templates and coupons -------------------------------------------------------------


@router.post(
    "/coupon-templates",
    status_code=201,
    responses=_replayed(CouponTemplateOut),
    dependencies=allowed("promotions.write"),
)
def create_coupon_template(
    template_in: CouponTemplateIn, response: Response, engine: EngineDep
) -> CouponTemplateOut:
    with unit_of_work(engine) as session:
        out, created = definitions.save_coupon_template(session, template_in)
    _status(response, created)
    return out


@router.put(
    "/coupon-templates/{code}",
    responses={201: {"model": CouponTemplateOut}},
    dependencies=allowed("promotions.write"),
)
def put_coupon_template(
    code: CodePath, template_in: CouponTemplateIn, response: Response, engine: EngineDep
) -> CouponTemplateOut:
    _same_code(template_in.code, code)
    with unit_of_work(engine) as session:
        out, created = definitions.save_coupon_template(session, template_in, replace=True)
    _status(response, created)
    return out


@router.get("/coupon-templates", dependencies=allowed("promotions.read"))
def list_coupon_templates(engine: EngineDep) -> list[CouponTemplateOut]:
    with unit_of_work(engine, readonly=True) as session:
        return definitions.list_coupon_templates(session)


@router.get("/coupon-templates/{code}", dependencies=allowed("promotions.read"))
def get_coupon_template(code: CodePath, engine: EngineDep) -> CouponTemplateOut:
    with unit_of_work(engine, readonly=True) as session:
        return definitions.get_coupon_template(session, code)


@router.post(
    "/coupon-templates/{code}/issue",
    status_code=201,
    responses=_replayed(IssuedOut),
    dependencies=allowed("promotions.write"),
)
def issue_to_members(
    code: CodePath, issue_in: IssueToMembersIn, response: Response, engine: EngineDep
) -> IssuedOut:
    """One coupon per member, idempotent per (template, member, issue key)."""
    with unit_of_work(engine) as session:
        out = coupons.issue_to_members(session, code, issue_in)
    _status(response, out.created > 0)
    return out


@router.post(
    "/coupon-templates/{code}/bearer-codes",
    status_code=201,
    responses=_replayed(IssuedOut),
    dependencies=allowed("promotions.write"),
)
def issue_bearer_codes(
    code: CodePath, issue_in: IssueBearerCodesIn, response: Response, engine: EngineDep
) -> IssuedOut:
    """Codes anyone may redeem once (a live-stream drop); the same key returns the same codes."""
    with unit_of_work(engine) as session:
        out = coupons.issue_bearer_codes(session, code, issue_in)
    _status(response, out.created > 0)
    return out


@router.get("/coupons/{code}", dependencies=allowed("promotions.read"))
def get_coupon(code: CodePath, engine: EngineDep) -> CouponOut:
    with unit_of_work(engine, readonly=True) as session:
        return coupons.get_coupon(session, code)


@router.post(
    "/coupons/{code}/redeem",
    status_code=201,
    responses=_replayed(RedemptionOut),
    dependencies=allowed("orders.write"),
)
def redeem_at_till(
    code: CodePath, till_in: TillRedeemIn, response: Response, engine: EngineDep
) -> RedemptionOut:
    """Redeem a coupon at the till against the order total; once per order_ref."""
    with unit_of_work(engine) as session:
        out = redemptions.redeem_at_till(session, code, till_in)
    _status(response, out.created)
    return out


# --- pricing ----------------------------------------------------------------------------------


@router.post("/pricing/quote", dependencies=allowed("orders.read"))
def quote(quote_in: QuoteIn, engine: EngineDep) -> PriceQuoteOut:
    """The best price for a cart and why: every line's shares, applied and rejected offers."""
    with unit_of_work(engine, readonly=True) as session:
        return pricing.quote(session, quote_in)


@router.post(
    "/pricing/redemptions",
    status_code=201,
    responses=_replayed(RedemptionOut),
    dependencies=allowed("orders.write"),
)
def redeem(redeem_in: RedeemIn, response: Response, engine: EngineDep) -> RedemptionOut:
    """Price the cart now and consume what applies, once per order_ref."""
    with unit_of_work(engine) as session:
        out = redemptions.redeem(session, redeem_in)
    _status(response, out.created)
    return out


@router.get("/pricing/redemptions/{order_ref}", dependencies=allowed("orders.read"))
def get_redemption(order_ref: RefPath, engine: EngineDep) -> RedemptionOut:
    with unit_of_work(engine, readonly=True) as session:
        return redemptions.get_redemption(session, order_ref)


@router.post("/pricing/redemptions/{order_ref}/returns", dependencies=allowed("orders.write"))
def restore_for_return(
    order_ref: RefPath, return_in: ReturnedUnitsIn, engine: EngineDep
) -> RestorationOut:
    """Give back budgets (and, on a full return, coupons) as the order's goods come back."""
    with unit_of_work(engine) as session:
        return redemptions.restore_for_return(session, order_ref, return_in)
