"""The demo's skew case, planned: Nanjing stores out of the hero T-shirt get it moved to them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from yipan.demo import build_demo
from yipan.demo.build import DemoSummary
from yipan.insights.domain.rebalance import Rules
from yipan.insights.service import transfer_plans as tp
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import make_engine, unit_of_work

CLOCK = FixedClock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, DemoSummary]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rebal') / 'demo.db'}")
    try:
        yield engine, build_demo(engine, seed=7, scale=0.03, clock=CLOCK)
    finally:
        engine.dispose()


def test_the_plan_moves_the_hero_to_the_stores_that_sold_out_of_it(
    demo: tuple[Engine, DemoSummary],
) -> None:
    engine, summary = demo
    skew = summary.skew
    rules = Rules()
    with unit_of_work(engine, readonly=True) as session:
        plan = tp.plan_transfers(session, rules, skus=[skew.sku], clock=CLOCK)
    hero = [m for m in plan.moves if m.sku == skew.sku]
    short_city = {s.node for s in (*skew.out_of_stock, *skew.low)}
    for shortage in skew.out_of_stock:
        into = [m for m in hero if m.destination == shortage.node]
        assert into, f"nothing moves to {shortage.node}"
        # Filled up to its target (less what a pack or the minimum leaves), from nothing.
        assert into[0].destination_cover_before == 0.0
        assert into[-1].destination_after >= into[-1].destination_target - 1
        for move in into:
            assert move.distance_km <= rules.max_distance_km
            assert f"{move.distance_km:g} km" in move.explanation
    from_warehouse = [m for m in hero if m.source == skew.warehouse and m.destination in short_city]
    assert from_warehouse, "the warehouse sitting on the hero sends none of it to Nanjing"
    for move in from_warehouse:
        assert 300 <= move.distance_km <= 400
        assert move.source_after >= move.source_keeps


def test_a_nanjing_store_sees_its_own_moves_only(demo: tuple[Engine, DemoSummary]) -> None:
    engine, summary = demo
    store = summary.skew.out_of_stock[0].node
    with unit_of_work(engine, readonly=True) as session:
        plan = tp.plan_transfers(session, visible=[store], clock=CLOCK)
    assert plan.moves
    assert all(store in (m.source, m.destination) for m in plan.moves)
    assert all(s.node == store for s in plan.shortfalls)
