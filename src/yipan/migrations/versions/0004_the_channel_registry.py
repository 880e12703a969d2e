"""the channel registry

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:54:21.021207
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("return_window_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "return_window_days BETWEEN 0 AND 365",
            name=op.f("ck_channels_channels_return_window_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels_channels")),
        sa.UniqueConstraint("code", name=op.f("uq_channels_channels_code")),
    )


def downgrade() -> None:
    op.drop_table("channels_channels")
