"""Transfer plans from the database: demand from the ledger, scope, and applying moves once."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.insights import rebalance_world as world
from yipan.catalog import service as catalog
from yipan.catalog.errors import UnknownSku
from yipan.insights.domain.rebalance import Rules, SourceChoice, Unfilled
from yipan.insights.service import transfer_plans as tp
from yipan.inventory.errors import InsufficientStock
from yipan.inventory.models import Transfer
from yipan.inventory.service import ledger, nodes
from yipan.kernel.db import unit_of_work


@pytest.fixture
def chain(engine: Engine) -> Engine:
    world.build(engine)
    return engine


def _plan(engine: Engine, rules: Rules | None = None, **kw: object) -> tp.TransferPlan:
    with unit_of_work(engine, readonly=True) as session:
        return tp.plan_transfers(session, rules, clock=world.CLOCK, **kw)  # type: ignore[arg-type]


def _moves(plan: tp.TransferPlan) -> set[tuple[str, str, str, int]]:
    return {(m.sku, m.source, m.destination, m.quantity) for m in plan.moves}


def test_the_warehouse_300_km_away_fills_the_nanjing_stores_out_of_the_fast_seller(
    chain: Engine,
) -> None:
    plan = _plan(chain)
    assert _moves(plan) == {
        ("TEE", "WH-LY", "ST-NJ-1", 14),
        ("TEE", "WH-LY", "ST-NJ-2", 6),
        ("CAP", "WH-LY", "ST-NJ-2", 4),
    }
    to_nj1 = next(m for m in plan.moves if m.destination == "ST-NJ-1")
    assert 300 <= to_nj1.distance_km <= 400
    assert (to_nj1.destination_cover_before, to_nj1.destination_cover_after) == (0.0, 14.0)
    assert (to_nj1.source_before, to_nj1.source_keeps) == (644, 120)
    assert to_nj1.choice is SourceChoice.ONLY_IN_REACH
    assert f"{to_nj1.distance_km:g} km" in to_nj1.explanation
    assert plan.shortfalls == ()
    assert (plan.skus_short, plan.skus_planned, plan.units_short, plan.units_moved) == (
        2,
        2,
        24,
        24,
    )


def test_demand_is_the_last_28_days_of_sales_net_of_returns(chain: Engine) -> None:
    with unit_of_work(chain, readonly=True) as session:
        ids = catalog.sku_ids(session, ["TEE"])
        nodes_ = nodes.node_ids(session, ["WH-LY", "ST-NJ-1", "ST-NJ-2", "ST-SH-1"])
        demand = tp.LedgerDemand().daily_demand(session, sku_ids=None, now=world.NOW)
    per_pair = dict(
        zip(
            zip(demand.sku_ids.tolist(), demand.node_ids.tolist(), strict=True),
            demand.units.tolist(),
            strict=True,
        )
    )
    tee = ids["TEE"]
    by_node = {code: per_pair.get((tee, nid), 0.0) for code, nid in nodes_.items()}
    # ST-NJ-1's 12 sold 40 days ago do not count; ST-NJ-2's return does.
    assert by_node == {"WH-LY": 2.0, "ST-NJ-1": 1.0, "ST-NJ-2": 0.5, "ST-SH-1": 0.5}


def test_a_far_warehouse_is_out_of_reach_under_a_shorter_maximum_distance(chain: Engine) -> None:
    plan = _plan(chain, Rules(max_distance_km=200))
    assert plan.moves == ()
    assert {(s.sku, s.node, s.unfilled, s.reason) for s in plan.shortfalls} == {
        ("TEE", "ST-NJ-1", 14, Unfilled.NONE_IN_REACH),
        ("TEE", "ST-NJ-2", 6, Unfilled.NONE_IN_REACH),
        ("CAP", "ST-NJ-2", 4, Unfilled.NONE_IN_REACH),
    }


def test_a_store_sees_the_moves_into_its_store_only(chain: Engine) -> None:
    plan = _plan(chain, visible=["ST-NJ-2"])
    assert _moves(plan) == {("TEE", "WH-LY", "ST-NJ-2", 6), ("CAP", "WH-LY", "ST-NJ-2", 4)}
    # The totals still count the whole chain's plan of those SKUs.
    assert plan.units_moved == 24


def test_a_province_keeps_the_moves_touching_its_nodes_even_from_across_its_border(
    chain: Engine,
) -> None:
    assert len(_plan(chain, province=world.JIANGSU).moves) == 3
    assert len(_plan(chain, province=world.SHANDONG).moves) == 3
    shanghai = _plan(chain, province=world.SHANGHAI)
    assert shanghai.moves == ()
    assert shanghai.skus_planned == 0


def test_a_sku_list_plans_those_skus_and_an_unknown_sku_is_refused(chain: Engine) -> None:
    assert {m.sku for m in _plan(chain, skus=["CAP"]).moves} == {"CAP"}
    with pytest.raises(UnknownSku):
        _plan(chain, skus=["NOPE"])


class _Forecast:
    """A stand-in forecast: 3 a day of TEE at ST-NJ-2, nothing anywhere else."""

    name = "forecast"

    def daily_demand(
        self, session: Session, *, sku_ids: Collection[int] | None, now: datetime
    ) -> tp.DailyDemand:
        sku = catalog.sku_id(session, "TEE")
        return tp.DailyDemand.of({(sku, nodes.node_id(session, "ST-NJ-2")): 3.0})


def test_a_forecast_can_replace_the_ledger_demand(chain: Engine) -> None:
    plan = _plan(chain, demand=_Forecast(), skus=["TEE"])
    # ST-NJ-2 now needs 14 days × 3 = 42 (has 1); ST-NJ-1 sells nothing, so it is short only of
    # its reorder point (6); nor does ST-SH-1, whose 26 above its reorder point are surplus now
    # and nearer to Nanjing than Linyi.
    assert _moves(plan) == {
        ("TEE", "ST-SH-1", "ST-NJ-1", 6),
        ("TEE", "ST-SH-1", "ST-NJ-2", 20),
        ("TEE", "WH-LY", "ST-NJ-2", 21),
    }
    assert plan.demand == "forecast"


def test_the_same_state_gives_the_same_plan_id_and_bases(chain: Engine) -> None:
    first, again = _plan(chain), _plan(chain)
    assert first.id == again.id
    assert first.bases == again.bases
    assert _plan(chain, Rules(deficit_days=10)).bases != first.bases
    # A store's view of the same plan: its moves keep their basis, so they become the same
    # transfers whoever applies them.
    store = _plan(chain, visible=["ST-NJ-2"])
    assert store.bases["TEE"] == first.bases["TEE"]


def _planned(plan: tp.TransferPlan) -> list[tp.PlannedMove]:
    return [
        tp.PlannedMove(plan.bases[m.sku], m.sku, m.source, m.destination, m.quantity)
        for m in plan.moves
    ]


def test_applying_a_plan_twice_requests_each_transfer_once(chain: Engine) -> None:
    plan = _plan(chain)
    chosen = _planned(plan)
    with unit_of_work(chain) as session:
        made = tp.apply_plan(session, chosen, requested_by="planner", clock=world.CLOCK)
    with unit_of_work(chain) as session:
        again = tp.apply_plan(session, chosen, requested_by="planner", clock=world.CLOCK)
        count = session.scalar(select(func.count()).select_from(Transfer))
    assert [t.code for t in made] == [t.code for t in again]
    assert count == 3
    assert all(t.code.startswith("RB-") and t.status == "requested" for t in made)
    assert {(t.source, t.destination, t.lines[0].sku, t.lines[0].requested) for t in made} == {
        (s, d, sku, q) for sku, s, d, q in _moves(plan)
    }
    with unit_of_work(chain, readonly=True) as session:
        # The goods are held at the warehouse at once.
        assert ledger.stock_level(session, sku="TEE", node="WH-LY").reserved == 20


def test_once_applied_the_next_plan_counts_the_goods_on_their_way(chain: Engine) -> None:
    plan = _plan(chain)
    with unit_of_work(chain) as session:
        tp.apply_plan(session, _planned(plan), requested_by="planner", clock=world.CLOCK)
    after = _plan(chain)
    assert after.moves == ()
    assert after.skus_planned == 0
    assert after.id != plan.id


def test_a_move_the_source_can_no_longer_cover_is_refused_and_nothing_is_requested(
    chain: Engine,
) -> None:
    plan = _plan(chain)
    chosen = _planned(plan)
    too_much = [*chosen[:1], tp.PlannedMove(chosen[0].basis, "TEE", "WH-LY", "ST-SH-1", 5000)]
    with pytest.raises(InsufficientStock), unit_of_work(chain) as session:
        tp.apply_plan(session, too_much, requested_by="planner", clock=world.CLOCK)
    with unit_of_work(chain, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Transfer)) == 0
