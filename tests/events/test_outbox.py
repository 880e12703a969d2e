from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.events.domain import DomainEvent, OutboxMessage, retry_delay
from yipan.events.models import OutboxEvent
from yipan.inventory.models import ChannelBuffer
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import on_commit, remove_commit_listener, unit_of_work


@dataclass(frozen=True, kw_only=True)
class ThingHappened(DomainEvent):
    name: ClassVar[str] = "test.ThingHappened"
    aggregate: ClassVar[str] = "thing"
    thing: str

    def aggregate_id(self) -> str:
        return self.thing


def emit(engine: Engine, *things: str, clock: FakeClock | None = None) -> None:
    with unit_of_work(engine) as session:
        events.record_many(session, [ThingHappened(thing=t) for t in things], clock=clock)


def statuses(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine, readonly=True) as session:
        return events.outbox_counts(session)


def test_an_event_is_kept_only_if_its_transaction_commits(engine: Engine) -> None:
    def failing_change() -> None:
        with unit_of_work(engine) as session:
            events.record(session, ThingHappened(thing="lost"))
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    emit(engine, "kept")
    with unit_of_work(engine, readonly=True) as session:
        names = session.scalars(select(OutboxEvent.aggregate_id)).all()
    assert names == ["kept"]


def test_delivery_calls_handlers_in_order_and_marks_events_delivered(engine: Engine) -> None:
    seen: list[tuple[str, str]] = []
    registry = events.HandlerRegistry()
    registry.register(ThingHappened.name, lambda _s, m: seen.append(("a", m.payload["thing"])))
    registry.register(ThingHappened.name, lambda _s, m: seen.append(("b", m.aggregate_id)))
    emit(engine, "one", "two")
    report = events.deliver_pending(engine, events.InProcessRelay(registry), batch_size=1)
    assert report.delivered == 2
    assert seen == [("a", "one"), ("b", "one"), ("a", "two"), ("b", "two")]
    assert statuses(engine) == {"delivered": 2}
    assert events.deliver_pending(engine, events.InProcessRelay(registry)).delivered == 0


def test_a_failing_handler_is_retried_with_back_off_then_parked(engine: Engine) -> None:
    clock = FakeClock()
    calls: list[int] = []

    def flaky(session: Session, message: OutboxMessage) -> None:
        # A write made by the failing handler must vanish with its failure.
        session.add(
            ChannelBuffer(channel=f"c{len(calls)}", node_type="store", mode="units", value=1)
        )
        session.flush()
        calls.append(message.attempts)
        raise ConnectionError("downstream is away")

    registry = events.HandlerRegistry()
    registry.register(ThingHappened.name, flaky)
    relay = events.InProcessRelay(registry)
    emit(engine, "x", clock=clock)
    assert events.deliver_pending(engine, relay, clock=clock, max_attempts=3).failed == 1
    assert events.deliver_pending(engine, relay, clock=clock, max_attempts=3).failed == 0
    clock.advance(seconds=retry_delay(1).total_seconds())
    assert events.deliver_pending(engine, relay, clock=clock, max_attempts=3).failed == 1
    clock.advance(seconds=retry_delay(2).total_seconds())
    assert events.deliver_pending(engine, relay, clock=clock, max_attempts=3).dead == 1
    assert calls == [0, 1, 2]
    assert statuses(engine) == {"dead": 1}
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(ChannelBuffer)) == 0
        row = session.scalars(select(OutboxEvent)).one()
        assert row.last_error == "ConnectionError: downstream is away"

    registry = events.HandlerRegistry()
    registry.register(ThingHappened.name, lambda _s, _m: None)
    with unit_of_work(engine) as session:
        assert events.retry_dead(session, clock=clock) == 1
    assert (
        events.deliver_pending(engine, events.InProcessRelay(registry), clock=clock).delivered == 1
    )


def picky(delivered: list[str]) -> events.HandlerRegistry:
    """A handler of ThingHappened that fails on the thing "bad" and notes the others."""

    def handle(_s: Session, message: OutboxMessage) -> None:
        if message.aggregate_id == "bad":
            raise ValueError("cannot handle")
        delivered.append(message.aggregate_id)

    registry = events.HandlerRegistry()
    registry.register(ThingHappened.name, handle)
    return registry


def test_one_bad_event_does_not_block_the_others(engine: Engine) -> None:
    delivered: list[str] = []
    registry = picky(delivered)
    emit(engine, "a", "bad", "b")
    report = events.deliver_pending(engine, events.InProcessRelay(registry))
    assert (report.delivered, report.failed) == (2, 1)
    assert delivered == ["a", "b"]


@dataclass(frozen=True, kw_only=True)
class NobodyListens(ThingHappened):
    name: ClassVar[str] = "test.NobodyListens"


def test_one_call_drains_batch_after_batch_heard_or_not_each_event_once(engine: Engine) -> None:
    delivered: list[str] = []
    registry = picky(delivered)
    heard = [f"t{i:02}" for i in range(7)]
    with unit_of_work(engine) as session:
        for i, thing in enumerate(heard):
            events.record(session, ThingHappened(thing=thing))
            events.record(session, NobodyListens(thing=f"n{i:02}"))
            if i == 3:
                events.record(session, ThingHappened(thing="bad"))
    report = events.deliver_pending(engine, events.InProcessRelay(registry), batch_size=3)
    assert (report.delivered, report.failed) == (14, 1)
    assert delivered == heard  # in the order they happened, none twice
    assert statuses(engine) == {"delivered": 14, "pending": 1}
    # The failed one waits for its retry time; nothing else is due.
    again = events.deliver_pending(engine, events.InProcessRelay(registry), batch_size=3)
    assert (again.delivered, again.failed) == (0, 0)


def test_retry_delay_grows_and_is_capped() -> None:
    delays = [retry_delay(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [1, 2, 4, 8]
    assert max(delays) == 300
    assert delays == sorted(delays)


@dataclass(frozen=True, kw_only=True)
class NobodyCares(ThingHappened):
    name: ClassVar[str] = "test.NobodyCares"


def test_once_the_relay_is_known_events_it_does_not_want_are_recorded_delivered(
    engine: Engine,
) -> None:
    heard: list[str] = []
    registry = events.HandlerRegistry()
    registry.register(ThingHappened.name, lambda _s, m: heard.append(m.aggregate_id))
    relay = events.InProcessRelay(registry)
    wakes: list[int] = []

    def woken() -> None:
        wakes.append(1)

    on_commit(engine, woken)
    events.deliver_through(relay)
    clock = FakeClock()
    with unit_of_work(engine) as session:  # more than a statement's worth: the bulk path too
        events.record_many(session, [NobodyCares(thing=f"n{i}") for i in range(25)], clock=clock)
    assert wakes == []  # nothing for the worker: it is not woken
    with unit_of_work(engine) as session:
        events.record_many(
            session, [NobodyCares(thing="quiet"), ThingHappened(thing="loud")], clock=clock
        )
    assert wakes == [1]
    remove_commit_listener(engine, woken)
    with unit_of_work(engine, readonly=True) as session:
        rows = session.execute(
            select(OutboxEvent.name, OutboxEvent.status, OutboxEvent.delivered_at)
        ).all()
    assert sorted({(name, status) for name, status, _ in rows}) == [
        (NobodyCares.name, "delivered"),
        (ThingHappened.name, "pending"),
    ]
    assert all(at == clock.now() for name, _, at in rows if name == NobodyCares.name)

    report = events.deliver_pending(engine, relay)
    assert (report.delivered, heard) == (1, ["loud"])
    assert statuses(engine) == {"delivered": 27}


def test_until_told_the_relay_a_process_records_every_event_pending(engine: Engine) -> None:
    emit(engine, "one")
    events.deliver_through(events.InProcessRelay(events.HandlerRegistry()))
    events.deliver_through(None)
    emit(engine, "two")
    assert statuses(engine) == {"pending": 2}
