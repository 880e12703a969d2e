"""events: the outbox's due events found through a partial index of the pending ones

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # (status, next_attempt_at, id) kept an entry per delivered event under 'pending' until a
    # vacuum, and the worker's ORDER BY id needed every due entry sorted; the partial index on id
    # holds the pending events alone, in the order the worker takes them.
    op.create_index(
        "ix_events_outbox_pending",
        "events_outbox",
        ["id"],
        unique=False,
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.drop_index("ix_events_outbox_due", table_name="events_outbox")


def downgrade() -> None:
    op.create_index(
        "ix_events_outbox_due", "events_outbox", ["status", "next_attempt_at", "id"], unique=False
    )
    op.drop_index("ix_events_outbox_pending", table_name="events_outbox")
