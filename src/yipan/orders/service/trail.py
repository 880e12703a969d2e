"""The audit trail of orders: one row per thing that happened, with who and from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from yipan.orders.models import OrderEvent

order_events_t = cast(Table, OrderEvent.__table__)


def note(
    session: Session,
    order_id: int,
    type: str,
    at: datetime,
    *,
    fulfilment_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    actor: str | None = None,
    terminal: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    note_many(
        session,
        [
            {
                "order_id": order_id,
                "type": type,
                "at": at,
                "fulfilment_id": fulfilment_id,
                "from_state": from_state,
                "to_state": to_state,
                "actor": actor,
                "terminal": terminal,
                "details": details,
            }
        ],
    )


def note_many(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(order_events_t), rows)
