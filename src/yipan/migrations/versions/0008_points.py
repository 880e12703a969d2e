"""points: the members points ledger, cached balances, earnings per sale and their reversals

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 08:37:32.817078
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members_points_balances",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("balance", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance >= 0", name=op.f("ck_members_points_balances_balance_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_points_balances_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_members_points_balances")),
    )
    op.create_table(
        "members_points_earnings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sale_ref", sa.String(length=200), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lot_id", sa.String(length=250), nullable=False),
        sa.Column("points", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "eligible_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "excluded_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "eligible_lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column(
            "returned_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "settled_points", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_points_earnings_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_points_earnings")),
        sa.UniqueConstraint("sale_ref", name=op.f("uq_members_points_earnings_sale_ref")),
    )
    with op.batch_alter_table("members_points_earnings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_points_earnings_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "members_points_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("lot_id", sa.String(length=250), nullable=False),
        sa.Column("points", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "kind IN ('earn', 'redeem', 'expire', 'reverse', 'adjust')",
            name=op.f("ck_members_points_entries_kind_known"),
        ),
        sa.CheckConstraint("points <> 0", name=op.f("ck_members_points_entries_points_not_zero")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_points_entries_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_points_entries")),
        sa.UniqueConstraint(
            "member_id",
            "kind",
            "reference",
            "lot_id",
            name=op.f("uq_members_points_entries_member_id_kind_reference_lot_id"),
        ),
    )
    with op.batch_alter_table("members_points_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_points_entries_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_members_points_entries_member_recent", ["member_id", "id"], unique=False
        )

    op.create_table(
        "members_points_reversals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "earning_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column(
            "returned_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "points_reversed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "points_short", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "refund_deduction_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "forgiven_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["earning_id"],
            ["members_points_earnings.id"],
            name=op.f("fk_members_points_reversals_earning_id_members_points_earnings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_points_reversals")),
        sa.UniqueConstraint(
            "earning_id", "reference", name=op.f("uq_members_points_reversals_earning_id_reference")
        ),
    )


def downgrade() -> None:
    op.drop_table("members_points_reversals")
    with op.batch_alter_table("members_points_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_members_points_entries_member_recent")
        batch_op.drop_index(batch_op.f("ix_members_points_entries_expires_at"))

    op.drop_table("members_points_entries")
    with op.batch_alter_table("members_points_earnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_points_earnings_member_id"))

    op.drop_table("members_points_earnings")
    op.drop_table("members_points_balances")
