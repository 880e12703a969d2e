from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from yipan.auth.api import allowed
from yipan.events import service
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1/events", tags=["events"], responses=ERROR_RESPONSES)


@router.get("", dependencies=allowed("events.read"))
def recent_events(
    engine: EngineDep,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The newest events in the outbox, optionally for one aggregate (e.g. `stock`, `SKU@NODE`)."""
    with unit_of_work(engine, readonly=True) as session:
        return service.recent_events(
            session, aggregate_type=aggregate_type, aggregate_id=aggregate_id, limit=limit
        )


@router.get("/outbox", dependencies=allowed("events.read"))
def outbox_status(engine: EngineDep) -> dict[str, int]:
    """How many events are pending, delivered and dead."""
    with unit_of_work(engine, readonly=True) as session:
        return service.outbox_counts(session)
