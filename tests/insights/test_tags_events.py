"""Tags refreshed after each order: the handlers of `orders.OrderCompleted`, `orders.OrderReturned`
and `members.MembersMerged` as the outbox delivers them (through the real registry, beside the
points and tier handlers), in the small Shanghai–Beijing world of the order tests."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from tests.insights import shop
from tests.insights import test_member_value_service as mv
from tests.orders import world
from tests.orders.world import BEIJING, line, order
from yipan.events.service import DeliveryReport, InProcessRelay, deliver_pending
from yipan.insights.domain.tags import TagKind
from yipan.insights.models.tags import MemberTag, TagBaseline
from yipan.insights.service import tags as service
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.models import PointsBalance
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.schemas import ReturnIn
from yipan.orders.service import returns
from yipan.wiring import event_registry

PHONE_A = IdentityIn(kind=IdentityKind.PHONE, value="13811110001")
PHONE_B = IdentityIn(kind=IdentityKind.PHONE, value="13811110002")


def deliver(engine: Engine) -> DeliveryReport:
    report = deliver_pending(engine, InProcessRelay(event_registry()))
    assert report.failed == 0
    assert report.dead == 0
    return report


def tags_of(engine: Engine, member: str) -> service.MemberTags:
    with unit_of_work(engine, readonly=True) as session:
        return service.tags_of(session, member)


def first(found: service.MemberTags, kind: TagKind) -> str | None:
    return found.first(kind)


def test_tags_follow_each_sale_return_and_merge(engine: Engine) -> None:
    world.build(engine)
    a = mv.new_member(engine, "a", PHONE_A)
    b = mv.new_member(engine, "b", PHONE_B)
    tee = [(world.TEE, 1, 9900)]
    mv.sell(engine, [mv.receipt(a, mv.at(d), tee) for d in (20, 10)])
    mv.sell(engine, [mv.receipt(b, mv.at(5), tee, store="ST-SH-1")])
    assert tags_of(engine, a).tags == []  # nothing delivered yet
    deliver(engine)
    after_sales = tags_of(engine, a)
    assert first(after_sales, TagKind.CHANNEL) == "store"
    assert first(after_sales, TagKind.SCENE) == "in_store"
    assert first(after_sales, TagKind.RFM_SEGMENT) is not None
    with unit_of_work(engine, readonly=True) as session:
        # The first member's refresh made the baseline the others score against.
        assert session.scalar(select(func.count()).select_from(TagBaseline)) == 1

    clock = FakeClock(mv.NOW)
    online = shop._place(
        engine,
        clock,
        order(
            "TM-A",
            [line()],
            address=BEIJING,
            customer={"member_id": a},
            placed_at=mv.at(2).isoformat(),
        ),
    )
    shop._steps(engine, clock, online.fulfilments[0].id, *shop.SHIP_ALL)
    deliver(engine)
    bought_online = tags_of(engine, a)
    channel = bought_online.of(TagKind.CHANNEL)[0]
    assert (channel.value, channel.score) == ("omnichannel", round(1 / 3, 4))
    assert "WH-BJ" in [t.value for t in bought_online.of(TagKind.NODE)]

    back = ReturnIn.model_validate(
        {
            "order_id": online.id,
            "node": "ST-SH-1",
            "idempotency_key": "back-TM-A",
            "lines": [{"line_no": 1, "quantity": 1}],
        }
    )
    with unit_of_work(engine) as session:
        returns.take_return(session, back, clock=clock)
    deliver(engine)
    returned = tags_of(engine, a)
    assert first(returned, TagKind.CHANNEL) == "store"  # the online order was given back whole
    assert "WH-BJ" not in [t.value for t in returned.of(TagKind.NODE)]

    # One record with both phones: b goes into a (the older member).
    with unit_of_work(engine) as session:
        ingest.ingest_records(
            session,
            [SourceRecordIn(source="online_shop", record_id="ab", identities=[PHONE_A, PHONE_B])],
        )
    deliver(engine)
    merged = tags_of(engine, b)
    assert merged.member_id == a
    assert sorted(t.value for t in merged.of(TagKind.NODE)) == ["ST-SH-1", "ST-SH-3"]
    with unit_of_work(engine, readonly=True) as session:
        holders = set(session.scalars(select(MemberTag.member_id)).all())
    assert holders == {int(a[1:])}  # b's own tags went with the merge

    with unit_of_work(engine) as session:
        again = service.refresh_member(session, a)
    assert again.tags == merged.tags


def test_an_order_of_no_member_and_a_failing_refresh_hold_nothing_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.build(engine)
    a = mv.new_member(engine, "a", PHONE_A)
    mv.sell(engine, [mv.receipt("M-FROM-A-CHANNEL", mv.at(3), [(world.TEE, 1, 9900)])])

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("tags are broken")

    monkeypatch.setattr(service, "refresh_member", broken)
    mv.sell(engine, [mv.receipt(a, mv.at(2), [(world.TEE, 1, 9900)])])
    deliver(engine)  # asserts nothing failed
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(MemberTag)) == 0
        # The points handler beside it still earned.
        assert session.scalar(select(PointsBalance.balance)) == 99
