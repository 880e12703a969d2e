"""members: source records, identities, merges, separations, reviews

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:04:04.856113
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members_members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("guide", sa.String(length=64), nullable=True),
        sa.Column("store", sa.String(length=64), nullable=True),
        sa.Column("marketing_sms", sa.Boolean(), nullable=False),
        sa.Column("social_messages", sa.Boolean(), nullable=False),
        sa.Column("consent_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'merged') = (survivor_id IS NOT NULL)",
            name=op.f("ck_members_members_survivor_when_merged"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'merged', 'erased')", name=op.f("ck_members_members_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["members_members.id"],
            name=op.f("fk_members_members_survivor_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_members")),
    )
    with op.batch_alter_table("members_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_members_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "members_source_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_source_records_member_id_members_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_source_records")),
        sa.UniqueConstraint(
            "source", "record_id", name=op.f("uq_members_source_records_source_record_id")
        ),
    )
    with op.batch_alter_table("members_source_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_source_records_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "members_identities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("matching", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_identities_member_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_identities_record_id_members_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_identities")),
    )
    with op.batch_alter_table("members_identities", schema=None) as batch_op:
        batch_op.create_index("ix_members_identities_lookup", ["value_hash", "kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_members_identities_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_identities_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "members_merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "absorbed_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "survivor_record_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "absorbed_record_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "via_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("identifier_kind", sa.String(length=24), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=100), nullable=True),
        sa.Column("undone_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["absorbed_id"],
            ["members_members.id"],
            name=op.f("fk_members_merges_absorbed_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["absorbed_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_merges_absorbed_record_id_members_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["members_members.id"],
            name=op.f("fk_members_merges_survivor_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["survivor_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_merges_survivor_record_id_members_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["via_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_merges_via_record_id_members_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_merges")),
    )
    with op.batch_alter_table("members_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_merges_absorbed_id"), ["absorbed_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_merges_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "members_reviews",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "other_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "left_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "right_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("shared_kind", sa.String(length=24), nullable=False),
        sa.Column("shared_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("resolution_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'rejected')",
            name=op.f("ck_members_reviews_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["left_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_reviews_left_record_id_members_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members_members.id"],
            name=op.f("fk_members_reviews_member_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["other_member_id"],
            ["members_members.id"],
            name=op.f("fk_members_reviews_other_member_id_members_members"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_reviews_record_id_members_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["right_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_reviews_right_record_id_members_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_reviews")),
    )
    with op.batch_alter_table("members_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_reviews_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_reviews_other_member_id"), ["other_member_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_members_reviews_status"), ["status"], unique=False)

    op.create_table(
        "members_separations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "first_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "second_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "first_record_id < second_record_id", name=op.f("ck_members_separations_ordered_pair")
        ),
        sa.ForeignKeyConstraint(
            ["first_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_separations_first_record_id_members_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["second_record_id"],
            ["members_source_records.id"],
            name=op.f("fk_members_separations_second_record_id_members_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members_separations")),
        sa.UniqueConstraint(
            "first_record_id",
            "second_record_id",
            name=op.f("uq_members_separations_first_record_id_second_record_id"),
        ),
    )
    with op.batch_alter_table("members_separations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_members_separations_first_record_id"), ["first_record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_members_separations_second_record_id"),
            ["second_record_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("members_separations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_separations_second_record_id"))
        batch_op.drop_index(batch_op.f("ix_members_separations_first_record_id"))

    op.drop_table("members_separations")
    with op.batch_alter_table("members_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_reviews_status"))
        batch_op.drop_index(batch_op.f("ix_members_reviews_other_member_id"))
        batch_op.drop_index(batch_op.f("ix_members_reviews_member_id"))

    op.drop_table("members_reviews")
    with op.batch_alter_table("members_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_merges_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_members_merges_absorbed_id"))

    op.drop_table("members_merges")
    with op.batch_alter_table("members_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_identities_record_id"))
        batch_op.drop_index(batch_op.f("ix_members_identities_member_id"))
        batch_op.drop_index("ix_members_identities_lookup")

    op.drop_table("members_identities")
    with op.batch_alter_table("members_source_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_source_records_member_id"))

    op.drop_table("members_source_records")
    with op.batch_alter_table("members_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_members_survivor_id"))

    op.drop_table("members_members")
