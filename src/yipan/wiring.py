"""Composition root: which handlers hear which events, and which background jobs run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.events.service import HandlerRegistry, InProcessRelay
from yipan.events.worker import OutboxWorker
from yipan.insights.service import forecasts
from yipan.insights.service import tags as member_tags
from yipan.inventory.service import alerts, reservations
from yipan.kernel.clock import SystemClock
from yipan.kernel.config import Settings
from yipan.kernel.db import unit_of_work
from yipan.kernel.periodic import PeriodicJob
from yipan.members.service import points, tiers
from yipan.orders.service import checkout, lifecycle, returns


def event_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register("inventory.StockFellBelowThreshold", alerts.on_stock_fell_below)
    for name in (
        "inventory.StockMoved",
        "inventory.ReservationReleased",
        "inventory.StockPolicyChanged",
    ):
        registry.register(name, alerts.on_stock_may_have_risen)
    registry.register("orders.OrderCompleted", points.on_order_completed)
    registry.register("orders.OrderReturned", points.on_order_returned)
    registry.register("members.MembersMerged", points.on_members_merged)
    # After points: the sale that crosses a threshold earns at the tier it was made at.
    registry.register("orders.OrderCompleted", tiers.on_order_completed)
    registry.register("orders.OrderReturned", tiers.on_order_returned)
    registry.register("members.MembersMerged", tiers.on_members_merged)
    # Member tags (insights) follow each sale, return, merge, un-merge and erasure.
    for name in ("orders.OrderCompleted", "orders.OrderReturned"):
        registry.register(name, member_tags.on_order_changed)
    for name in ("members.MembersMerged", "members.MemberUnmerged", "members.MemberErased"):
        registry.register(name, member_tags.on_members_changed)
    return registry


_ORDER_TENDER = points.OrderTender()


def compose() -> None:
    """What contexts ask of each other in one transaction where the lower cannot import the
    higher: a return settles the sale's points before it tells the till what to pay back, and
    an order of Yipan's own channels may be paid partly with points."""
    returns.settle_points_with(points.settle_return)
    checkout.take_points_with(_ORDER_TENDER)


def relay() -> InProcessRelay:
    """Where this deployment's events go: the in-process handlers of `event_registry`. A relay to
    an external bus (which wants every event) would be chosen here, for every process alike."""
    return InProcessRelay(event_registry())


def route_events() -> None:
    """For a process of the deployment (API server, worker, CLI command): events that `relay`
    does not want are recorded as delivered (see `yipan.events.service`)."""
    events.deliver_through(relay())


def sweep_expired_reservations(engine: Engine) -> int:
    released = 0
    while True:
        with unit_of_work(engine) as session:
            n = reservations.release_expired(session, limit=500)
        released += n
        if n < 500:
            return released


def sweep_recovered_alerts(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return alerts.clear_recovered_alerts(session)


def sweep_expired_pickups(engine: Engine, hold_days: int) -> int:
    expired = 0
    while True:
        with unit_of_work(engine) as session:
            n = lifecycle.expire_pickups(session, hold_days=hold_days, limit=200)
        expired += n
        if n < 200:
            return expired


def _batches_due(engine: Engine, batch: Callable[[Session, datetime, int], int]) -> int:
    """Run `batch` (members due at one instant, 200 a transaction) until a batch comes up short."""
    now = SystemClock().now()
    done = 0
    while True:
        with unit_of_work(engine) as session:
            n = batch(session, now, 200)
        done += n
        if n < 200:
            return done


def sweep_expired_points(engine: Engine) -> int:
    return _batches_due(engine, lambda s, now, limit: points.expire_due(s, now, limit=limit))


def sweep_tier_reviews(engine: Engine) -> int:
    return _batches_due(engine, lambda s, now, limit: tiers.review_due(s, now, limit=limit))


def run_scheduled_forecast(engine: Engine, every_hours: float) -> int:
    """The scheduled demand forecast; how many series it stored (0 when nothing was sold, or
    when another process runs it or ran it lately)."""
    with unit_of_work(engine) as session:
        if not forecasts.scheduled_run_due(session, every_hours):
            return 0
        try:
            return forecasts.run_forecast(session, created_by="scheduler").series
        except forecasts.NoSalesHistory:
            return 0


def check_settings() -> None:
    """Refuse to start on settings that would fail later, at the first request needing them."""
    tiers.ladder()
    points.default_policy()


class Background:
    """The outbox worker and the sweepers that an API process (or `yipan worker`) runs."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.outbox = OutboxWorker(
            engine,
            relay(),
            poll_seconds=settings.outbox_poll_seconds,
            gather_seconds=settings.outbox_gather_seconds,
            max_attempts=settings.outbox_max_attempts,
        )
        self.sweeper = PeriodicJob(
            "reservation-sweeper", 30.0, lambda: sweep_expired_reservations(engine)
        )
        self.alert_sweeper = PeriodicJob(
            "alert-sweeper", 60.0, lambda: sweep_recovered_alerts(engine)
        )

        self.pickup_sweeper = PeriodicJob(
            "pickup-expiry", 300.0, lambda: sweep_expired_pickups(engine, settings.pickup_hold_days)
        )
        # Lots expire at month ends; an hourly look costs one grouped query when nothing is due.
        self.points_sweeper = PeriodicJob(
            "points-expiry", 3600.0, lambda: sweep_expired_points(engine)
        )
        # Tier years end on members' own anniversaries; an hourly look is one query.
        self.tier_reviewer = PeriodicJob("tier-review", 3600.0, lambda: sweep_tier_reviews(engine))
        # Demand forecasts, daily by default (YIPAN_FORECAST_EVERY_HOURS; 0 switches them off).
        every = forecasts.ForecastSettings().every_hours
        self.forecaster = (
            PeriodicJob(
                "demand-forecast", every * 3600, lambda: run_scheduled_forecast(engine, every)
            )
            if every > 0
            else None
        )

    def start(self) -> None:
        self.outbox.start()
        self.sweeper.start()
        self.alert_sweeper.start()
        self.pickup_sweeper.start()
        self.points_sweeper.start()
        self.tier_reviewer.start()
        if self.forecaster:
            self.forecaster.start()

    def stop(self) -> None:
        if self.forecaster:
            self.forecaster.stop()
        self.tier_reviewer.stop()
        self.points_sweeper.stop()
        self.pickup_sweeper.stop()
        self.alert_sweeper.stop()
        self.sweeper.stop()
        self.outbox.stop()
