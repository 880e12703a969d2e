"""The marketing pages' view models: promotions (list, create, pause, resume), coupon templates
(list, create, issue to a member) and the price-consistency report.

Read and written through the contexts' services only: `promotions.service` (`definitions`,
`coupons`), the orders context's price-consistency report, the members profile (a member by id
or phone), the catalogue (do the SKUs and categories named exist?) and the channel registry.

The forms are read here as text and checked before anything is written, so that a mistake gets
one sentence in the marketer's language naming the field (money is typed in yuan, times in the
tenant's time zone); whatever the services still refuse is shown with the service's own message.
Each form rendered carries an idempotency key: a promotion or template left without a code is
named after it, and coupons are issued under it, so a form sent twice writes once.

The promotions service lists every promotion and template at once (there is no paged query for
them yet), so the pages page in memory: fine for the hundreds a brand runs, not for millions.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.schemas import PriceConsistencyPage
from yipan.channels import service as channels
from yipan.console.marketing_forms import (
    MAX_CODE,
    Refused,
    codes,
    definition_code,
    fen,
    is_form_key,
    maybe_fen,
    maybe_whole,
    moment,
    percent_off,
    refusal,
    text,
    whole,
)
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE, Pager, pager
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.errors import YipanError
from yipan.members.errors import InvalidLookup, UnknownMember
from yipan.members.schemas import MemberOut
from yipan.members.service import profile, tiers
from yipan.orders.service.price_consistency import price_consistency_report
from yipan.promotions.errors import DefinitionTaken, UnknownCouponTemplate, UnknownPromotion
from yipan.promotions.schemas import (
    CouponTemplateIn,
    CouponTemplateOut,
    IssueToMembersIn,
    PromotionIn,
    PromotionOut,
)
from yipan.promotions.service import coupons, definitions

WRITE_PERMISSION = "promotions.write"
MAX_NAME = 200
MAX_MEMBER_QUERY = 40
MAX_DAYS = 3650
MAX_COUNT = 10**9
STEPS = 3  # 满减 steps offered by the form; the API takes up to 20
STATUSES = ("active", "scheduled", "paused", "ended")
KINDS = ("threshold_reduction", "percent_off", "n_for_price", "buy_x_get_y", "member_price")
COUPON_KINDS = ("amount_off", "percent_off", "threshold_off")
PROMOTION_PREFIX, TEMPLATE_PREFIX = "P-", "C-"
_MEMBER_ID = re.compile(r"[Mm]\d{1,18}")
M = TypeVar("M", bound=BaseModel)


def new_key() -> str:
    """The idempotency key of one rendered form."""
    return secrets.token_hex(8)


def _known_channels(session: Session, wanted: list[str]) -> list[str]:
    registered = {c.code for c in channels.list_channels(session, active=True)}
    unknown = [c for c in wanted if c not in registered]
    if unknown:
        raise Refused(
            "marketing.unknown_channels", "marketing.field.channels", codes=", ".join(unknown)
        )
    return wanted


def _known_goods(session: Session, skus: list[str], categories: list[str]) -> None:
    missing = sorted(set(skus) - set(catalog.find_sku_ids(session, skus))) if skus else []
    if missing:
        raise Refused(
            "marketing.unknown_skus", "marketing.field.skus", codes=", ".join(missing[:10])
        )
    if categories:
        known = {c.code for c in catalog.list_categories(session)}
        strange = [c for c in categories if c not in known]
        if strange:
            raise Refused(
                "marketing.unknown_categories",
                "marketing.field.categories",
                codes=", ".join(strange[:10]),
            )


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        problems = "; ".join(str(e["msg"]) for e in invalid.errors())
        raise Refused("marketing.refused", message=problems) from None


# --- promotions ------------------------------------------------------------------------------


class PromotionForm(BaseModel):
    """The create-promotion form as typed: text, checked by `create_promotion`."""

    code: str = ""
    name: str = ""
    kind: str = KINDS[0]
    step_threshold: list[str] = []
    step_reduction: list[str] = []
    repeat: str = ""
    percent: str = ""
    quantity: str = ""
    price: str = ""
    buy: str = ""
    get: str = ""
    tier: list[str] = []
    tier_price: list[str] = []
    categories: str = ""
    skus: str = ""
    starts_at: str = ""
    ends_at: str = ""
    channels: list[str] = []
    budget: str = ""
    budget_uses: str = ""
    idempotency_key: str = ""
    csrf_token: str = ""

    def step(self, index: int) -> tuple[str, str]:
        def at(values: list[str]) -> str:
            return values[index] if index < len(values) else ""

        return at(self.step_threshold), at(self.step_reduction)

    def price_of(self, tier: str) -> str:
        return dict(zip(self.tier, self.tier_price, strict=False)).get(tier, "")


def blank_promotion_form() -> PromotionForm:
    return PromotionForm(idempotency_key=new_key())


def _steps(form: PromotionForm) -> list[dict[str, int]]:
    steps: list[dict[str, int]] = []
    for i in range(max(len(form.step_threshold), len(form.step_reduction))):
        threshold, reduction = form.step(i)
        if not (threshold.strip() or reduction.strip()):
            continue
        at = fen(threshold, "marketing.field.threshold")
        off = fen(reduction, "marketing.field.reduction")
        if at <= off:
            raise Refused("marketing.step_above_reduction", "marketing.field.threshold")
        if steps and not (at > steps[-1]["threshold_fen"] and off > steps[-1]["reduction_fen"]):
            raise Refused("marketing.steps_rise", "marketing.field.threshold")
        steps.append({"threshold_fen": at, "reduction_fen": off})
    if not steps:
        raise Refused("marketing.missing", "marketing.field.threshold")
    return steps


def _rule(form: PromotionForm, scoped: bool) -> dict[str, Any]:
    kind = form.kind
    if kind == "threshold_reduction":
        return {"kind": kind, "steps": _steps(form), "repeat": bool(form.repeat)}
    if kind == "percent_off":
        percent = percent_off(form.percent)
        return {"kind": kind, "percent": percent}
    if kind == "n_for_price":
        quantity = whole(form.quantity, "marketing.field.quantity", low=2, high=1000)
        return {
            "kind": kind,
            "quantity": quantity,
            "price_fen": fen(form.price, "marketing.field.price"),
        }
    if kind == "buy_x_get_y":
        buy = whole(form.buy, "marketing.field.buy", low=1, high=1000)
        return {
            "kind": kind,
            "buy": buy,
            "get": whole(form.get, "marketing.field.get", low=1, high=1000),
        }
    ladder = {t.code for t in tiers.ladder_out()}
    prices: dict[str, int | None] = {}
    for tier, raw in zip(form.tier, form.tier_price, strict=False):
        if raw.strip():
            if tier not in ladder:
                raise Refused(
                    "marketing.unknown_tier", "marketing.field.tier_prices", tier=tier[:20]
                )
            prices[tier] = fen(raw, "marketing.field.tier_prices")
    if not prices:
        raise Refused("marketing.missing", "marketing.field.tier_prices")
    if not scoped:
        raise Refused("marketing.member_price_scope", "marketing.field.skus")
    return {"kind": kind, "tier_prices": prices}


def promotion_in(session: Session, form: PromotionForm, clock: Clock | None = None) -> PromotionIn:
    """The promotion the form describes; `Refused` at the first thing wrong with it."""
    code = definition_code(form.code, PROMOTION_PREFIX, form.idempotency_key)
    name = text(form.name, "marketing.field.name", limit=MAX_NAME)
    if form.kind not in KINDS:
        raise Refused("marketing.bad_kind", "marketing.field.kind")
    categories = codes(form.categories, "marketing.field.categories")
    skus = codes(form.skus, "marketing.field.skus")
    rule = _rule(form, bool(categories or skus))
    _known_goods(session, skus, categories)
    starts = moment(form.starts_at, "marketing.field.starts_at")
    ends = moment(form.ends_at, "marketing.field.ends_at")
    if starts is not None and ends is not None and ends <= starts:
        raise Refused("marketing.window_reversed", "marketing.field.ends_at")
    if ends is not None and ends <= (clock or SystemClock()).now():
        raise Refused("marketing.window_past", "marketing.field.ends_at")
    return _validated(
        PromotionIn,
        {
            "code": code,
            "name": name,
            "rule": rule,
            "scope": {"skus": skus, "categories": categories},
            "channels": _known_channels(session, sorted(set(form.channels))),
            "starts_at": starts,
            "ends_at": ends,
            "budget_fen": maybe_fen(form.budget, "marketing.field.budget"),
            "budget_uses": maybe_whole(
                form.budget_uses,
                "marketing.field.budget_uses",
                low=1,
                high=MAX_COUNT,
            ),
        },
    )


def create_promotion(session: Session, form: PromotionForm) -> str | Notice:
    """Create the promotion (the same form again changes nothing); its code, or why not."""
    try:
        wanted = promotion_in(session, form)
        out, _created = definitions.save_promotion(session, wanted)
    except Refused as refused:
        return refused.notice
    except DefinitionTaken:
        return Notice("marketing.code_taken", {"field": "marketing.field.code"}, status=409)
    except YipanError as error:
        return refusal(error)
    return out.code


def derived_status(promotion: PromotionOut, now: datetime) -> str:
    """What the promotion does now: ended and scheduled come from its window, paused from the
    marketer; an ended promotion is ended whether paused or not."""
    if promotion.ends_at is not None and promotion.ends_at <= now:
        return "ended"
    if promotion.status == definitions.PAUSED:
        return "paused"
    if promotion.starts_at is not None and promotion.starts_at > now:
        return "scheduled"
    return "active"


@dataclass(frozen=True)
class PromotionRow:
    promotion: PromotionOut
    status: str

    @property
    def may_pause(self) -> bool:
        return self.status in ("active", "scheduled")

    @property
    def may_resume(self) -> bool:
        return self.status == "paused"


@dataclass(frozen=True)
class PromotionFilters:
    status: str = ""
    kind: str = ""

    def query(self, page: int | None = None) -> dict[str, str]:
        values = {"status": self.status, "kind": self.kind}
        if page is not None:
            values["page"] = str(page)
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class PromotionList:
    filters: PromotionFilters
    notice: Notice | None = None
    rows: list[PromotionRow] = field(default_factory=list)
    pager: Pager | None = None


def read_promotion_filters(status: str, kind: str) -> tuple[PromotionFilters, Notice | None]:
    filters = PromotionFilters(status=status.strip()[:20], kind=kind.strip()[:30])
    if filters.status and filters.status not in STATUSES:
        return PromotionFilters(kind=filters.kind), Notice(
            "marketing.bad_status", {"status": filters.status}, status=422
        )
    if filters.kind and filters.kind not in KINDS:
        return PromotionFilters(status=filters.status), Notice(
            "marketing.bad_kind_filter", {"kind": filters.kind}, status=422
        )
    return filters, None


def list_promotions(
    session: Session, filters: PromotionFilters, page: int, clock: Clock | None = None
) -> PromotionList:
    """One page of promotions, newest first, with what each does now."""
    now = (clock or SystemClock()).now()
    rows = [
        PromotionRow(p, derived_status(p, now))
        for p in sorted(
            definitions.list_promotions(session), key=lambda p: (p.created_at, p.code), reverse=True
        )
    ]
    rows = [
        r
        for r in rows
        if (not filters.status or r.status == filters.status)
        and (not filters.kind or r.promotion.rule.kind == filters.kind)
    ]
    paged = pager(len(rows), page)
    if page > paged.pages:
        values = {"page": page, "pages": paged.pages}
        return PromotionList(filters, Notice("marketing.page_past_end", values, status=404))
    return PromotionList(filters, rows=rows[paged.offset : paged.offset + PAGE_SIZE], pager=paged)


def set_promotion_status(session: Session, code: str, *, pause: bool) -> PromotionOut | Notice:
    status = definitions.PAUSED if pause else definitions.ACTIVE
    try:
        return definitions.set_promotion_status(session, code, status)
    except UnknownPromotion:
        return Notice("marketing.unknown_promotion", {"code": code[:MAX_CODE]}, status=404)


# --- coupon templates and coupons ------------------------------------------------------------


class TemplateForm(BaseModel):
    code: str = ""
    name: str = ""
    kind: str = COUPON_KINDS[0]
    amount: str = ""
    percent: str = ""
    cap: str = ""
    threshold: str = ""
    valid_days: str = ""
    max_issued: str = ""
    idempotency_key: str = ""
    csrf_token: str = ""


class IssueForm(BaseModel):
    template: str = ""
    member: str = ""
    idempotency_key: str = ""
    csrf_token: str = ""


def blank_template_form() -> TemplateForm:
    return TemplateForm(idempotency_key=new_key())


def blank_issue_form(template: str = "") -> IssueForm:
    return IssueForm(template=template.strip()[:MAX_CODE], idempotency_key=new_key())


def _benefit(form: TemplateForm) -> dict[str, Any]:
    if form.kind == "amount_off":
        return {"kind": "amount_off", "amount_fen": fen(form.amount, "marketing.field.amount")}
    if form.kind == "percent_off":
        percent = percent_off(form.percent)
        cap = maybe_fen(form.cap, "marketing.field.cap")
        return {"kind": "percent_off", "percent": percent, "cap_fen": cap}
    if form.kind == "threshold_off":
        threshold = fen(form.threshold, "marketing.field.threshold")
        amount = fen(form.amount, "marketing.field.amount")
        if threshold <= amount:
            raise Refused("marketing.step_above_reduction", "marketing.field.threshold")
        return {"kind": "threshold_off", "threshold_fen": threshold, "amount_fen": amount}
    raise Refused("marketing.bad_kind", "marketing.field.kind")


def create_template(session: Session, form: TemplateForm) -> str | Notice:
    """Create the coupon template (the same form again changes nothing); its code, or why not."""
    try:
        wanted = _validated(
            CouponTemplateIn,
            {
                "code": definition_code(form.code, TEMPLATE_PREFIX, form.idempotency_key),
                "name": text(form.name, "marketing.field.name", limit=MAX_NAME),
                "benefit": _benefit(form),
                "valid_days": maybe_whole(
                    form.valid_days,
                    "marketing.field.valid_days",
                    low=1,
                    high=MAX_DAYS,
                ),
                "max_issued": maybe_whole(
                    form.max_issued,
                    "marketing.field.max_issued",
                    low=1,
                    high=MAX_COUNT,
                ),
            },
        )
        out, _created = definitions.save_coupon_template(session, wanted)
    except Refused as refused:
        return refused.notice
    except DefinitionTaken:
        return Notice("marketing.code_taken", {"field": "marketing.field.code"}, status=409)
    except YipanError as error:
        return refusal(error)
    return out.code


def find_member(session: Session, typed: str) -> MemberOut:
    """The member a member id (merged ones lead to their survivor) or a phone names."""
    wanted = text(typed, "marketing.field.member", limit=MAX_MEMBER_QUERY)
    if _MEMBER_ID.fullmatch(wanted):
        try:
            found = [profile.get_member(session, wanted.upper())]
        except UnknownMember:
            raise Refused("marketing.unknown_member", status=404, query=wanted) from None
    else:
        try:
            found = profile.find_members(session, phone=wanted)
        except InvalidLookup:
            raise Refused("marketing.bad_member", "marketing.field.member", query=wanted) from None
    if not found:
        raise Refused("marketing.unknown_member", status=404, query=wanted)
    if len(found) > 1:
        ids = ", ".join(m.id for m in found[:5])
        raise Refused("marketing.several_members", status=409, query=wanted, ids=ids)
    member = found[0]
    if member.status != "active":
        raise Refused("marketing.member_inactive", status=409, id=member.id)
    return member


@dataclass(frozen=True)
class Issued:
    coupon: str
    member: str
    template: str


def issue_coupon(session: Session, form: IssueForm) -> Issued | Notice:
    """One coupon of the template to one member; the same form sent again issues nothing more."""
    try:
        template = text(form.template, "marketing.field.template", limit=MAX_CODE)
        if not is_form_key(form.idempotency_key):
            raise Refused("marketing.form_expired", status=403)
        definitions.get_coupon_template(session, template)
        member = find_member(session, form.member)
        issue_in = IssueToMembersIn(issue_key=form.idempotency_key, member_ids=[member.id])
        out = coupons.issue_to_members(session, template, issue_in)
    except Refused as refused:
        return refused.notice
    except UnknownCouponTemplate:
        values = {"field": "marketing.field.template", "code": form.template.strip()[:MAX_CODE]}
        return Notice("marketing.unknown_template", values, status=404)
    except YipanError as error:
        return refusal(error)
    (coupon,) = out.coupons
    return Issued(coupon=coupon.code, member=member.id, template=template)


@dataclass(frozen=True)
class TemplateList:
    notice: Notice | None = None
    rows: list[CouponTemplateOut] = field(default_factory=list)
    pager: Pager | None = None

    def query(self, page: int) -> dict[str, str]:
        return {"page": str(page)}


def list_templates(session: Session, page: int) -> TemplateList:
    """One page of coupon templates, newest first."""
    rows = sorted(
        definitions.list_coupon_templates(session),
        key=lambda t: (t.created_at, t.code),
        reverse=True,
    )
    paged = pager(len(rows), page)
    if page > paged.pages:
        values = {"page": page, "pages": paged.pages}
        return TemplateList(Notice("marketing.page_past_end", values, status=404))
    return TemplateList(rows=rows[paged.offset : paged.offset + PAGE_SIZE], pager=paged)


# --- the price-consistency report ------------------------------------------------------------


@dataclass(frozen=True)
class PriceReport:
    channel: str
    unexplained_only: bool
    channels: list[str]
    notice: Notice | None = None
    report: PriceConsistencyPage | None = None
    pager: Pager | None = None

    def query(self, page: int | None = None) -> dict[str, str]:
        values = {"channel": self.channel, "unexplained": "1" if self.unexplained_only else ""}
        if page is not None:
            values["page"] = str(page)
        return {k: v for k, v in values.items() if v}


def price_report(session: Session, channel: str, unexplained: str, page: int) -> PriceReport:
    """The SKUs whose price differs somewhere (by channel, or from what was charged), one page."""
    registered = [c.code for c in channels.list_channels(session, active=True)]
    wanted = channel.strip()[:MAX_CODE]
    only = unexplained.strip() not in ("", "0")
    if wanted and wanted not in registered:
        notice = Notice("marketing.unknown_channel", {"channel": wanted}, status=422)
        return PriceReport(wanted, only, registered, notice)
    report = price_consistency_report(
        session,
        channel=wanted or None,
        only_unexplained=only,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    paged = pager(report.total, page)
    if page > paged.pages:
        notice = Notice("marketing.page_past_end", {"page": page, "pages": paged.pages}, status=404)
        return PriceReport(wanted, only, registered, notice)
    return PriceReport(wanted, only, registered, report=report, pager=paged)


def channel_codes(session: Session) -> list[str]:
    return [c.code for c in channels.list_channels(session, active=True)]


def tier_codes() -> list[str]:
    return [t.code for t in tiers.ladder_out()]
