"""points: the member a sale was made under, so an un-merge can give its points back

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Earnings booked before this revision do not know it: they stay where they are on un-merge.
    op.add_column(
        "members_points_earnings",
        sa.Column(
            "origin_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
    )
    with op.batch_alter_table("members_points_earnings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_points_earnings_origin_member_id"),
            ["origin_member_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("members_points_earnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_points_earnings_origin_member_id"))
        batch_op.drop_column("origin_member_id")
