"""orders, fulfilments, routing decisions, returns; channel routing rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:42:11.165773
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders_orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("customer_phone", sa.String(length=32), nullable=True),
        sa.Column("guide", sa.String(length=64), nullable=True),
        sa.Column("store", sa.String(length=64), nullable=True),
        sa.Column(
            "address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "goods_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "line_discount_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "order_discount_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "shipping_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "total_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "exchange_of_return_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total_fen >= 0", name=op.f("ck_orders_orders_total_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_orders")),
        sa.UniqueConstraint(
            "channel", "external_id", name=op.f("uq_orders_orders_channel_external_id")
        ),
    )
    with op.batch_alter_table("orders_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_orders_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_orders_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_orders_store"), ["store"], unique=False)

    op.create_table(
        "orders_fulfilments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("last_action", sa.String(length=24), nullable=True),
        sa.Column("pickup_code", sa.String(length=16), nullable=True),
        sa.Column("promised_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_orders.id"],
            name=op.f("fk_orders_fulfilments_order_id_orders_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_fulfilments")),
    )
    with op.batch_alter_table("orders_fulfilments", schema=None) as batch_op:
        batch_op.create_index("ix_orders_fulfilments_created", ["created_at"], unique=False)
        batch_op.create_index("ix_orders_fulfilments_node_state", ["node", "state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_fulfilments_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            "ix_orders_fulfilments_state_ready", ["state", "ready_at"], unique=False
        )

    op.create_table(
        "orders_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "unit_price_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "line_discount_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "order_discount_fen",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("paid_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("pickup_node", sa.String(length=64), nullable=True),
        sa.Column(
            "address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("returned_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "refunded_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.CheckConstraint("paid_fen >= 0", name=op.f("ck_orders_lines_paid_not_negative")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_lines_quantity_positive")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= paid_fen",
            name=op.f("ck_orders_lines_refund_within"),
        ),
        sa.CheckConstraint(
            "returned_quantity >= 0 AND returned_quantity <= quantity",
            name=op.f("ck_orders_lines_returned_within"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders_orders.id"], name=op.f("fk_orders_lines_order_id_orders_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_lines")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_orders_lines_order_id_line_no")),
    )
    op.create_table(
        "orders_order_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "fulfilment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("terminal", sa.String(length=64), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_orders.id"],
            name=op.f("fk_orders_order_events_order_id_orders_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_order_events")),
    )
    with op.batch_alter_table("orders_order_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_order_events_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "orders_returns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column(
            "refund_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_orders.id"],
            name=op.f("fk_orders_returns_order_id_orders_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_returns")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_orders_returns_idempotency_key")),
    )
    with op.batch_alter_table("orders_returns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_returns_order_id"), ["order_id"], unique=False)

    op.create_table(
        "orders_routing_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders_orders.id"],
            name=op.f("fk_orders_routing_decisions_order_id_orders_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_routing_decisions")),
    )
    with op.batch_alter_table("orders_routing_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_routing_decisions_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "orders_fulfilment_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "fulfilment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "quantity > 0", name=op.f("ck_orders_fulfilment_lines_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["fulfilment_id"],
            ["orders_fulfilments.id"],
            name=op.f("fk_orders_fulfilment_lines_fulfilment_id_orders_fulfilments"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["orders_lines.id"],
            name=op.f("fk_orders_fulfilment_lines_line_id_orders_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_fulfilment_lines")),
    )
    with op.batch_alter_table("orders_fulfilment_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_fulfilment_lines_fulfilment_id"), ["fulfilment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_orders_fulfilment_lines_line_id"), ["line_id"], unique=False
        )

    op.create_table(
        "orders_return_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "return_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=16), nullable=False),
        sa.Column(
            "refund_fen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_return_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["orders_lines.id"],
            name=op.f("fk_orders_return_lines_line_id_orders_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["orders_returns.id"],
            name=op.f("fk_orders_return_lines_return_id_orders_returns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_return_lines")),
    )
    with op.batch_alter_table("orders_return_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_return_lines_return_id"), ["return_id"], unique=False
        )

    with op.batch_alter_table("channels_channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "routing",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'{}'"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("channels_channels", schema=None) as batch_op:
        batch_op.drop_column("routing")

    with op.batch_alter_table("orders_return_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_return_lines_return_id"))

    op.drop_table("orders_return_lines")
    with op.batch_alter_table("orders_fulfilment_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_fulfilment_lines_line_id"))
        batch_op.drop_index(batch_op.f("ix_orders_fulfilment_lines_fulfilment_id"))

    op.drop_table("orders_fulfilment_lines")
    with op.batch_alter_table("orders_routing_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_routing_decisions_order_id"))

    op.drop_table("orders_routing_decisions")
    with op.batch_alter_table("orders_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_returns_order_id"))

    op.drop_table("orders_returns")
    with op.batch_alter_table("orders_order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_order_events_order_id"))

    op.drop_table("orders_order_events")
    op.drop_table("orders_lines")
    with op.batch_alter_table("orders_fulfilments", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_fulfilments_state_ready")
        batch_op.drop_index(batch_op.f("ix_orders_fulfilments_order_id"))
        batch_op.drop_index("ix_orders_fulfilments_node_state")
        batch_op.drop_index("ix_orders_fulfilments_created")

    op.drop_table("orders_fulfilments")
    with op.batch_alter_table("orders_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_orders_store"))
        batch_op.drop_index(batch_op.f("ix_orders_orders_member_id"))
        batch_op.drop_index(batch_op.f("ix_orders_orders_created_at"))

    op.drop_table("orders_orders")
