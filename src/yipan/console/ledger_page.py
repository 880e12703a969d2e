"""The ledger drill-down's view model: the movements of one SKU at one node, newest first.

Pages go by keyset (`before` = the oldest movement id shown), as inventory's ledger service
reads them, so a page stays right while new sales keep arriving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.catalog.schemas import SkuOut
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE
from yipan.inventory.errors import UnknownNode
from yipan.inventory.schemas import MovementOut, NodeOut
from yipan.inventory.service import ledger, nodes


@dataclass(frozen=True)
class LedgerView:
    sku_code: str
    node_code: str
    notice: Notice | None = None
    sku: SkuOut | None = None
    node: NodeOut | None = None
    movements: list[MovementOut] = field(default_factory=list)
    on_hand: int = 0
    before: int | None = None
    older: int | None = None


def ledger_view(session: Session, sku: str, node: str, before: int | None) -> LedgerView:
    try:
        sku_out = catalog.get_sku(session, sku)
    except UnknownSku:
        return LedgerView(sku, node, Notice("inventory.unknown_sku", {"sku": sku}, status=404))
    try:
        node_out = nodes.get_node(session, node)
    except UnknownNode:
        return LedgerView(sku, node, Notice("ledger.unknown_node", {"node": node}, status=404))
    page = ledger.ledger(session, sku=sku_out.code, node=node, before_id=before, limit=PAGE_SIZE)
    return LedgerView(
        sku_code=sku_out.code,
        node_code=node,
        sku=sku_out,
        node=node_out,
        movements=page.items,
        on_hand=page.on_hand,
        before=before,
        older=page.next_before_id,
    )
