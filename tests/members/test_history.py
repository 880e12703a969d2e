"""A year of sales, returns and points exchanges booked onto members set at a time: the same
ledgers the live handlers would have written, one at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind, RecordKey
from yipan.members.domain.points import SaleLine
from yipan.members.errors import UnknownMember
from yipan.members.models import (
    PointsBalance,
    PointsEarning,
    PointsEntry,
    SpendEntry,
    TierChange,
)
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import history, ingest, points, profile, tiers

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
_cards = count(1)


def new_member(session: Session, phone: str | None = None) -> str:
    identities = [IdentityIn(kind=IdentityKind.PHONE, value=phone)] if phone else []
    record = SourceRecordIn(source="pos", record_id=f"card-{next(_cards)}", identities=identities)
    return ingest.ingest_records(session, [record]).results[0].member_id


# (days before now, paid fen) of three sales; the second takes the member over ¥1,000 (silver).
SALES = ((40, 60_000), (30, 50_000), (20, 80_000))
RETURN = (15, 2, 40_000)  # days before now, which sale, refund
EXCHANGE = (10, 1_000)  # days before now, points


def _at(days: int) -> datetime:
    return NOW - timedelta(days=days)


def _book_live(session: Session, member: str, first_order: int) -> None:
    for n, (days, paid) in enumerate(SALES):
        at, order_id = _at(days), first_order + n
        points.earn_for_sale(
            session,
            member,
            f"order:{order_id}",
            [SaleLine("1", paid)],
            at=at,
            channel="pos",
            clock=FakeClock(at),
        )
        tiers.record_sale(
            session, member, order_id, paid, at=at, channel="pos", clock=FakeClock(at)
        )
    days, sale, refund = RETURN
    at, order_id = _at(days), first_order + sale
    points.reverse_for_return(
        session,
        f"order:{order_id}",
        f"return:{order_id}",
        {"1": refund},
        refund_fen=refund,
        at=at,
        channel="pos",
        clock=FakeClock(at),
    )
    tiers.record_return(session, member, order_id, order_id, refund, at=at, channel="pos")
    days, spent = EXCHANGE
    points.redeem(
        session, member, spent, f"gift-{member}", channel="pos", clock=FakeClock(_at(days))
    )


def _book_history(session: Session, member: str, first_order: int) -> history.HistoryBooked:
    days, sale, refund = RETURN
    return history.record_history(
        session,
        [
            history.HistoricSale(member, first_order + n, "pos", _at(d), (SaleLine("1", paid),))
            for n, (d, paid) in enumerate(SALES)
        ],
        [
            history.HistoricReturn(
                member,
                first_order + sale,
                first_order + sale,
                "pos",
                _at(days),
                refund,
                {"1": refund},
            )
        ],
        [history.HistoricExchange(member, f"gift-{member}", _at(EXCHANGE[0]), "pos", EXCHANGE[1])],
        now=NOW,
    )


def _books(session: Session, member: str) -> tuple[object, ...]:
    member_id = int(member[1:])
    entries = session.execute(
        select(PointsEntry.kind, PointsEntry.points, PointsEntry.at, PointsEntry.expires_at)
        .where(PointsEntry.member_id == member_id)
        .order_by(PointsEntry.at, PointsEntry.id)
    ).all()
    spend = session.execute(
        select(SpendEntry.kind, SpendEntry.amount_fen, SpendEntry.sold_at)
        .where(SpendEntry.member_id == member_id)
        .order_by(SpendEntry.id)
    ).all()
    changes = session.execute(
        select(TierChange.from_tier, TierChange.to_tier, TierChange.reason, TierChange.spend_fen)
        .where(TierChange.member_id == member_id)
        .order_by(TierChange.id)
    ).all()
    member_out = profile.get_member(session, member)
    return (
        points.balance(session, member),
        [tuple(e) for e in entries],
        [tuple(s) for s in spend],
        [tuple(c) for c in changes],
        member_out.tier,
    )


def test_history_books_what_the_live_handlers_would_have(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        live, booked = new_member(session), new_member(session)
        _book_live(session, live, first_order=1)
        report = _book_history(session, booked, first_order=101)

    with unit_of_work(engine, readonly=True) as session:
        assert _books(session, booked) == _books(session, live)
        balance, entries, _, changes, tier = _books(session, booked)
    assert tier == "silver"
    assert [c[:3] for c in changes] == [("normal", "silver", "upgrade")]
    # 600 + 500 at the base rate, 800 at silver's ×1.2, then half of the last sale back.
    assert [e[:2] for e in entries] == [
        ("earn", 600),
        ("earn", 500),
        ("earn", 960),
        ("reverse", -480),
        ("redeem", -600),
        ("redeem", -400),
    ]
    assert balance == report.points_balance == 600 + 500 + 960 - 480 - 1000
    assert (report.points_earned, report.points_reversed, report.points_redeemed) == (
        2060,
        480,
        1000,
    )
    assert report.upgrades == 1


def test_an_exchange_happens_only_when_the_points_are_there(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        rich, poor = new_member(session), new_member(session)
        report = history.record_history(
            session,
            [
                history.HistoricSale(rich, 1, "pos", _at(9), (SaleLine("1", 123_456),)),
                history.HistoricSale(poor, 2, "pos", _at(9), (SaleLine("1", 99_900),)),
                history.HistoricSale(poor, 3, "pos", _at(2), (SaleLine("1", 50_000),)),
            ],
            [],
            [
                history.HistoricExchange(rich, "gift-1", _at(5), "pos", 1_000),
                # 999 points on day 5; the 500 more came later: no gift then.
                history.HistoricExchange(poor, "gift-2", _at(5), "pos", 1_000),
            ],
            now=NOW,
        )
        assert points.balance(session, rich) == 1_234 - 1_000
        assert points.balance(session, poor) == 999 + 500
    assert (report.exchanges, report.points_redeemed) == (1, 1_000)


def test_members_with_points_or_spend_already_and_unknown_members_are_refused(
    engine: Engine,
) -> None:
    with unit_of_work(engine) as session:
        member = new_member(session)
        points.adjust(session, member, 100, "welcome", "test")
    sale = history.HistoricSale(member, 1, "pos", _at(3), (SaleLine("1", 10_000),))

    with pytest.raises(history.HistoryConflict), unit_of_work(engine) as session:
        history.record_history(session, [sale], now=NOW)
    stranger = history.HistoricSale("M0000099999", 2, "pos", _at(3), (SaleLine("1", 100),))
    with pytest.raises(UnknownMember), unit_of_work(engine) as session:
        history.record_history(session, [stranger], now=NOW)
    with unit_of_work(engine, readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(SpendEntry)) == 0
        assert session.scalar(select(func.sum(PointsBalance.balance))) == 100


def test_a_sale_under_a_merged_away_id_is_booked_on_the_member_it_lives_in(
    engine: Engine,
) -> None:
    def record(source: str, record_id: str, **identities: str) -> SourceRecordIn:
        return SourceRecordIn(
            source=source,
            record_id=record_id,
            identities=[IdentityIn(kind=k, value=v) for k, v in identities.items()],
        )

    with unit_of_work(engine) as session:
        till = new_member(session, "13912345678")
        shop = ingest.ingest_records(session, [record("online_shop", "u-1", email="wf@qq.com")])
        absorbed = shop.results[0].member_id
    with unit_of_work(engine) as session:
        bridge = record("social", "o-1", phone="13912345678", email="wf@qq.com")
        ingest.ingest_records(session, [bridge])
        found = history.members_of_records(
            session, [RecordKey("online_shop", "u-1"), RecordKey("social", "o-1")]
        )
        assert set(found.values()) == {till}  # the online member was merged into the till's
        history.record_history(
            session,
            [history.HistoricSale(absorbed, 1, "pos", _at(2), (SaleLine("1", 50_000),))],
            now=NOW,
        )
        assert points.balance(session, till) == 500
        origin = session.scalar(select(PointsEarning.origin_member_id))
        counts = history.counts(session)
    assert origin == int(absorbed[1:])
    assert (counts.active, counts.records, counts.open_reviews) == (1, 3, 0)


def test_guides_are_bound_to_the_members_they_serve(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        member = new_member(session)
        assert history.bind_guides(session, {member: ("guide.nj001", "ST-JS-NJ-001")}, NOW) == 1
        out = profile.get_member(session, member)
    assert (out.guide, out.store) == ("guide.nj001", "ST-JS-NJ-001")
