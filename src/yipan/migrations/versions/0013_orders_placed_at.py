"""orders: an index on placed_at, for the dashboard's "orders placed in these days"

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_orders_placed_at"), ["placed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_orders_placed_at"))
