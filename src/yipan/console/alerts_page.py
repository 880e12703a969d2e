"""The inventory alerts page's view model: low-stock alerts in the user's scope, filtered and
paged on the server, each with the nearby surplus that could fill it and a link to move it; and
the acknowledge step.

Read and written through inventory's services only. A store's staff see their store's alerts, a
region manager their province's, HQ all; an alert outside the scope answers as an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE, Pager, pager
from yipan.data_scope import covers_node, visible_nodes
from yipan.inventory.errors import UnknownAlert, UnknownNode
from yipan.inventory.schemas import AcknowledgeIn, AlertOut
from yipan.inventory.service import alerts, nodes
from yipan.kernel.errors import YipanError

READ_PERMISSION = "inventory.read"
ACK_PERMISSION = "inventory.write"
# `live` (open or acknowledged: the stock is still low) first: what a planner works through.
STATUSES = ("live", "open", "acknowledged", "cleared")
MAX_FILTER_LENGTH = 64


@dataclass(frozen=True)
class AlertFilters:
    status: str = "live"
    sku: str = ""
    node: str = ""

    def query(self, page: int | None = None) -> dict[str, Any]:
        asked: dict[str, Any] = {"status": self.status, "sku": self.sku, "node": self.node}
        if page is not None:
            asked["page"] = page
        return {k: v for k, v in asked.items() if v}


@dataclass(frozen=True)
class AlertList:
    filters: AlertFilters
    notice: Notice | None = None
    rows: list[AlertOut] = field(default_factory=list)
    pager: Pager | None = None


def list_page(session: Session, scope: Scope, filters: AlertFilters, page: int) -> AlertList:
    """One page of the alerts the filters pick within `scope`, newest first."""
    status = filters.status.strip() or "live"
    sku, node = filters.sku.strip()[:MAX_FILTER_LENGTH], filters.node.strip()[:MAX_FILTER_LENGTH]
    asked = AlertFilters(status=status, sku=sku, node=node)
    if status not in STATUSES:
        return AlertList(asked, Notice("alerts.bad_status", {"status": status[:20]}, 422))
    if sku:
        try:
            catalog.sku_id(session, sku)
        except UnknownSku:
            return AlertList(asked, Notice("alerts.unknown_sku", {"sku": sku}, 404))
    if node:
        try:
            nodes.get_node(session, node)
        except UnknownNode:
            return AlertList(asked, Notice("alerts.unknown_node", {"node": node}, 404))
        if not covers_node(session, scope, node):
            return AlertList(asked, Notice("alerts.node_not_yours", {"node": node}, 403))
    visible = visible_nodes(session, scope)
    total = alerts.count_alerts(
        session, status=status, sku=sku or None, node=node or None, nodes=visible
    )
    paged = pager(total, page)
    if page > paged.pages:
        return AlertList(asked, Notice("alerts.page_past_end", {"page": page}, 404))
    rows = alerts.list_alerts(
        session,
        status=status,
        sku=sku or None,
        node=node or None,
        nodes=visible,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return AlertList(asked, rows=rows, pager=paged)


def acknowledge(
    session: Session, scope: Scope, alert_id: int, who: str, note: str
) -> Notice | None:
    """Mark an alert in `scope` as seen; None when done, else why not."""
    try:
        alert = alerts.get_alert(session, alert_id)
    except UnknownAlert:
        return unknown_alert(alert_id)
    if not covers_node(session, scope, alert.node):
        return unknown_alert(alert_id)
    try:
        alerts.acknowledge_alert(
            session, alert_id, AcknowledgeIn(by=who, note=note.strip()[:1000] or None)
        )
    except YipanError as refused:
        return Notice("alerts.refused", {"message": refused.message}, status=refused.status)
    return None


def unknown_alert(alert_id: object) -> Notice:
    return Notice("alerts.unknown", {"id": str(alert_id)[:20]}, status=404)
