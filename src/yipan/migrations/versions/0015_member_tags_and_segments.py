"""insights: member tags and marketers' saved segments

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "insights_member_tags",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("member_id", _BIG, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_member_tags")),
        sa.UniqueConstraint(
            "member_id", "kind", "value", name=op.f("uq_insights_member_tags_member_id_kind_value")
        ),
    )
    op.create_index(
        "ix_insights_member_tags_kind_value",
        "insights_member_tags",
        ["kind", "value", "member_id"],
        unique=False,
    )
    op.create_table(
        "insights_tag_baselines",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("cuts", _JSON, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_tag_baselines")),
    )
    op.create_table(
        "insights_segments",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("filters", _JSON, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_insights_segments_name")),
    )


def downgrade() -> None:
    op.drop_table("insights_segments")
    op.drop_table("insights_tag_baselines")
    op.drop_index("ix_insights_member_tags_kind_value", table_name="insights_member_tags")
    op.drop_table("insights_member_tags")
