"""The stock ledger drops its per-row foreign keys; the stock level beside each row keeps them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "fk_inventory_movements_sku_id_catalog_skus": ("sku_id", "catalog_skus"),
    "fk_inventory_movements_node_id_inventory_nodes": ("node_id", "inventory_nodes"),
}


def upgrade() -> None:
    with op.batch_alter_table("inventory_movements") as batch_op:
        for name in KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("inventory_movements") as batch_op:
        for name, (column, table) in KEYS.items():
            batch_op.create_foreign_key(name, table, [column], ["id"])
