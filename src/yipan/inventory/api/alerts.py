"""HTTP routes for low-stock alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from yipan.auth.api import allowed
from yipan.inventory.schemas import AcknowledgeIn, AlertOut
from yipan.inventory.service import alerts
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, IdPath, Offset

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


@router.get("", dependencies=allowed("inventory.read"))
def list_alerts(
    engine: EngineDep,
    status: Literal["open", "acknowledged", "cleared"] | None = None,
    node: str | None = None,
    sku: str | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    """Low-stock alerts, newest first, each with the nearby nodes that hold a surplus."""
    with unit_of_work(engine, readonly=True) as session:
        return alerts.list_alerts(
            session, status=status, node=node, sku=sku, offset=offset, limit=limit
        )


@router.get("/{alert_id}", dependencies=allowed("inventory.read"))
def get_alert(alert_id: IdPath, engine: EngineDep) -> AlertOut:
    with unit_of_work(engine, readonly=True) as session:
        return alerts.get_alert(session, alert_id)


@router.post("/{alert_id}/acknowledge", dependencies=allowed("inventory.write"))
def acknowledge_alert(
    alert_id: IdPath, engine: EngineDep, ack_in: Annotated[AcknowledgeIn | None, Body()] = None
) -> AlertOut:
    """Mark an alert as seen; it stays live until the stock is back."""
    with unit_of_work(engine) as session:
        return alerts.acknowledge_alert(session, alert_id, ack_in or AcknowledgeIn())
