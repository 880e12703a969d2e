"""Replenishment: the policy maths (with hypothesis), suggestions from the stored forecasts
grouped by supplier and by source DC, reorder points set through inventory so low-stock alerts
use them, and the API."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from tests.access import api_key, bearer, sign_in
from tests.insights import test_forecast_service as world
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.catalog import service as catalog
from yipan.insights.domain import replenishment as rp
from yipan.insights.service import forecasts
from yipan.insights.service import replenishment as rs
from yipan.inventory.models import StockLevel
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import alerts, movements, nodes
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import unit_of_work

# --- the policy ----------------------------------------------------------------------------------


@given(
    mean=st.floats(0, 500),
    sd=st.one_of(st.none(), st.floats(0, 200)),
    lead=st.floats(0, 60),
    review=st.floats(0, 30),
    level=st.floats(0.5, 0.9999),
    on_hand=st.integers(0, 10_000),
    reserved=st.integers(0, 10_000),
    inbound=st.integers(0, 10_000),
    pack=st.integers(1, 48),
)
def test_order_up_to_covers_the_reorder_point_and_an_order_reaches_it(
    mean: float,
    sd: float | None,
    lead: float,
    review: float,
    level: float,
    on_hand: int,
    reserved: int,
    inbound: int,
    pack: int,
) -> None:
    rule = rp.policy(mean, sd, lead_days=lead, review_days=review, service_level=level)
    assert 0 <= rule.safety_stock <= rule.reorder_point <= rule.order_up_to
    assert rule.reorder_point >= math.floor(mean * lead)
    pos = rp.position(on_hand, min(reserved, on_hand), inbound)
    qty = rp.order_quantity(pos, rule, pack)
    assert qty >= 0
    assert qty % pack == 0
    if pos > rule.reorder_point or rule.order_up_to == 0:
        assert qty == 0
    else:
        assert rule.order_up_to <= pos + qty < rule.order_up_to + pack


@given(low=st.floats(0.5, 0.99), step=st.floats(0.001, 0.009))
def test_a_higher_service_level_never_keeps_less(low: float, step: float) -> None:
    def keep(level: float) -> rp.Policy:
        return rp.policy(10, 4, lead_days=7, review_days=7, service_level=level)

    assert keep(low + step).safety_stock >= keep(low).safety_stock


def test_the_textbook_case() -> None:
    # μ = 10/day, σ = 4, L = 9 days, R = 7, 95 %: SS = ⌈1.645 · 4 · 3⌉ = 20.
    rule = rp.policy(10, 4, lead_days=9, review_days=7, service_level=0.95)
    assert rule == rp.Policy(safety_stock=20, reorder_point=110, order_up_to=180)
    assert rp.order_quantity(111, rule) == 0
    assert rp.order_quantity(110, rule) == 70
    assert rp.order_quantity(110, rule, pack_size=12) == 72
    # No backtest: Poisson σ = √μ.
    assert rp.policy(9, None, lead_days=4, review_days=0, service_level=0.5).safety_stock == 0
    assert rp.policy(9, None, lead_days=4, review_days=0, service_level=0.95).safety_stock == 10
    with pytest.raises(ValueError):
        rp.z_value(0.3)


# --- from the stored forecasts -------------------------------------------------------------------


@pytest.fixture
def forecast_shop(engine: Engine) -> Engine:
    world.build(engine)
    with unit_of_work(engine) as session:
        forecasts.run_forecast(
            session, settings=world.SETTINGS, clock=FixedClock(world.NOW), horizon=14
        )
    return engine


def _sell_down(engine: Engine, sku: str, node: str, keep: int) -> None:
    """An adjustment that leaves `keep` units on hand."""
    with unit_of_work(engine) as session:
        on_hand = session.scalar(
            select(StockLevel.on_hand).where(
                StockLevel.sku_id == catalog.sku_id(session, sku),
                StockLevel.node_id == nodes.node_id(session, node),
            )
        )
        assert on_hand is not None
        movements.record_movement(
            session, MovementIn(sku=sku, node=node, kind="adjustment", quantity=keep - on_hand)
        )


def test_suggestions_order_up_to_the_level_grouped_by_supplier_and_dc(
    forecast_shop: Engine,
) -> None:
    _sell_down(forecast_shop, "TEE", "ST-1", keep=2)
    _sell_down(forecast_shop, "CAP", "WH-1", keep=0)
    with unit_of_work(forecast_shop, readonly=True) as session:
        plan = rs.suggest(session, service_level=0.95)
    by_pair = {(x.sku, x.node): x for x in plan.lines}
    assert set(by_pair) == {("TEE", "ST-1"), ("TEE", "ST-2"), ("CAP", "WH-1")}
    tee = by_pair[("TEE", "ST-1")]
    assert (tee.kind, tee.source, tee.lead_days) == (rs.REPLENISHMENT, "DC-1", 3.0)
    assert tee.position == 2
    assert tee.reorder_point > 2
    assert tee.quantity == tee.order_up_to - 2
    assert tee.reorder_point >= math.ceil(tee.daily_mean * 3) + tee.safety_stock - 1
    assert by_pair[("TEE", "ST-2")].quantity == 0  # well stocked
    cap = by_pair[("CAP", "WH-1")]
    assert (cap.kind, cap.source, cap.lead_days) == (rs.PURCHASE, rs.UNASSIGNED, 14.0)
    assert cap.quantity == cap.order_up_to > 0
    assert [(o.source, o.units) for o in plan.replenishment_orders] == [("DC-1", tee.quantity)]
    assert [(o.source, o.units) for o in plan.purchase_orders] == [(rs.UNASSIGNED, cap.quantity)]
    with pytest.raises(rs.InvalidServiceLevel), unit_of_work(forecast_shop) as session:
        rs.suggest(session, service_level=0.2)


def test_reorder_points_are_set_and_low_stock_alerts_use_them(forecast_shop: Engine) -> None:
    with unit_of_work(forecast_shop) as session:
        changes = rs.apply_reorder_points(session, service_level=0.95)
    assert {(c.sku, c.node) for c in changes} == {("TEE", "ST-1"), ("TEE", "ST-2"), ("CAP", "WH-1")}
    with unit_of_work(forecast_shop) as session:
        assert rs.apply_reorder_points(session, service_level=0.95) == []  # already set
    rop = next(c.reorder_point for c in changes if c.node == "ST-1")
    _sell_down(forecast_shop, "TEE", "ST-1", keep=rop - 1)
    with unit_of_work(forecast_shop) as session:
        alert = alerts.raise_low_stock_alert(session, sku="TEE", node="ST-1")
    assert alert is not None
    assert alert.threshold == rop
    assert alert.atp == rop - 1


# --- over HTTP (the API forecasts at the real now) -----------------------------------------


@pytest.fixture
def client(engine: Engine) -> TestClient:
    world.build(engine, now=datetime.now(UTC))
    with unit_of_work(engine) as session:
        forecasts.run_forecast(session, settings=world.SETTINGS, horizon=14)
    return sign_in(TestClient(create_app(engine, background=False)))


def test_replenishment_over_http(client: TestClient) -> None:
    url = "/api/v1/insights/replenishment"
    body = client.get(url, params={"service_level": 0.9}).json()
    assert body["service_level"] == 0.9
    assert body["line_count"] == 3
    assert client.get(url, params={"service_level": 1.5}).status_code == 422
    assert client.get(url, params={"sku": "NOPE"}).status_code == 404
    engine = client.app.state.engine  # type: ignore[attr-defined]
    guide = bearer(api_key(engine, Role.STORE_GUIDE, scope_kind="store", scope_value="ST-1"))
    seen = client.get(url, headers=guide).json()
    assert [x["node"] for x in seen["lines"]] == ["ST-1"]
    assert client.post(f"{url}/reorder-points", json={}, headers=guide).status_code == 403
    applied = client.post(f"{url}/reorder-points", json={"skus": ["CAP"]})
    assert applied.status_code == 200, applied.text
    assert [(c["sku"], c["node"]) for c in applied.json()["changes"]] == [("CAP", "WH-1")]
