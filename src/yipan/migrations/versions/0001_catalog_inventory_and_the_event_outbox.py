"""catalog, inventory and the event outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:08:37.718306
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["catalog_categories.id"],
            name=op.f("fk_catalog_categories_parent_id_catalog_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_categories_code")),
    )
    op.create_table(
        "events_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("aggregate_type", sa.String(length=50), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events_outbox")),
    )
    with op.batch_alter_table("events_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_outbox_aggregate", ["aggregate_type", "aggregate_id"], unique=False
        )
        batch_op.create_index(
            "ix_events_outbox_due", ["status", "next_attempt_at", "id"], unique=False
        )

    op.create_table(
        "inventory_channel_buffers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("node_type", sa.String(length=24), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "mode IN ('percent', 'units')", name=op.f("ck_inventory_channel_buffers_mode_known")
        ),
        sa.CheckConstraint(
            "value >= 0", name=op.f("ck_inventory_channel_buffers_value_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_channel_buffers")),
        sa.UniqueConstraint(
            "channel", "node_type", name=op.f("uq_inventory_channel_buffers_channel_node_type")
        ),
    )
    op.create_table(
        "inventory_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("province", sa.String(length=50), nullable=False),
        sa.Column("city", sa.String(length=50), nullable=False),
        sa.Column("district", sa.String(length=50), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("can_ship", sa.Boolean(), nullable=False),
        sa.Column("can_pickup", sa.Boolean(), nullable=False),
        sa.Column("can_local_delivery", sa.Boolean(), nullable=False),
        sa.Column("local_delivery_radius_km", sa.Float(), nullable=False),
        sa.Column("can_receive_returns", sa.Boolean(), nullable=False),
        sa.Column("daily_capacity", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "daily_capacity >= 0", name=op.f("ck_inventory_nodes_capacity_not_negative")
        ),
        sa.CheckConstraint(
            "latitude BETWEEN -90 AND 90", name=op.f("ck_inventory_nodes_latitude_range")
        ),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name=op.f("ck_inventory_nodes_longitude_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_nodes")),
        sa.UniqueConstraint("code", name=op.f("uq_inventory_nodes_code")),
    )
    with op.batch_alter_table("inventory_nodes", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_nodes_lat_lon", ["latitude", "longitude"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_nodes_province"), ["province"], unique=False)
        batch_op.create_index(batch_op.f("ix_inventory_nodes_type"), ["type"], unique=False)

    op.create_table(
        "catalog_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["catalog_categories.id"],
            name=op.f("fk_catalog_products_category_id_catalog_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_products")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_products_code")),
    )
    with op.batch_alter_table("catalog_products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_products_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "inventory_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("source_node_id", sa.Integer(), nullable=False),
        sa.Column("dest_node_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "source_node_id <> dest_node_id", name=op.f("ck_inventory_transfers_distinct_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["dest_node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_transfers_dest_node_id_inventory_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["source_node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_transfers_source_node_id_inventory_nodes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_transfers")),
        sa.UniqueConstraint("code", name=op.f("uq_inventory_transfers_code")),
    )
    with op.batch_alter_table("inventory_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_transfers_dest_node_id"), ["dest_node_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inventory_transfers_source_node_id"), ["source_node_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inventory_transfers_status"), ["status"], unique=False)

    op.create_table(
        "catalog_skus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("list_price_fen", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_products.id"],
            name=op.f("fk_catalog_skus_product_id_catalog_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_skus")),
        sa.UniqueConstraint("barcode", name=op.f("uq_catalog_skus_barcode")),
        sa.UniqueConstraint("code", name=op.f("uq_catalog_skus_code")),
    )
    with op.batch_alter_table("catalog_skus", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_skus_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "inventory_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("atp", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column(
            "nearby_surplus",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_alerts_node_id_inventory_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["catalog_skus.id"], name=op.f("fk_inventory_alerts_sku_id_catalog_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_alerts")),
    )
    with op.batch_alter_table("inventory_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_alerts_status", ["status", "raised_at"], unique=False)
        batch_op.create_index(
            "uq_inventory_alerts_live",
            ["kind", "sku_id", "node_id"],
            unique=True,
            postgresql_where=sa.text("status <> 'cleared'"),
            sqlite_where=sa.text("status <> 'cleared'"),
        )

    op.create_table(
        "inventory_movements",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_inventory_movements_quantity_not_zero")),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_movements_node_id_inventory_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["catalog_skus.id"], name=op.f("fk_inventory_movements_sku_id_catalog_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_movements")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_inventory_movements_idempotency_key")),
    )
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_movements_reference", ["reference"], unique=False)
        batch_op.create_index(
            "ix_inventory_movements_sku_node", ["sku_id", "node_id", "id"], unique=False
        )

    op.create_table(
        "inventory_reservations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_inventory_reservations_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_reservations_node_id_inventory_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["catalog_skus.id"],
            name=op.f("fk_inventory_reservations_sku_id_catalog_skus"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_reservations")),
        sa.UniqueConstraint(
            "reference",
            "sku_id",
            "node_id",
            name=op.f("uq_inventory_reservations_reference_sku_id_node_id"),
        ),
    )
    with op.batch_alter_table("inventory_reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_reservations_expiry",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'active' AND expires_at IS NOT NULL"),
            sqlite_where=sa.text("status = 'active' AND expires_at IS NOT NULL"),
        )

    op.create_table(
        "inventory_stock_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("reorder_point", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reorder_point >= 0", name=op.f("ck_inventory_stock_levels_reorder_point_not_negative")
        ),
        sa.CheckConstraint(
            "reserved <= on_hand", name=op.f("ck_inventory_stock_levels_reserved_within_on_hand")
        ),
        sa.CheckConstraint(
            "reserved >= 0", name=op.f("ck_inventory_stock_levels_reserved_not_negative")
        ),
        sa.CheckConstraint(
            "safety_stock >= 0", name=op.f("ck_inventory_stock_levels_safety_stock_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["inventory_nodes.id"],
            name=op.f("fk_inventory_stock_levels_node_id_inventory_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["catalog_skus.id"],
            name=op.f("fk_inventory_stock_levels_sku_id_catalog_skus"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_stock_levels")),
        sa.UniqueConstraint(
            "sku_id", "node_id", name=op.f("uq_inventory_stock_levels_sku_id_node_id")
        ),
    )
    with op.batch_alter_table("inventory_stock_levels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_stock_levels_node_id"), ["node_id"], unique=False
        )

    op.create_table(
        "inventory_transfer_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity_requested", sa.Integer(), nullable=False),
        sa.Column("quantity_shipped", sa.Integer(), nullable=False),
        sa.Column("quantity_received", sa.Integer(), nullable=False),
        sa.Column("quantity_damaged", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "quantity_received + quantity_damaged <= quantity_shipped",
            name=op.f("ck_inventory_transfer_lines_received_within_shipped"),
        ),
        sa.CheckConstraint(
            "quantity_requested > 0", name=op.f("ck_inventory_transfer_lines_requested_positive")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"],
            ["catalog_skus.id"],
            name=op.f("fk_inventory_transfer_lines_sku_id_catalog_skus"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["inventory_transfers.id"],
            name=op.f("fk_inventory_transfer_lines_transfer_id_inventory_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_transfer_lines")),
        sa.UniqueConstraint(
            "transfer_id", "sku_id", name=op.f("uq_inventory_transfer_lines_transfer_id_sku_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("inventory_transfer_lines")
    with op.batch_alter_table("inventory_stock_levels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_stock_levels_node_id"))

    op.drop_table("inventory_stock_levels")
    with op.batch_alter_table("inventory_reservations", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_inventory_reservations_expiry",
            postgresql_where=sa.text("status = 'active' AND expires_at IS NOT NULL"),
            sqlite_where=sa.text("status = 'active' AND expires_at IS NOT NULL"),
        )

    op.drop_table("inventory_reservations")
    with op.batch_alter_table("inventory_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_movements_sku_node")
        batch_op.drop_index("ix_inventory_movements_reference")

    op.drop_table("inventory_movements")
    with op.batch_alter_table("inventory_alerts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_inventory_alerts_live",
            postgresql_where=sa.text("status <> 'cleared'"),
            sqlite_where=sa.text("status <> 'cleared'"),
        )
        batch_op.drop_index("ix_inventory_alerts_status")

    op.drop_table("inventory_alerts")
    with op.batch_alter_table("catalog_skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_skus_product_id"))

    op.drop_table("catalog_skus")
    with op.batch_alter_table("inventory_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_transfers_status"))
        batch_op.drop_index(batch_op.f("ix_inventory_transfers_source_node_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_transfers_dest_node_id"))

    op.drop_table("inventory_transfers")
    with op.batch_alter_table("catalog_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_products_category_id"))

    op.drop_table("catalog_products")
    with op.batch_alter_table("inventory_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_nodes_type"))
        batch_op.drop_index(batch_op.f("ix_inventory_nodes_province"))
        batch_op.drop_index("ix_inventory_nodes_lat_lon")

    op.drop_table("inventory_nodes")
    op.drop_table("inventory_channel_buffers")
    with op.batch_alter_table("events_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_events_outbox_due")
        batch_op.drop_index("ix_events_outbox_aggregate")

    op.drop_table("events_outbox")
    op.drop_table("catalog_categories")
