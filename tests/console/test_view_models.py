"""The console's view models over the demo, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import Engine

from yipan.console.inventory_page import Health, search_stock
from yipan.console.ledger_page import ledger_view
from yipan.demo import build_demo
from yipan.inventory.domain import alert_threshold
from yipan.inventory.service import ledger
from yipan.kernel.db import unit_of_work

SCALE = 0.03


def test_the_stock_search_agrees_with_the_levels_node_by_node(engine: Engine) -> None:
    skew = build_demo(engine, seed=7, scale=SCALE).skew

    with unit_of_work(engine, readonly=True) as session:
        search = search_stock(session, f"  {skew.sku} ", 1)
        assert search.sku is not None
        assert search.sku.code == skew.sku
        assert search.rows
        for row in search.rows:
            level = ledger.stock_level(session, sku=skew.sku, node=row.node)
            assert (row.on_hand, row.reserved, row.atp) == (
                level.on_hand,
                level.reserved,
                level.atp,
            )
            assert (row.safety_stock, row.reorder_point) == (
                level.safety_stock,
                level.reorder_point,
            )
            threshold = alert_threshold(level.reorder_point, level.safety_stock)
            assert (row.health is Health.LOW) == (0 < level.atp < threshold)
        sold_out = {s.node for s in skew.out_of_stock}
        out_on_map = {point[2] for point in search.map_points[Health.OUT]}
        assert sold_out <= out_on_map
        on_map = sum(len(points) for points in search.map_points.values())
        assert on_map == search.active_nodes


def test_the_ledger_view_pages_through_every_movement(engine: Engine) -> None:
    skew = build_demo(engine, seed=7, scale=SCALE).skew
    node = skew.out_of_stock[0].node

    with unit_of_work(engine, readonly=True) as session:
        first = ledger_view(session, skew.sku, node, None)
        assert first.notice is None
        assert first.on_hand == 0
        assert sum(m.quantity for m in first.movements) == 0  # received, then all sold
        assert first.older is None  # fewer than a page
        unknown = ledger_view(session, skew.sku, "NO-SUCH-NODE", None)
        assert unknown.notice is not None
        assert unknown.notice.status == 404
