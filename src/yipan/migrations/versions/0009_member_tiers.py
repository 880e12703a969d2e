"""member tiers: the spend ledger, tier history, and when a member's tier was reached and reviewed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("members_members", sa.Column("tier_since", sa.DateTime(timezone=True)))
    op.add_column("members_members", sa.Column("last_review_at", sa.DateTime(timezone=True)))
    op.create_table(
        "members_spend_entries",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("member_id", _BIG, nullable=False),
        sa.Column("origin_member_id", _BIG, nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("order_ref", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("amount_fen", _BIG, nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('sale', 'return')", name=op.f("ck_members_spend_entries_kind_known")
        ),
        sa.CheckConstraint(
            "(kind = 'sale' AND amount_fen >= 0) OR (kind = 'return' AND amount_fen <= 0)",
            name=op.f("ck_members_spend_entries_sign_by_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_spend_entries_member_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["origin_member_id"],
            ["members_members.id"],
            name=op.f("fk_members_spend_entries_origin_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_spend_entries")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_members_spend_entries_source_ref")),
    )
    with op.batch_alter_table("members_spend_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_members_spend_entries_member_sold", ["member_id", "sold_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_spend_entries_order_ref"), ["order_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_spend_entries_origin_member_id"),
            ["origin_member_id"],
            unique=False,
        )
    op.create_table(
        "members_tier_changes",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("member_id", _BIG, nullable=False),
        sa.Column("from_tier", sa.Text(), nullable=False),
        sa.Column("to_tier", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("spend_fen", _BIG, nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_tier_changes_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_tier_changes")),
    )
    with op.batch_alter_table("members_tier_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_members_tier_changes_member_recent", ["member_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("members_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_members_tier_changes_member_recent")
    op.drop_table("members_tier_changes")
    with op.batch_alter_table("members_spend_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_spend_entries_origin_member_id"))
        batch_op.drop_index(batch_op.f("ix_members_spend_entries_order_ref"))
        batch_op.drop_index("ix_members_spend_entries_member_sold")
    op.drop_table("members_spend_entries")
    with op.batch_alter_table("members_members", schema=None) as batch_op:
        batch_op.drop_column("last_review_at")
        batch_op.drop_column("tier_since")
