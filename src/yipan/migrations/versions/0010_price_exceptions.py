"""price policy: explicit channel / region price exceptions to the one list price

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_price_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "price_fen > 0", name=op.f("ck_catalog_price_exceptions_price_positive")
        ),
        sa.CheckConstraint(
            "channel IS NOT NULL OR region IS NOT NULL",
            name=op.f("ck_catalog_price_exceptions_has_scope"),
        ),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
            name=op.f("ck_catalog_price_exceptions_valid_window"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["catalog_skus.id"],
            name=op.f("fk_catalog_price_exceptions_sku_id_catalog_skus"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_price_exceptions")),
    )
    with op.batch_alter_table("catalog_price_exceptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_price_exceptions_sku_id"), ["sku_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_price_exceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_price_exceptions_sku_id"))
    op.drop_table("catalog_price_exceptions")
