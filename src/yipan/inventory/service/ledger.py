"""Reading stock: levels, the movement ledger, and the reconciliation of one against the other."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.inventory.models import Movement, Node, StockLevel
from yipan.inventory.schemas import (
    DriftRow,
    LedgerPage,
    MovementOut,
    ReconcileReport,
    StockLevelOut,
)
from yipan.inventory.service.levels import level_out
from yipan.inventory.service.nodes import node_codes, node_id


def stock_level(session: Session, *, sku: str, node: str) -> StockLevelOut:
    sku_id = catalog.sku_id(session, sku)
    nid = node_id(session, node)
    level = session.execute(
        select(StockLevel).where(StockLevel.sku_id == sku_id, StockLevel.node_id == nid)
    ).scalar_one_or_none()
    if level is None:
        return StockLevelOut(
            sku=sku, node=node, on_hand=0, reserved=0, safety_stock=0, reorder_point=0, atp=0
        )
    return level_out(sku, node, level)


def levels_at_node(
    session: Session, node: str, *, offset: int = 0, limit: int = 100
) -> list[StockLevelOut]:
    nid = node_id(session, node)
    rows = session.scalars(
        select(StockLevel)
        .where(StockLevel.node_id == nid)
        .order_by(StockLevel.sku_id)
        .offset(offset)
        .limit(limit)
    ).all()
    codes = catalog.sku_codes(session, [r.sku_id for r in rows])
    return [level_out(codes[r.sku_id], node, r) for r in rows]


def levels_of_sku(session: Session, sku: str) -> list[StockLevelOut]:
    """The SKU's stock level at every node that has one (held now or ever), by node code."""
    sku_id = catalog.sku_id(session, sku)
    rows = session.execute(
        select(StockLevel, Node.code)
        .join(Node, Node.id == StockLevel.node_id)
        .where(StockLevel.sku_id == sku_id)
        .order_by(Node.code)
    ).all()
    return [level_out(sku, code, level) for level, code in rows]


def ledger(
    session: Session, *, sku: str, node: str, before_id: int | None = None, limit: int = 100
) -> LedgerPage:
    """Movements of a SKU at a node, newest first, a page at a time (keyset on the id)."""
    sku_id = catalog.sku_id(session, sku)
    nid = node_id(session, node)
    stmt = (
        select(Movement)
        .where(Movement.sku_id == sku_id, Movement.node_id == nid)
        .order_by(Movement.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        stmt = stmt.where(Movement.id < before_id)
    rows = session.scalars(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    on_hand = session.scalar(
        select(StockLevel.on_hand).where(StockLevel.sku_id == sku_id, StockLevel.node_id == nid)
    )
    return LedgerPage(
        items=[
            MovementOut(
                id=m.id,
                sku=sku,
                node=node,
                kind=m.kind,
                quantity=m.quantity,
                reason=m.reason,
                reference=m.reference,
                channel=m.channel,
                occurred_at=m.occurred_at,
                recorded_at=m.recorded_at,
            )
            for m in rows
        ],
        on_hand=on_hand or 0,
        next_before_id=rows[-1].id if more else None,
    )


def reconcile(session: Session) -> ReconcileReport:
    """Check that every level's `on_hand` equals the sum of its ledger, and report any drift."""
    sums = (
        select(Movement.sku_id, Movement.node_id, func.sum(Movement.quantity).label("total"))
        .group_by(Movement.sku_id, Movement.node_id)
        .subquery()
    )
    checked = session.scalar(select(func.count()).select_from(StockLevel)) or 0
    level_drift = session.execute(
        select(
            StockLevel.sku_id,
            StockLevel.node_id,
            StockLevel.on_hand,
            func.coalesce(sums.c.total, 0),
        )
        .outerjoin(
            sums, (sums.c.sku_id == StockLevel.sku_id) & (sums.c.node_id == StockLevel.node_id)
        )
        .where(StockLevel.on_hand != func.coalesce(sums.c.total, 0))
    ).all()
    orphan = session.execute(
        select(sums.c.sku_id, sums.c.node_id, sums.c.total)
        .outerjoin(
            StockLevel,
            (sums.c.sku_id == StockLevel.sku_id) & (sums.c.node_id == StockLevel.node_id),
        )
        .where(StockLevel.id.is_(None), sums.c.total != 0)
    ).all()
    found = [(s, n, on_hand, int(total)) for s, n, on_hand, total in level_drift]
    found += [(s, n, 0, int(total)) for s, n, total in orphan]
    skus = catalog.sku_codes(session, [f[0] for f in found])
    nodes = node_codes(session, [f[1] for f in found])
    return ReconcileReport(
        rows_checked=checked,
        drifted=[
            DriftRow(
                sku=skus[s], node=nodes[n], on_hand=on_hand, ledger_sum=total, drift=on_hand - total
            )
            for s, n, on_hand, total in found
        ],
    )


def node_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Node)) or 0
