"""orders: points as a tender of Yipan's own channels' orders, and given back on returns

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → the columns added, every one a count or an amount that was 0 for what came before
_COLUMNS = {
    "orders_orders": ("points_used", "points_fen"),
    "orders_lines": ("points_used", "points_fen"),
    "orders_returns": ("points_restored",),
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in columns:
                batch_op.add_column(
                    sa.Column(
                        name,
                        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                        nullable=False,
                        server_default="0",
                    )
                )


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in columns:
                batch_op.drop_column(name)
