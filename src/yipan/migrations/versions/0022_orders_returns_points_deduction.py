"""orders: what a return keeps back of its refund for points already spent

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Returns taken before this kept nothing back: their refund was paid whole.
    with op.batch_alter_table("orders_returns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "points_deduction_fen",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=False,
                server_default="0",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("orders_returns", schema=None) as batch_op:
        batch_op.drop_column("points_deduction_fen")
