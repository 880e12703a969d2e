"""Events the promotions context records in the outbox. Money is in fen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PromotionSaved(DomainEvent):
    name: ClassVar[str] = "promotions.PromotionSaved"
    aggregate: ClassVar[str] = "promotion"
    promotion: str
    kind: str
    status: str
    created: bool

    def aggregate_id(self) -> str:
        return self.promotion


@dataclass(frozen=True, kw_only=True)
class PromotionPaused(DomainEvent):
    name: ClassVar[str] = "promotions.PromotionPaused"
    aggregate: ClassVar[str] = "promotion"
    promotion: str

    def aggregate_id(self) -> str:
        return self.promotion


@dataclass(frozen=True, kw_only=True)
class PromotionResumed(DomainEvent):
    name: ClassVar[str] = "promotions.PromotionResumed"
    aggregate: ClassVar[str] = "promotion"
    promotion: str

    def aggregate_id(self) -> str:
        return self.promotion


@dataclass(frozen=True, kw_only=True)
class CouponTemplateSaved(DomainEvent):
    name: ClassVar[str] = "promotions.CouponTemplateSaved"
    aggregate: ClassVar[str] = "coupon_template"
    template: str
    kind: str
    created: bool

    def aggregate_id(self) -> str:
        return self.template


@dataclass(frozen=True, kw_only=True)
class CouponsIssued(DomainEvent):
    """Coupons issued in one batch: to members (they may be told) or as bearer codes."""

    name: ClassVar[str] = "promotions.CouponsIssued"
    aggregate: ClassVar[str] = "coupon_template"
    template: str
    issue_key: str
    member_ids: list[str]
    bearer_codes: int

    def aggregate_id(self) -> str:
        return self.template


@dataclass(frozen=True, kw_only=True)
class DiscountsRedeemed(DomainEvent):
    name: ClassVar[str] = "promotions.DiscountsRedeemed"
    aggregate: ClassVar[str] = "redemption"
    order_ref: str
    channel: str
    member_id: str | None
    discount_fen: int
    offers: list[dict[str, Any]]

    def aggregate_id(self) -> str:
        return self.order_ref


@dataclass(frozen=True, kw_only=True)
class DiscountsRestored(DomainEvent):
    name: ClassVar[str] = "promotions.DiscountsRestored"
    aggregate: ClassVar[str] = "redemption"
    order_ref: str
    restored_fen: int
    full_return: bool
    coupons_restored: list[str]

    def aggregate_id(self) -> str:
        return self.order_ref
