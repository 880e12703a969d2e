"""members: identities without foreign keys; source keys and hashes compared byte by byte

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IDENTITY_KEYS = (
    ("fk_members_identities_member_id_members_members", "member_id", "members_members"),
    (
        "fk_members_identities_record_id_members_source_records",
        "record_id",
        "members_source_records",
    ),
)
# (table, column, length): compared in the C collation on PostgreSQL; SQLite always compares
# text byte by byte.
_KEY_COLUMNS = (
    ("members_source_records", "source", 50),
    ("members_source_records", "record_id", 100),
    ("members_identities", "value_hash", 64),
    ("members_reviews", "shared_hash", 64),
)


def upgrade() -> None:
    # Checking both keys of every identity a bulk import writes took a third of the database's
    # time; the member services keep an identity's member and record consistent themselves.
    with op.batch_alter_table("members_identities", schema=None) as batch_op:
        for name, _, _ in _IDENTITY_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in _KEY_COLUMNS:
            op.alter_column(
                table,
                column,
                existing_type=sa.String(length),
                type_=sa.String(length, collation="C"),
                existing_nullable=False,
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, length in _KEY_COLUMNS:
            op.alter_column(
                table,
                column,
                existing_type=sa.String(length, collation="C"),
                type_=sa.String(length),
                existing_nullable=False,
            )
    with op.batch_alter_table("members_identities", schema=None) as batch_op:
        for name, column, referred in _IDENTITY_KEYS:
            batch_op.create_foreign_key(name, referred, [column], ["id"])
