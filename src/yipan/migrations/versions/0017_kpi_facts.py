"""insights: KPI facts (store floor areas and the like)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A shop's sales floor, for sales per m²; nullable: warehouses have none, old stores unknown.
    with op.batch_alter_table("inventory_nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("floor_area_m2", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inventory_nodes", schema=None) as batch_op:
        batch_op.drop_column("floor_area_m2")
