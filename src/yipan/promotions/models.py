"""Promotions, coupon templates, issued coupons, and the redemptions that consumed them.

Definitions (rule, benefit, scope) are stored as JSON that maps one to one onto the pure domain
types, so the pricing engine gets exactly what the marketer defined. Budgets are counters on the
definition's row, changed only by conditional updates; the redemption ledger says which order
consumed what, so a return can give it back and the counters can always be checked against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime


class PromotionRow(Base):
    __tablename__ = "promotions_promotions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    rule: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    scope: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    channels: Mapped[list[str]] = mapped_column(JsonDoc)  # empty: every channel
    stores: Mapped[list[str]] = mapped_column(JsonDoc)  # empty: every store
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12))
    exclusion_group: Mapped[str | None] = mapped_column(String(64))
    budget_fen: Mapped[int | None] = mapped_column(BigId)
    budget_uses: Mapped[int | None] = mapped_column(BigId)
    used_fen: Mapped[int] = mapped_column(BigId, default=0)
    used_count: Mapped[int] = mapped_column(BigId, default=0)
    per_member_limit: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        CheckConstraint(
            "used_fen >= 0 AND (budget_fen IS NULL OR used_fen <= budget_fen)",
            name="within_budget_fen",
        ),
        CheckConstraint(
            "used_count >= 0 AND (budget_uses IS NULL OR used_count <= budget_uses)",
            name="within_budget_uses",
        ),
    )


class PromotionMemberUse(Base):
    """How many orders of one member a promotion with a per-member limit has discounted."""

    __tablename__ = "promotions_member_uses"

    promotion_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("promotions_promotions.id"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        CheckConstraint("uses >= 0", name="uses_not_negative"),
        Index("ix_promotions_member_uses_member", "member_id"),
    )


class CouponTemplateRow(Base):
    __tablename__ = "promotions_coupon_templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    benefit: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    min_spend_fen: Mapped[int] = mapped_column(BigId, default=0)
    stacking: Mapped[str] = mapped_column(String(24))
    scope: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    channels: Mapped[list[str]] = mapped_column(JsonDoc)
    stores: Mapped[list[str]] = mapped_column(JsonDoc)
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    valid_days: Mapped[int | None] = mapped_column()  # from issue, bounded by valid_until
    max_issued: Mapped[int | None] = mapped_column(BigId)
    issued_count: Mapped[int] = mapped_column(BigId, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(
            "issued_count >= 0 AND (max_issued IS NULL OR issued_count <= max_issued)",
            name="within_issue_budget",
        ),
    )


class CouponRow(Base):
    """One issued coupon. `issue_key` + `issue_slot` (the member, or `#n` for the n-th bearer code
    of a batch) make issuing idempotent per template."""

    __tablename__ = "promotions_coupons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    template_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("promotions_coupon_templates.id"), index=True
    )
    owner_member_id: Mapped[str | None] = mapped_column(String(64), index=True)
    issue_key: Mapped[str] = mapped_column(String(100))
    issue_slot: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(12))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    redeemed_order_ref: Mapped[str | None] = mapped_column(String(100))
    redeemed_channel: Mapped[str | None] = mapped_column(String(50))

    __table_args__ = (
        UniqueConstraint("template_id", "issue_key", "issue_slot"),
        CheckConstraint("status IN ('issued', 'redeemed', 'void')", name="status_known"),
        CheckConstraint(
            "(status = 'redeemed') = (redeemed_order_ref IS NOT NULL)", name="redeemed_by_order"
        ),
    )


class Redemption(Base):
    """What one order redeemed, once: the row is the idempotency check for its order_ref."""

    __tablename__ = "promotions_redemptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(100), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(50))
    member_id: Mapped[str | None] = mapped_column(String(64))
    # line_no → quantity: what a return is measured against.
    line_quantities: Mapped[dict[str, int]] = mapped_column(JsonDoc)
    result: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class RedemptionEntry(Base):
    """The ledger: one promotion or coupon consumed by one order, with its line shares.

    `restored_fen` is how much of the discount returns have given back so far; `reversed_at` is
    set when the whole order came back and the use itself was given back.
    """

    __tablename__ = "promotions_redemption_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    redemption_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("promotions_redemptions.id"), index=True
    )
    order_ref: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(12))
    promotion_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("promotions_promotions.id"), index=True
    )
    coupon_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("promotions_coupons.id"), index=True
    )
    member_id: Mapped[str | None] = mapped_column(String(64))
    discount_fen: Mapped[int] = mapped_column(BigId)
    shares: Mapped[dict[str, int]] = mapped_column(JsonDoc)  # line_no → fen
    restored_fen: Mapped[int] = mapped_column(BigId, default=0)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("(promotion_id IS NULL) <> (coupon_id IS NULL)", name="one_source"),
        CheckConstraint(
            "restored_fen >= 0 AND restored_fen <= discount_fen", name="restored_within"
        ),
    )
