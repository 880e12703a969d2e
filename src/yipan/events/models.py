from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


class OutboxEvent(Base):
    """The transactional outbox: written in the same transaction as the change it describes."""

    __tablename__ = "events_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # Only the pending events, in id order: the worker's "oldest due first" reads the head of
        # this index and stops at its batch size. An index over every status kept an entry for
        # each delivered event until a vacuum, and the worker walked them all on every batch.
        Index(
            "ix_events_outbox_pending",
            "id",
            postgresql_where=text(f"status = '{PENDING}'"),
            sqlite_where=text(f"status = '{PENDING}'"),
        ),
        Index("ix_events_outbox_aggregate", "aggregate_type", "aggregate_id"),
    )
