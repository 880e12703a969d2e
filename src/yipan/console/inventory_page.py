"""The inventory page's view model: one SKU's stock at every node, a page of the table, the map.

Read through inventory's and the catalogue's services only: `atp_for_sku` (the nodes holding
the SKU, with where they are), `levels_of_sku` (each node's level with its safety stock and
reorder point) and `list_nodes` (where every active node is, for the map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.catalog.schemas import SkuOut
from yipan.console.i18n import Translate
from yipan.console.notice import Notice
from yipan.console.paging import PAGE_SIZE, Pager, pager
from yipan.inventory.domain import alert_threshold
from yipan.inventory.service import atp, ledger, nodes

MAX_SKU_LENGTH = 64
# A node holding three times what it reorders at could give stock to its short neighbours.
SURPLUS_FACTOR = 3


class Health(StrEnum):
    OUT = "out"
    LOW = "low"
    HEALTHY = "healthy"
    SURPLUS = "surplus"


HEALTH_COLOURS: dict[Health, str] = {
    Health.OUT: "#d1343e",
    Health.LOW: "#e39b0b",
    Health.HEALTHY: "#2f9e5d",
    Health.SURPLUS: "#3a6fd8",
}


def stock_health(available: int, threshold: int) -> Health:
    """Nothing to promise; under the alert threshold; plenty beyond it; or fine.

    `threshold` is the reorder point, or the safety stock when there is none (as low-stock
    alerts use it); a node without either is never low nor surplus, only out or healthy.
    """
    if available <= 0:
        return Health.OUT
    if threshold > 0 and available < threshold:
        return Health.LOW
    if threshold > 0 and available >= SURPLUS_FACTOR * threshold:
        return Health.SURPLUS
    return Health.HEALTHY


@dataclass(frozen=True)
class NodeStock:
    node: str
    name: str
    type: str
    province: str
    city: str
    on_hand: int
    reserved: int
    atp: int
    safety_stock: int
    reorder_point: int
    health: Health


@dataclass(frozen=True)
class StockSearch:
    query: str
    notice: Notice | None = None
    sku: SkuOut | None = None
    rows: list[NodeStock] = field(default_factory=list)
    pager: Pager | None = None
    held: int = 0
    active_nodes: int = 0
    total_atp: int = 0
    map_points: dict[Health, list[list[Any]]] = field(default_factory=dict)

    def chart(self, t: Translate) -> dict[str, Any]:
        """What console.js needs to draw the scatter, labels already in the visitor's language."""
        return {
            "x": t("map.longitude"),
            "y": t("map.latitude"),
            "atp": t("col.atp"),
            "series": [
                {
                    "name": t(f"health.{health}"),
                    "color": HEALTH_COLOURS[health],
                    "points": self.map_points.get(health, []),
                }
                for health in Health
            ],
        }


def search_stock(session: Session, query: str, page: int) -> StockSearch:
    code = query.strip()
    if not code:
        return StockSearch(query=code)
    if len(code) > MAX_SKU_LENGTH:
        return StockSearch(query=code, notice=Notice("inventory.sku_too_long", status=422))
    try:
        sku = catalog.get_sku(session, code)  # a code or a barcode
    except UnknownSku:
        return StockSearch(
            query=code, notice=Notice("inventory.unknown_sku", {"sku": code}, status=404)
        )
    pool = atp.atp_for_sku(session, sku.code)
    levels = {level.node: level for level in ledger.levels_of_sku(session, sku.code)}
    rows: list[NodeStock] = []
    for held in pool.nodes:
        level = levels[held.node]
        safety_stock, reorder_point = level.safety_stock, level.reorder_point
        rows.append(
            NodeStock(
                node=held.node,
                name=held.name,
                type=held.type,
                province=held.province,
                city=held.city,
                on_hand=held.on_hand,
                reserved=held.reserved,
                atp=held.atp,
                safety_stock=safety_stock,
                reorder_point=reorder_point,
                health=stock_health(held.atp, alert_threshold(reorder_point, safety_stock)),
            )
        )
    health_of = {r.node: r.health for r in rows}
    atp_of = {r.node: r.atp for r in rows}
    points: dict[Health, list[list[Any]]] = {h: [] for h in Health}
    active = nodes.list_nodes(session, active=True)
    for node in active:
        # A node that never held the SKU has nothing to promise: it shows as out of stock.
        points[health_of.get(node.code, Health.OUT)].append(
            [node.longitude, node.latitude, node.code, node.name, atp_of.get(node.code, 0)]
        )
    paging = pager(len(rows), page)
    if page > paging.pages:
        return StockSearch(
            query=code,
            sku=sku,
            notice=Notice(
                "inventory.page_past_end", {"page": page, "pages": paging.pages}, status=404
            ),
        )
    return StockSearch(
        query=code,
        sku=sku,
        rows=rows[paging.offset : paging.offset + PAGE_SIZE],
        pager=paging,
        held=len(rows),
        active_nodes=len(active),
        total_atp=pool.total_atp,
        map_points=points,
    )
