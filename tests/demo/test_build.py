"""Building the demo into a database: through the ledger, deterministic, and only once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests import factories, support
from yipan.catalog import service as catalog
from yipan.demo import build_demo, demo_nodes, reset_database
from yipan.demo.build import DemoSummary
from yipan.demo.errors import DemoDataConflict, InvalidDemoScale
from yipan.events import service as events
from yipan.inventory.domain import haversine_km
from yipan.inventory.schemas import StockLevelOut
from yipan.inventory.service import ledger, nodes
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work

SCALE = 0.03  # 60 SKUs, 6 stores and every warehouse and DC: about a thousand levels


def _snapshot(engine: Engine, scale: float = SCALE, seed: int = 7) -> list[StockLevelOut]:
    with unit_of_work(engine, readonly=True) as session:
        return [
            level
            for node in demo_nodes(seed, scale=scale)
            for level in ledger.levels_at_node(session, node.code, limit=1000)
        ]


def test_the_demo_goes_through_the_ledger_and_tells_the_skew_story(engine: Engine) -> None:
    summary = build_demo(engine, seed=7, scale=SCALE, clock=FakeClock())

    assert summary.built
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
        assert report.drifted == []
        assert report.rows_checked == summary.stock_levels
        assert ledger.node_count(session) == summary.node_count == len(demo_nodes(7, scale=SCALE))
        assert catalog.list_skus(session, limit=1).total == summary.skus

        skew = summary.skew
        warehouse = nodes.get_node(session, skew.warehouse)
        held = ledger.stock_level(session, sku=skew.sku, node=skew.warehouse)
        assert held.on_hand == skew.warehouse_on_hand >= 500
        assert len(skew.out_of_stock) >= 2
        for shortage in skew.out_of_stock:
            store = nodes.get_node(session, shortage.node)
            assert store.province == "江苏省"
            assert ledger.stock_level(session, sku=skew.sku, node=store.code).on_hand == 0
            km = haversine_km(
                store.latitude, store.longitude, warehouse.latitude, warehouse.longitude
            )
            assert 200 <= km <= 400
            # Sold out through the ledger: an opening receipt, then store sales.
            moves = ledger.ledger(session, sku=skew.sku, node=store.code).items
            assert sorted(m.kind for m in moves) == ["receipt", "sale"]
            assert sum(m.quantity for m in moves) == 0


def test_sales_that_cross_a_reorder_point_record_the_alert_event(sqlite_engine: Engine) -> None:
    summary = build_demo(sqlite_engine, seed=7, scale=SCALE)

    with unit_of_work(sqlite_engine, readonly=True) as session:
        recorded = events.recent_events(session, aggregate_type="stock", limit=100_000)
    crossed = [e for e in recorded if e["name"] == "inventory.StockFellBelowThreshold"]
    policies = [e for e in recorded if e["name"] == "inventory.StockPolicyChanged"]
    assert len(crossed) == summary.threshold_crossings > 0
    assert len(policies) == summary.policies
    assert summary.low_stock >= summary.threshold_crossings


def test_a_second_run_changes_nothing_and_returns_the_first_summary(
    sqlite_engine: Engine,
) -> None:
    first = build_demo(sqlite_engine, seed=7, scale=SCALE)
    before = _snapshot(sqlite_engine)

    again = build_demo(sqlite_engine, seed=7, scale=SCALE)
    other_seed = build_demo(sqlite_engine, seed=8, scale=SCALE)

    assert not again.built
    assert again == DemoSummary.from_payload(first.as_payload())
    assert other_seed.seed == 7  # the data that is there, whatever was asked
    assert _snapshot(sqlite_engine) == before
    with unit_of_work(sqlite_engine, readonly=True) as session:
        assert ledger.reconcile(session).rows_checked == first.stock_levels


def test_the_same_seed_builds_the_same_stock_and_another_seed_differs(
    sqlite_template: Path, tmp_path: Path
) -> None:
    def build(seed: int, name: str) -> list[StockLevelOut]:
        engine = support.engine_for(support.fresh_sqlite(sqlite_template, tmp_path / name))
        try:
            build_demo(engine, seed=seed, scale=SCALE)
            return _snapshot(engine, seed=seed)
        finally:
            engine.dispose()

    first, again, other = build(7, "a.db"), build(7, "b.db"), build(8, "c.db")
    assert first == again
    assert len(first) > 500
    assert other != first


def test_demo_nodes_without_a_finished_build_are_a_conflict(sqlite_engine: Engine) -> None:
    factories.node(sqlite_engine, "WH-SD-LY-01", type="warehouse")

    with pytest.raises(DemoDataConflict):
        build_demo(sqlite_engine, scale=SCALE)


def test_reset_drops_everything_and_a_new_engine_builds_again(
    sqlite_template: Path, tmp_path: Path
) -> None:
    url = support.fresh_sqlite(sqlite_template, tmp_path / "reset.db")
    engine = support.engine_for(url)
    build_demo(engine, seed=7, scale=SCALE)
    reset_database(engine)
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.node_count(session) == 0
        assert events.recent_events(session, limit=1) == []
    engine.dispose()

    engine = support.engine_for(url)
    rebuilt = build_demo(engine, seed=8, scale=SCALE)
    assert rebuilt.built
    assert rebuilt.seed == 8
    engine.dispose()


@pytest.mark.parametrize("scale", [0, -0.5, 1.5])
def test_a_scale_outside_0_to_1_is_refused(sqlite_engine: Engine, scale: float) -> None:
    with pytest.raises(InvalidDemoScale):
        build_demo(sqlite_engine, scale=scale)
