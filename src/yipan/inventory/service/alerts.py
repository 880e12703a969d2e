"""Low-stock alerts: raised once when a node's ATP of a SKU crosses under its threshold, with the
nearby nodes that could send some, and cleared when the stock is back.

The stock services record `StockFellBelowThreshold` on the one change that takes ATP under the
reorder point (or the safety stock); `on_stock_fell_below` turns it into an alert after commit.
At most one live (open or acknowledged) alert exists per kind × SKU × node — a unique partial
index says so, and the insert yields to it — so later sales do not raise it again.

An alert clears when the node's ATP is back at or above its current threshold. That is checked
for the one SKU × node whenever an event says its ATP may have risen (`StockMoved`,
`ReservationReleased`, `StockPolicyChanged`: one indexed query each), and for every live alert
by the periodic sweep `clear_recovered_alerts`, the safety net for changes that record no such
event. Once cleared, the next crossing raises a new alert.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, literal_column, select, text, tuple_, update
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.events import service as events
from yipan.events.domain import OutboxMessage
from yipan.inventory.domain import (
    IllegalTransition,
    alert_threshold,
    atp,
    bounding_box,
    haversine_km,
    surplus,
)
from yipan.inventory.errors import UnknownAlert
from yipan.inventory.events import AlertAcknowledged, AlertCleared, LowStockAlertRaised
from yipan.inventory.models import Alert, Node, StockLevel
from yipan.inventory.schemas import AcknowledgeIn, AlertOut, NearbySurplus
from yipan.inventory.service.nodes import find_node_ids, node_codes, node_id
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import insert_for

alerts = cast(Table, Alert.__table__)

LOW_STOCK = "low_stock"
OPEN, ACKNOWLEDGED, CLEARED = "open", "acknowledged", "cleared"
NEARBY_RADIUS_KM = 300.0
NEARBY_MAX = 5

# The partial index's predicate, with a literal rather than a parameter, so that both backends
# can match a query (and an ON CONFLICT target) to the index.
_LIVE = alerts.c.status != literal_column("'cleared'")
_LIVE_INDEX_WHERE = text("status <> 'cleared'")


def on_stock_fell_below(session: Session, message: OutboxMessage) -> None:
    """Handler of `inventory.StockFellBelowThreshold`: raise the alert unless one is live."""
    payload = message.payload
    raise_low_stock_alert(session, sku=payload["sku"], node=payload["node"], at=message.occurred_at)


def on_stock_may_have_risen(session: Session, message: OutboxMessage) -> None:
    """Handler of events after which ATP may be back: clear those SKU × node alerts if so.

    `StockMoved` names one node and many SKUs; the other events one SKU × node.
    """
    payload = message.payload
    skus = [c["sku"] for c in payload["changes"]] if "changes" in payload else [payload["sku"]]
    sku_map = catalog.find_sku_ids(session, skus)
    nid = find_node_ids(session, [payload["node"]]).get(payload["node"])
    pairs = [(sku_map[s], nid) for s in skus if s in sku_map and nid is not None]
    if pairs:
        _clear(session, SystemClock().now(), pairs)


def raise_low_stock_alert(
    session: Session, *, sku: str, node: str, at: datetime | None = None
) -> AlertOut | None:
    """Raise the alert for a SKU at a node if it is low now and none is live; else None.

    ATP and threshold are read afresh rather than taken from the event: if the stock came back
    before the event was handled there is nothing to alert about.
    """
    pair = _pair(session, sku, node)
    if pair is None:
        return None
    sku_id, nid = pair
    if _live_id(session, sku_id, nid) is not None:
        return None  # raised once, not on every sale
    level = session.execute(
        select(
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.safety_stock,
            StockLevel.reorder_point,
        ).where(StockLevel.sku_id == sku_id, StockLevel.node_id == nid)
    ).first()
    if level is None:
        return None
    available = atp(level.on_hand, level.reserved, level.safety_stock)
    threshold = alert_threshold(level.reorder_point, level.safety_stock)
    if threshold <= 0 or available >= threshold:
        return None
    nearby = nearby_surplus(session, sku_id=sku_id, node_id=nid)
    raised_at = at or SystemClock().now()
    new_id = session.execute(
        insert_for(session, alerts)
        .values(
            kind=LOW_STOCK,
            sku_id=sku_id,
            node_id=nid,
            status=OPEN,
            atp=available,
            threshold=threshold,
            nearby_surplus=[n.model_dump() for n in nearby],
            raised_at=raised_at,
        )
        .on_conflict_do_nothing(
            index_elements=["kind", "sku_id", "node_id"], index_where=_LIVE_INDEX_WHERE
        )
        .returning(alerts.c.id)
    ).scalar()
    if new_id is None:
        return None  # raised concurrently by another worker
    events.record(
        session,
        LowStockAlertRaised(
            alert_id=new_id,
            sku=sku,
            node=node,
            atp=available,
            threshold=threshold,
            nearby=[n.model_dump() for n in nearby],
        ),
    )
    return get_alert(session, new_id)


def nearby_surplus(session: Session, *, sku_id: int, node_id: int) -> list[NearbySurplus]:
    """Active nodes within 300 km holding more of the SKU than their own reorder point needs,
    nearest first, at most five."""
    here = session.execute(select(Node.latitude, Node.longitude).where(Node.id == node_id)).one()
    box = bounding_box(here.latitude, here.longitude, NEARBY_RADIUS_KM)
    rows = session.execute(
        select(
            Node.code,
            Node.name,
            Node.latitude,
            Node.longitude,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.safety_stock,
            StockLevel.reorder_point,
        )
        .join(Node, Node.id == StockLevel.node_id)
        .where(
            StockLevel.sku_id == sku_id,
            StockLevel.node_id != node_id,
            Node.active.is_(True),
            Node.latitude.between(box.min_lat, box.max_lat),
            Node.longitude.between(box.min_lon, box.max_lon),
        )
    )
    found: list[NearbySurplus] = []
    for r in rows:
        spare = surplus(atp(r.on_hand, r.reserved, r.safety_stock), r.reorder_point)
        distance = haversine_km(here.latitude, here.longitude, r.latitude, r.longitude)
        if spare > 0 and distance <= NEARBY_RADIUS_KM:
            found.append(
                NearbySurplus(
                    node=r.code, name=r.name, distance_km=round(distance, 2), surplus=spare
                )
            )
    found.sort(key=lambda n: (n.distance_km, n.node))
    return found[:NEARBY_MAX]


def clear_recovered_alerts(session: Session, *, clock: Clock | None = None) -> int:
    """The sweep: clear every live alert whose node has its ATP back; returns how many."""
    return _clear(session, (clock or SystemClock()).now(), None)


def _clear(session: Session, now: datetime, pairs: list[tuple[int, int]] | None) -> int:
    # A threshold of zero means the node no longer has a policy: nothing to be low against.
    stmt = (
        select(
            alerts.c.id,
            StockLevel.on_hand,
            StockLevel.reserved,
            StockLevel.safety_stock,
            StockLevel.reorder_point,
        )
        .outerjoin(
            StockLevel,
            (StockLevel.sku_id == alerts.c.sku_id) & (StockLevel.node_id == alerts.c.node_id),
        )
        .where(_LIVE)
    )
    if pairs is not None:
        stmt = stmt.where(
            alerts.c.kind == LOW_STOCK,
            tuple_(alerts.c.sku_id, alerts.c.node_id).in_(pairs),
        )
    recovered = [
        r.id
        for r in session.execute(stmt)
        if r.on_hand is None
        or atp(r.on_hand, r.reserved, r.safety_stock)
        >= alert_threshold(r.reorder_point, r.safety_stock)
    ]
    if not recovered:
        return 0
    cleared = session.execute(
        update(alerts)
        .where(alerts.c.id.in_(recovered), _LIVE)
        .values(status=CLEARED, cleared_at=now)
        .returning(alerts.c.id, alerts.c.sku_id, alerts.c.node_id)
    ).all()
    skus = catalog.sku_codes(session, [c.sku_id for c in cleared])
    nodes = node_codes(session, [c.node_id for c in cleared])
    events.record_many(
        session,
        [AlertCleared(alert_id=c.id, sku=skus[c.sku_id], node=nodes[c.node_id]) for c in cleared],
    )
    return len(cleared)


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    node: str | None = None,
    sku: str | None = None,
    nodes: Collection[str] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[AlertOut]:
    """Alerts newest first, filtered by status (`live`: open or acknowledged), node, SKU and a
    set of nodes (a user's data scope; None for all)."""
    stmt = (
        _filtered(session, select(alerts), status=status, node=node, sku=sku, nodes=nodes)
        .order_by(alerts.c.raised_at.desc(), alerts.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return _outs(session, session.execute(stmt).all())


def count_alerts(
    session: Session,
    *,
    status: str | None = None,
    node: str | None = None,
    sku: str | None = None,
    nodes: Collection[str] | None = None,
) -> int:
    """How many alerts `list_alerts` pages through with the same filters."""
    stmt = select(func.count()).select_from(alerts)
    stmt = _filtered(session, stmt, status=status, node=node, sku=sku, nodes=nodes)
    return int(session.scalar(stmt) or 0)


def _filtered(
    session: Session,
    stmt: Select[Any],
    *,
    status: str | None,
    node: str | None,
    sku: str | None,
    nodes: Collection[str] | None,
) -> Select[Any]:
    if status == "live":
        stmt = stmt.where(_LIVE)
    elif status:
        stmt = stmt.where(alerts.c.status == status)
    if node:
        stmt = stmt.where(alerts.c.node_id == node_id(session, node))
    if sku:
        stmt = stmt.where(alerts.c.sku_id == catalog.sku_id(session, sku))
    if nodes is not None:
        ids = list(find_node_ids(session, list(nodes)).values())
        stmt = stmt.where(alerts.c.node_id.in_(ids))
    return stmt


def get_alert(session: Session, alert_id: int) -> AlertOut:
    row = session.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        raise UnknownAlert(f"no alert with id {alert_id}", id=alert_id)
    return _outs(session, [row])[0]


def acknowledge_alert(
    session: Session, alert_id: int, ack_in: AcknowledgeIn, *, clock: Clock | None = None
) -> AlertOut:
    """Someone has seen the alert. Acknowledging twice is harmless; a cleared alert is refused."""
    now = (clock or SystemClock()).now()
    done = session.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status == OPEN)
        .values(
            status=ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=ack_in.by, note=ack_in.note
        )
    ).rowcount  # type: ignore[attr-defined]
    alert = get_alert(session, alert_id)
    if done:
        events.record(session, AlertAcknowledged(alert_id=alert_id, by=ack_in.by), clock=clock)
    elif alert.status == CLEARED:
        raise IllegalTransition(
            f"alert {alert_id} is cleared; nothing to acknowledge",
            status=alert.status,
            action="acknowledge",
            allowed=[],
        )
    return alert


def _pair(session: Session, sku: str, node: str) -> tuple[int, int] | None:
    sku_id = catalog.find_sku_ids(session, [sku]).get(sku)
    nid = find_node_ids(session, [node]).get(node)
    return None if sku_id is None or nid is None else (sku_id, nid)


def _live_id(session: Session, sku_id: int, nid: int) -> int | None:
    return session.scalar(
        select(alerts.c.id).where(
            alerts.c.kind == LOW_STOCK, alerts.c.sku_id == sku_id, alerts.c.node_id == nid, _LIVE
        )
    )


def _outs(session: Session, rows: Any) -> list[AlertOut]:
    rows = list(rows)
    skus = catalog.sku_codes(session, [r.sku_id for r in rows])
    nodes = node_codes(session, [r.node_id for r in rows])
    return [
        AlertOut(
            id=r.id,
            kind=r.kind,
            sku=skus[r.sku_id],
            node=nodes[r.node_id],
            status=r.status,
            atp=r.atp,
            threshold=r.threshold,
            nearby_surplus=[NearbySurplus.model_validate(n) for n in r.nearby_surplus or []],
            raised_at=r.raised_at,
            acknowledged_at=r.acknowledged_at,
            acknowledged_by=r.acknowledged_by,
            note=r.note,
            cleared_at=r.cleared_at,
        )
        for r in rows
    ]
