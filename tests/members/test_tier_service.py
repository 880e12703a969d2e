"""Issue 4, "tiers": rolling 12-month net spend from every channel, upgrades at once, downgrades
only at the yearly review, spend that follows merges and un-merges. Both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from tests.members.test_points_stories import (
    buy_at_the_till,
    deliver,
    new_member,
    points_of,
    return_line,
)
from tests.members.test_points_unmerge import join
from tests.orders import world
from tests.orders.world import JEANS, TEE, line, order
from yipan.app import create_app
from yipan.events.domain import OutboxMessage
from yipan.events.models import OutboxEvent
from yipan.events.service import InProcessRelay, deliver_pending, recent_events
from yipan.kernel.clock import FakeClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.models import Merge, SpendEntry, TierChange
from yipan.members.schemas import DecisionIn, IdentityIn, SourceRecordIn
from yipan.members.service import ingest, profile, review, tiers
from yipan.wiring import event_registry

SILVER, GOLD = 100_000, 500_000
_records = count(1)


def tier_of(client: TestClient, member: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/members/{member}/tier")
    assert response.status_code == 200, response.text
    return dict(response.json())


def buy_online_and_pick_up(client: TestClient, engine: Engine, ref: str, member: str) -> Any:
    """A mini-program order of jeans and a tee, picked up at People's Square."""
    pickup = {"method": "pickup", "pickup_node": "ST-SH-1"}
    body = order(
        ref,
        [line(JEANS, price=39900, **pickup), line(TEE, **pickup)],
        channel="miniapp",
        customer={"member_id": member},
    )
    placed = client.post("/api/v1/orders", json=body)
    assert placed.status_code == 201, placed.text
    for fulfilment in placed.json()["order"]["fulfilments"]:
        ready = client.post(f"/api/v1/fulfilments/{fulfilment['id']}/mark_ready", json={})
        assert ready.status_code == 200, ready.text
        code = ready.json()["pickup_code"]
        done = client.post(f"/api/v1/fulfilments/{fulfilment['id']}/hand_over", json={"code": code})
        assert done.status_code == 200, done.text
    deliver(engine)
    sale = client.get(f"/api/v1/orders/{placed.json()['order']['id']}").json()
    assert sale["state"] == "completed"
    return sale


def spend_rows(engine: Engine) -> tuple[int, int]:
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(select(func.count()).select_from(SpendEntry)) or 0,
            session.scalar(select(func.count()).select_from(TierChange)) or 0,
        )


def test_till_and_online_spend_upgrade_at_once_a_return_waits_for_the_yearly_review(
    engine: Engine,
) -> None:
    with world.client(engine) as client:
        member = new_member(client, "card-t1", "13800138101")
        till = buy_at_the_till(client, engine, "R-T1", member)
        till_paid = sum(ln["paid_fen"] for ln in till["lines"])
        before = tier_of(client, member)
        assert (before["tier"], before["rolling_spend_fen"]) == ("normal", till_paid)
        assert before["next_tier"]["code"] == "silver"
        assert before["spend_to_next_tier_fen"] == SILVER - till_paid
        assert before["next_review_at"] is None  # the lowest tier is never reviewed

        online = buy_online_and_pick_up(client, engine, "MP-T1", member)
        online_paid = sum(ln["paid_fen"] for ln in online["lines"])
        assert till_paid < SILVER <= till_paid + online_paid
        silver = tier_of(client, member)
        assert (silver["tier"], silver["rolling_spend_fen"]) == ("silver", till_paid + online_paid)
        assert silver["benefits"] == {
            "points_multiplier_bp": 12_000,
            "member_price": True,
            "free_shipping": False,
        }
        assert silver["next_tier"]["code"] == "gold"
        assert silver["spend_to_next_tier_fen"] == GOLD - till_paid - online_paid
        (upgrade,) = silver["history"]
        assert (upgrade["from_tier"], upgrade["to_tier"], upgrade["reason"]) == (
            "normal",
            "silver",
            "upgrade",
        )
        assert upgrade["reference"] == f"order:{online['id']}"
        # The sale that crossed the threshold earned at the tier it was made at.
        assert points_of(client, member)["balance"] == till_paid // 100 + online_paid // 100
        with unit_of_work(engine, readonly=True) as session:
            (changed,) = [
                e for e in recent_events(session, limit=200) if e["name"] == "members.TierChanged"
            ]
        assert changed["payload"]["to_tier"] == "silver"

        refund = return_line(client, engine, online["id"], "RET-T1", 1, 1)  # the jeans
        after = tier_of(client, member)
        assert after["rolling_spend_fen"] == till_paid + online_paid - refund
        assert (after["tier"], after["qualifies_for"]) == ("silver", "normal")  # no downgrade yet
        view = client.get(f"/api/v1/members/{member}/360").json()
        assert (view["tier"]["tier"], view["tier"]["rolling_spend_fen"]) == (
            "silver",
            after["rolling_spend_fen"],
        )

        footprint = spend_rows(engine)
        with unit_of_work(engine) as session:  # every event is handed over again
            session.execute(update(OutboxEvent).values(status="pending"))
        deliver(engine)
        assert spend_rows(engine) == footprint
        again = tier_of(client, member)
        assert {**again, "window_start": None} == {**after, "window_start": None}

        review_at = datetime.fromisoformat(after["next_review_at"])
        assert review_at > datetime.now(UTC) + timedelta(days=364)
        with unit_of_work(engine) as session:
            assert tiers.review_due(session, review_at - timedelta(days=1)) == 0
        with unit_of_work(engine) as session:
            assert tiers.review_due(session, review_at) == 1
            assert tiers.review_due(session, review_at) == 0
        with unit_of_work(engine, readonly=True) as session:
            reviewed = tiers.tier_of(session, member, clock=FakeClock(review_at))
        assert (reviewed.tier, reviewed.next_review_at) == ("normal", None)
        assert (reviewed.history[0].reason, reviewed.history[0].reference) == (
            "review_downgrade",
            "review",
        )


def test_unknown_members_get_a_clear_404(engine: Engine) -> None:
    with world.client(engine) as client:
        for asked in ("M0000009999", "nobody"):
            response = client.get(f"/api/v1/members/{asked}/tier")
            assert response.status_code == 404
            assert response.json()["code"] == "UNKNOWN_MEMBER"
            assert response.json()["message"] == f"no member {asked}"


def member(session: Session, *identities: IdentityIn, joined: datetime | None = None) -> str:
    record = SourceRecordIn(
        source="pos", record_id=f"tier-{next(_records)}", identities=list(identities)
    )
    clock = FakeClock(joined) if joined else None
    return ingest.ingest_records(session, [record], clock=clock).results[0].member_id


def sale(
    session: Session, who: str, order_id: int, fen: int, at: datetime, channel: str = "pos"
) -> bool:
    return tiers.record_sale(
        session, who, order_id, fen, at=at, channel=channel, clock=FakeClock(at)
    )


def test_only_the_review_downgrades_and_a_return_in_the_year_decides_it(engine: Engine) -> None:
    start = datetime(2025, 1, 10, 4, tzinfo=UTC)
    with unit_of_work(engine) as session:
        joined = start - timedelta(days=30)
        returner, keeper = member(session, joined=joined), member(session, joined=joined)
        for who, first in ((returner, 1), (keeper, 10)):
            sale(session, who, first, 60_000, start)
            sale(session, who, first + 1, 50_000, start + timedelta(hours=1), "miniapp")
            # Mid-year both buy again; one returns part of it in July.
            sale(session, who, first + 2, 120_000, datetime(2025, 6, 1, tzinfo=UTC), "tmall")
        july = datetime(2025, 7, 1, tzinfo=UTC)
        assert tiers.record_return(session, returner, 3, 1, 30_000, at=july, channel="pos")
    with unit_of_work(engine, readonly=True) as session:
        mine = tiers.tier_of(session, returner, clock=FakeClock(july))
        assert (mine.tier, mine.rolling_spend_fen) == ("silver", 200_000)  # returns never demote
        assert mine.tier_since == start + timedelta(hours=1)
        anniversary = start + timedelta(hours=1) + timedelta(days=365)
        assert mine.next_review_at == anniversary
    with unit_of_work(engine) as session:
        assert tiers.review_due(session, anniversary - timedelta(seconds=1)) == 0
        assert tiers.review_due(session, anniversary) == 2
    with unit_of_work(engine, readonly=True) as session:
        # The year's window starts after the upgrading sales: 120 000 − 30 000 stays.
        demoted = tiers.tier_of(session, returner, clock=FakeClock(anniversary))
        kept = tiers.tier_of(session, keeper, clock=FakeClock(anniversary))
        assert (demoted.tier, demoted.rolling_spend_fen) == ("normal", 90_000)
        assert (kept.tier, kept.rolling_spend_fen) == ("silver", 120_000)
        assert [h.reason for h in demoted.history] == ["review_downgrade", "upgrade"]
        assert [h.reason for h in kept.history] == ["review_kept", "upgrade"]
        assert kept.next_review_at == anniversary + timedelta(days=365)


def test_replayed_events_change_nothing_and_early_returns_wait_for_their_sale(
    engine: Engine,
) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)

    def message(name: str, **payload: Any) -> OutboxMessage:
        return OutboxMessage(1, name, "order", "7", payload, at, 0)

    with unit_of_work(engine) as session:
        who = member(session)
        returned = message(
            "orders.OrderReturned",
            order_id=7,
            return_id=70,
            node="ST-SH-1",
            channel="pos",
            member_id=who,
            refund_fen=20_000,
            lines=[],
        )
        completed = message(
            "orders.OrderCompleted", order_id=7, channel="tmall", member_id=who, paid_fen=150_000
        )
        # A line was handed over and returned before the rest of the order arrived.
        tiers.on_order_returned(session, returned)
        assert tiers.tier_of(session, who, clock=FakeClock(at)).rolling_spend_fen == 0
        tiers.on_order_completed(session, completed)
    for _ in range(2):
        with unit_of_work(engine) as session:
            tiers.on_order_completed(session, completed)
            tiers.on_order_returned(session, returned)
    with unit_of_work(engine, readonly=True) as session:
        out = tiers.tier_of(session, who, clock=FakeClock(at))
        assert (out.tier, out.rolling_spend_fen) == ("silver", 130_000)
        assert len(out.history) == 1
        rows = session.scalars(select(SpendEntry).order_by(SpendEntry.id)).all()
        assert [(r.kind, r.amount_fen, r.sold_at) for r in rows] == [
            ("return", -20_000, at),
            ("sale", 150_000, at),
        ]
        assert [r.channel for r in rows] == ["pos", "tmall"]
    with unit_of_work(engine) as session:  # orders without a (known) member book nothing
        for someone in (None, "someone-elses-id", "M0000009999"):
            assert not tiers.record_sale(session, someone, 8, 10_000, at=at, channel="pos")
        assert session.scalar(select(func.count()).select_from(SpendEntry)) == 2


def test_merged_spend_follows_the_survivor_and_goes_back_on_unmerge(engine: Engine) -> None:
    phone = IdentityIn(kind=IdentityKind.PHONE, value="13900002222")
    email = IdentityIn(kind=IdentityKind.EMAIL, value="wang@qq.com")
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        by_phone, by_email = member(session, phone), member(session, email)
        sale(session, by_phone, 1, 60_000, now - timedelta(days=30))
        sale(session, by_email, 2, 70_000, now - timedelta(days=20), "tmall")
        join(session, "both-t", phone, email)
    relay = InProcessRelay(event_registry())
    deliver_pending(engine, relay)
    with unit_of_work(engine) as session:
        merge = session.scalars(select(Merge).where(Merge.absorbed_id.is_not(None))).one()
        survivor = profile.get_member(session, by_phone).id
        assert profile.get_member(session, by_email).id == survivor
        joint = tiers.tier_of(session, survivor)
        assert (joint.tier, joint.rolling_spend_fen) == ("silver", 130_000)
        assert (joint.history[0].reason, joint.history[0].reference) == (
            "merge",
            f"merge:{merge.id}",
        )
        # The old id answers with the survivor; a replayed merge moves nothing twice.
        assert tiers.tier_of(session, by_email).member == survivor
        absorbed = by_email if survivor == by_phone else by_phone
        tiers.merge_spend(session, absorbed, merge.id)
        assert len(tiers.tier_of(session, survivor).history) == 1
    with unit_of_work(engine) as session:
        review.unmerge(session, merge.id, DecisionIn(who="cs-1", why="two people"))
    deliver_pending(engine, relay)
    with unit_of_work(engine, readonly=True) as session:
        phone_side = tiers.tier_of(session, by_phone)
        email_side = tiers.tier_of(session, by_email)
        assert (phone_side.member, email_side.member) == (by_phone, by_email)
        assert (phone_side.rolling_spend_fen, email_side.rolling_spend_fen) == (60_000, 70_000)
        # Only the merge made the survivor silver: the un-merge takes it back.
        assert (phone_side.tier, email_side.tier) == ("normal", "normal")
        assert tiers.tier_of(session, survivor).history[0].reason == "unmerge"


def test_a_merge_keeps_the_better_tier_of_the_two(engine: Engine) -> None:
    phone = IdentityIn(kind=IdentityKind.PHONE, value="13900003333")
    card = IdentityIn(kind=IdentityKind.POS_CARD, value="VIP-0001")
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        plain, big = member(session, phone), member(session, card)
        sale(session, big, 1, 600_000, now - timedelta(days=200))  # gold, then mostly returned
        tiers.record_return(
            session, big, 1, 1, 550_000, at=now - timedelta(days=199), channel="pos"
        )
        join(session, "both-g", phone, card)
    deliver_pending(engine, InProcessRelay(event_registry()))
    with unit_of_work(engine, readonly=True) as session:
        out = tiers.tier_of(session, plain)
        assert (out.tier, out.qualifies_for, out.rolling_spend_fen) == ("gold", "normal", 50_000)
        assert out.history[0].reason == "merge"


def test_a_tier_whose_year_ran_out_is_not_passed_on_by_a_merge(engine: Engine) -> None:
    phone = IdentityIn(kind=IdentityKind.PHONE, value="13900006666")
    card = IdentityIn(kind=IdentityKind.POS_CARD, value="VIP-0002")
    long_ago = datetime.now(UTC) - timedelta(days=800)
    with unit_of_work(engine) as session:
        plain = member(session, phone)
        lapsed = member(session, card, joined=long_ago)
        sale(session, lapsed, 1, 600_000, long_ago)  # gold two years ago, never reviewed since
        join(session, "both-l", phone, card)
    deliver_pending(engine, InProcessRelay(event_registry()))
    with unit_of_work(engine, readonly=True) as session:
        out = tiers.tier_of(session, plain)
        assert (out.tier, out.rolling_spend_fen, out.history) == ("normal", 0, [])


TWO_TIERS = (
    '[{"code": "fan", "name": "粉丝", "threshold_fen": 0,'
    '  "benefits": {"points_multiplier_bp": 10000, "member_price": false, "free_shipping": false}},'
    ' {"code": "vip", "name": "VIP", "threshold_fen": 20000,'
    '  "benefits": {"points_multiplier_bp": 30000, "member_price": true, "free_shipping": true}}]'
)


def test_a_retailer_sets_its_own_ladder(engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(get_settings(), "tier_ladder", TWO_TIERS)
    with world.client(engine) as client:
        ladder = client.get("/api/v1/members/tier-ladder").json()
        assert [(t["code"], t["threshold_fen"]) for t in ladder] == [("fan", 0), ("vip", 20000)]

        member = new_member(client, "card-own-ladder", "13800138155")
        assert tier_of(client, member)["next_tier"]["code"] == "vip"
        buy_online_and_pick_up(client, engine, "MP-LADDER", member)  # well over 200 yuan
        vip = tier_of(client, member)
        assert (vip["tier"], vip["benefits"]["points_multiplier_bp"]) == ("vip", 30000)
        assert vip["next_tier"] is None


def test_a_ladder_that_cannot_work_stops_the_server_at_start(monkeypatch: Any) -> None:
    for broken in ('[{"code": "vip", "name": "VIP", "threshold_fen": 500}]', "not json"):
        monkeypatch.setattr(get_settings(), "tier_ladder", broken)
        with pytest.raises(ValueError, match="YIPAN_TIER_LADDER is not a tier ladder"):
            create_app(background=False)
