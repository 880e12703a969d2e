"""Building the demo into a database: through the ledger, deterministic, and only once."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests import factories, support
from yipan.catalog import service as catalog
from yipan.demo import build_demo, demo_catalogue, demo_nodes, plan_stock, reset_database
from yipan.demo.build import DemoSummary
from yipan.demo.errors import DemoDataConflict, InvalidDemoScale
from yipan.events import service as events
from yipan.inventory.domain import haversine_km
from yipan.inventory.models import Movement
from yipan.inventory.schemas import StockLevelOut
from yipan.inventory.service import ledger, nodes
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.models import Member, PointsBalance, PointsEntry, SpendEntry
from yipan.members.service import review, store, tiers
from yipan.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine, Return, ReturnLine
from yipan.orders.service import queries
from yipan.promotions.models import CouponRow, PromotionRow, RedemptionEntry

SCALE = 0.03  # 60 SKUs, 6 stores and every warehouse and DC: about a thousand levels
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


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
            # Sold out through the ledger: receipts (the opening one oldest), then till sales
            # the last of which took the last unit.
            moves = ledger.ledger(session, sku=skew.sku, node=store.code, limit=1000).items
            assert {m.kind for m in moves} == {"receipt", "sale"}
            assert moves[-1].kind == "receipt"  # newest first: the opening receipt is last
            assert moves[0].kind == "sale"
            assert sum(m.quantity for m in moves) == 0


def _sum(session: Session, column: object, *where: object) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(column), 0)).where(*where)) or 0)  # type: ignore[call-overload]


def test_a_year_of_history_keeps_every_book_balanced(engine: Engine) -> None:
    summary = build_demo(engine, seed=7, scale=SCALE, clock=FakeClock(NOW))

    plan = plan_stock(7, demo_nodes(7, scale=SCALE), demo_catalogue(7, scale=SCALE), scale=SCALE)
    levels = {(x.sku, x.node): x.on_hand for x in plan.lines}
    assert {(x.sku, x.node): x.on_hand for x in _snapshot(engine)} == levels
    with unit_of_work(engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
        # Orders: every unit that left a node is a sale in the ledger, every unit taken back in
        # resellable condition a return; the rest are receipts.
        assert queries.count_orders(session) == summary.orders > 1000
        assert session.scalar(select(func.count()).select_from(Return)) == summary.returns > 0
        left = _sum(
            session,
            FulfilmentLine.quantity,
            FulfilmentLine.fulfilment_id == Fulfilment.id,
            Fulfilment.left_at.is_not(None),
        )
        assert _sum(session, Movement.quantity, Movement.kind == "sale") == -left
        back = _sum(session, ReturnLine.quantity, ReturnLine.condition == "resellable")
        assert _sum(session, Movement.quantity, Movement.kind == "return") == back
        total = _sum(session, Order.total_fen) - _sum(session, Order.shipping_fen)
        assert total == summary.sales_fen
        assert 0.55 <= summary.member_sales_share <= 0.75

        # Members: the merge joined records, and a few conflicts wait for a person.
        assert summary.members < summary.source_records
        reviews = review.list_reviews(session, limit=500)
        assert len(reviews) == summary.merge_reviews > 0

        # Points: each balance is its ledger's sum; what members hold is what the summary says.
        sums = dict(
            session.execute(
                select(PointsEntry.member_id, func.sum(PointsEntry.points)).group_by(
                    PointsEntry.member_id
                )
            ).all()
        )
        balances = dict(
            session.execute(select(PointsBalance.member_id, PointsBalance.balance)).all()
        )
        assert balances == {m: int(n) for m, n in sums.items()}
        assert sum(balances.values()) == summary.points_balance > 0
        assert summary.points_redeemed > 0

        # Spend: completed member orders add what their delivered lines paid, returns take
        # their refunds off; tiers follow from it and never sit under what spend qualifies for.
        paid = _sum(
            session,
            OrderLine.paid_fen,
            OrderLine.order_id == Order.id,
            Order.member_id.is_not(None),
            Order.state == "completed",
        )
        assert _sum(session, SpendEntry.amount_fen, SpendEntry.kind == "sale") == paid
        refunded = _sum(
            session, Return.refund_fen, Return.order_id == Order.id, Order.member_id.is_not(None)
        )
        assert _sum(session, SpendEntry.amount_fen, SpendEntry.kind == "return") == -refunded
        ladder = tiers.ladder()
        ranks = {t.code: i for i, t in enumerate(ladder.tiers)}
        held: dict[str, int] = defaultdict(int)
        for member in session.scalars(select(Member).where(Member.status == store.ACTIVE)):
            held[member.tier] += 1
            spend = tiers.rolling_spend(session, member.id, NOW)
            assert ranks[member.tier] >= ranks[ladder.qualifying(spend).code]
        assert held["silver"] > 0
        assert {t: n for t, n in held.items() if t != "normal"} == {
            t: n for t, n in summary.tiers.items() if t != "normal"
        }

        # Coupons and promotions: issued, some used, and the counters agree with the ledger.
        issued = session.scalar(select(func.count()).select_from(CouponRow))
        used = session.scalar(
            select(func.count()).select_from(CouponRow).where(CouponRow.status == "redeemed")
        )
        assert issued == summary.coupons_issued > 0
        assert used == summary.coupons_redeemed > 0
        for promotion in session.scalars(select(PromotionRow)):
            entries = _sum(
                session,
                RedemptionEntry.discount_fen,
                RedemptionEntry.promotion_id == promotion.id,
            )
            assert promotion.used_fen == entries


def test_without_history_the_stock_is_opening_receipts_and_the_plans_sales(
    sqlite_engine: Engine,
) -> None:
    summary = build_demo(sqlite_engine, seed=7, scale=SCALE, history=False)

    plan = plan_stock(7, demo_nodes(7, scale=SCALE), demo_catalogue(7, scale=SCALE), scale=SCALE)
    assert (summary.orders, summary.members) == (0, 0)
    assert summary.movements == summary.stock_levels + sum(1 for x in plan.lines if x.sold)
    assert summary.threshold_crossings == sum(1 for x in plan.lines if x.crossed) > 0
    with unit_of_work(sqlite_engine, readonly=True) as session:
        assert ledger.reconcile(session).drifted == []
        assert queries.count_orders(session) == 0


def test_sales_that_cross_a_reorder_point_record_the_alert_event(sqlite_engine: Engine) -> None:
    """Each level whose last sale took it under its reorder point (and that stayed there) raises
    one alert; only levels that are low now can have one."""
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
    with unit_of_work(sqlite_engine, readonly=True) as session:
        _entries = session.scalar(select(func.count()).select_from(PointsEntry))

    again = build_demo(sqlite_engine, seed=7, scale=SCALE)
    other_seed = build_demo(sqlite_engine, seed=8, scale=SCALE)

    assert not again.built
    assert again == DemoSummary.from_payload(first.as_payload())
    assert other_seed.seed == 7  # the data that is there, whatever was asked
    assert _snapshot(sqlite_engine) == before
    with unit_of_work(sqlite_engine, readonly=True) as session:
        assert ledger.reconcile(session).rows_checked == first.stock_levels
        assert queries.count_orders(session) == first.orders
        assert session.scalar(select(func.count()).select_from(PointsEntry)) == _entries
        active = select(func.count()).select_from(Member).where(Member.status == store.ACTIVE)
        assert session.scalar(active) == first.members


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
