"""members: source records and merges without foreign keys, as identities since 0019

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → {constraint: (column, referred table)}
_KEYS = {
    "members_source_records": {
        "fk_members_source_records_member_id_members_members": ("member_id", "members_members"),
    },
    "members_merges": {
        "fk_members_merges_survivor_id_members_members": ("survivor_id", "members_members"),
        "fk_members_merges_absorbed_id_members_members": ("absorbed_id", "members_members"),
        "fk_members_merges_survivor_record_id_members_source_records": (
            "survivor_record_id",
            "members_source_records",
        ),
        "fk_members_merges_absorbed_record_id_members_source_records": (
            "absorbed_record_id",
            "members_source_records",
        ),
        "fk_members_merges_via_record_id_members_source_records": (
            "via_record_id",
            "members_source_records",
        ),
    },
}


def upgrade() -> None:
    # Each check locks the row it finds (FOR KEY SHARE), which PostgreSQL records on the row and
    # in its log: for a bulk import's million records and quarter million merges, a quarter of
    # the database's time. The member services write these rows together with the members they
    # name, in one transaction, and never delete a member or a record.
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table) as batch_op:
            for name in keys:
                batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table) as batch_op:
            for name, (column, referred) in keys.items():
                batch_op.create_foreign_key(name, referred, [column], ["id"])
