"""promotions: promotions, coupon templates, coupons, member uses, the redemption ledger

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 08:07:18.177851
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotions_coupon_templates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "benefit",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "min_spend_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("stacking", sa.String(length=24), nullable=False),
        sa.Column(
            "scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "stores",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column(
            "max_issued", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "issued_count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "issued_count >= 0 AND (max_issued IS NULL OR issued_count <= max_issued)",
            name=op.f("ck_promotions_coupon_templates_within_issue_budget"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions_coupon_templates")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_coupon_templates_code")),
    )
    op.create_table(
        "promotions_promotions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column(
            "rule",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "stores",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("exclusion_group", sa.String(length=64), nullable=True),
        sa.Column(
            "budget_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "budget_uses", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("used_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "used_count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused')", name=op.f("ck_promotions_promotions_status_known")
        ),
        sa.CheckConstraint(
            "used_count >= 0 AND (budget_uses IS NULL OR used_count <= budget_uses)",
            name=op.f("ck_promotions_promotions_within_budget_uses"),
        ),
        sa.CheckConstraint(
            "used_fen >= 0 AND (budget_fen IS NULL OR used_fen <= budget_fen)",
            name=op.f("ck_promotions_promotions_within_budget_fen"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions_promotions")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_promotions_code")),
    )
    op.create_table(
        "promotions_redemptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column(
            "line_quantities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions_redemptions")),
        sa.UniqueConstraint("order_ref", name=op.f("uq_promotions_redemptions_order_ref")),
    )
    op.create_table(
        "promotions_coupons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column(
            "template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("owner_member_id", sa.String(length=64), nullable=True),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
        sa.Column("issue_slot", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redeemed_order_ref", sa.String(length=100), nullable=True),
        sa.Column("redeemed_channel", sa.String(length=50), nullable=True),
        sa.CheckConstraint(
            "(status = 'redeemed') = (redeemed_order_ref IS NOT NULL)",
            name=op.f("ck_promotions_coupons_redeemed_by_order"),
        ),
        sa.CheckConstraint(
            "status IN ('issued', 'redeemed', 'void')",
            name=op.f("ck_promotions_coupons_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["promotions_coupon_templates.id"],
            name=op.f("fk_promotions_coupons_template_id_promotions_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_coupons_code")),
        sa.UniqueConstraint(
            "template_id",
            "issue_key",
            "issue_slot",
            name=op.f("uq_promotions_coupons_template_id_issue_key_issue_slot"),
        ),
    )
    with op.batch_alter_table("promotions_coupons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promotions_coupons_owner_member_id"), ["owner_member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_promotions_coupons_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "promotions_member_uses",
        sa.Column(
            "promotion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_promotions_member_uses_uses_not_negative")),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions_promotions.id"],
            name=op.f("fk_promotions_member_uses_promotion_id_promotions_promotions"),
        ),
        sa.PrimaryKeyConstraint(
            "promotion_id", "member_id", name=op.f("pk_promotions_member_uses")
        ),
    )
    with op.batch_alter_table("promotions_member_uses", schema=None) as batch_op:
        batch_op.create_index("ix_promotions_member_uses_member", ["member_id"], unique=False)

    op.create_table(
        "promotions_redemption_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "redemption_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_ref", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column(
            "promotion_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column(
            "discount_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "shares",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "restored_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(promotion_id IS NULL) <> (coupon_id IS NULL)",
            name=op.f("ck_promotions_redemption_entries_one_source"),
        ),
        sa.CheckConstraint(
            "restored_fen >= 0 AND restored_fen <= discount_fen",
            name=op.f("ck_promotions_redemption_entries_restored_within"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["promotions_coupons.id"],
            name=op.f("fk_promotions_redemption_entries_coupon_id_promotions_coupons"),
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions_promotions.id"],
            name=op.f("fk_promotions_redemption_entries_promotion_id_promotions_promotions"),
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["promotions_redemptions.id"],
            name=op.f("fk_promotions_redemption_entries_redemption_id_promotions_redemptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions_redemption_entries")),
    )
    with op.batch_alter_table("promotions_redemption_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promotions_redemption_entries_coupon_id"), ["coupon_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_promotions_redemption_entries_promotion_id"),
            ["promotion_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_promotions_redemption_entries_redemption_id"),
            ["redemption_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("promotions_redemption_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotions_redemption_entries_redemption_id"))
        batch_op.drop_index(batch_op.f("ix_promotions_redemption_entries_promotion_id"))
        batch_op.drop_index(batch_op.f("ix_promotions_redemption_entries_coupon_id"))

    op.drop_table("promotions_redemption_entries")
    with op.batch_alter_table("promotions_member_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_promotions_member_uses_member")

    op.drop_table("promotions_member_uses")
    with op.batch_alter_table("promotions_coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotions_coupons_template_id"))
        batch_op.drop_index(batch_op.f("ix_promotions_coupons_owner_member_id"))

    op.drop_table("promotions_coupons")
    op.drop_table("promotions_redemptions")
    op.drop_table("promotions_promotions")
    op.drop_table("promotions_coupon_templates")
