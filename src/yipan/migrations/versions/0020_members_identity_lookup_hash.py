"""members: identities looked up through a hash index on their value hash alone

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 11:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_members_identities_lookup"
_TABLE = "members_identities"


def upgrade() -> None:
    # The lookup hash is keyed by the identifier's kind, so `kind` added nothing to the index;
    # as a B-tree on 64 hex characters the index grew past the buffer cache during a large
    # import, and its random inserts then cost a fifth of the import's time. SQLite has no hash
    # indexes and keeps a B-tree.
    op.drop_index(_INDEX, table_name=_TABLE)
    op.create_index(_INDEX, _TABLE, ["value_hash"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.create_index(_INDEX, _TABLE, ["value_hash", "kind"])
