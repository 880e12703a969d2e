"""The points services against storage (SQLite and PostgreSQL): expiry, merges, and the books
staying balanced under any sequence of changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from yipan.events.service import InProcessRelay, deliver_pending
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import YipanError
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.domain.points import (
    EntryKind,
    LedgerEntry,
    PointsPolicy,
    SaleLine,
    lots_from_ledger,
)
from yipan.members.models import PointsBalance, PointsEntry
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest, points, profile
from yipan.wiring import event_registry

_records = count(1)


def new_member(session: Session, *identities: IdentityIn) -> str:
    record = SourceRecordIn(
        source="pos", record_id=f"card-{next(_records)}", identities=list(identities)
    )
    return ingest.ingest_records(session, [record]).results[0].member_id


def assert_books_balance(session: Session) -> None:
    """Every member's cached balance is the sum of their ledger, no lot is overdrawn, none < 0."""
    sums = dict(
        session.execute(
            select(PointsEntry.member_id, func.sum(PointsEntry.points)).group_by(
                PointsEntry.member_id
            )
        ).all()
    )
    balances = dict(session.execute(select(PointsBalance.member_id, PointsBalance.balance)).all())
    for member_id in set(sums) | set(balances):
        assert balances.get(member_id, 0) == sums.get(member_id, 0), member_id
        assert balances.get(member_id, 0) >= 0
    for member_id in sums:
        rows = session.scalars(
            select(PointsEntry).where(PointsEntry.member_id == member_id).order_by(PointsEntry.id)
        )
        lots_from_ledger(points_entry(e) for e in rows)  # raises on an overdrawn lot


def points_entry(row: PointsEntry) -> LedgerEntry:
    return LedgerEntry(
        EntryKind(row.kind),
        row.lot_id,
        row.points,
        row.at,
        row.reference,
        row.reason,
        row.expires_at,
    )


def test_lots_expire_at_their_month_end_once_and_no_sooner(engine: Engine) -> None:
    opened = datetime(2025, 1, 10, 4, tzinfo=UTC)
    clock = FakeClock(opened)
    with unit_of_work(engine) as session:
        member = new_member(session)
        points.earn_for_sale(
            session, member, "order:1", [SaleLine("1", 50_000)], at=opened, channel="pos"
        )
        points.redeem(session, member, 200, "SPEND-1", clock=clock)
    # 12 months after January 2025, at the end of January 2026, Shanghai time.
    lapse = datetime(2026, 1, 31, 16, tzinfo=UTC)
    with unit_of_work(engine) as session:
        assert points.expire_due(session, lapse - timedelta(seconds=1)) == 0
        assert points.balance(session, member) == 300
        # Past its date a lot no longer pays, even before the sweeper booked its expiry,
        # and the refusal writes nothing.
        with pytest.raises(YipanError) as refused:
            points.redeem(session, member, 100, "LATE", clock=FakeClock(lapse))
        assert refused.value.code == "INSUFFICIENT_POINTS"
        assert points.balance(session, member) == 300
    with unit_of_work(engine) as session:
        assert points.expire_due(session, lapse) == 1
        assert points.expire_due(session, lapse) == 0
        out = points.ledger(session, member)
        assert (out.balance, out.usable) == (0, 0)
        assert (out.entries[0].kind, out.entries[0].points) == ("expire", -300)
        assert_books_balance(session)


def test_a_merged_member_brings_its_points_and_its_old_id_still_works(engine: Engine) -> None:
    phone = IdentityIn(kind=IdentityKind.PHONE, value="13900001111")
    email = IdentityIn(kind=IdentityKind.EMAIL, value="li@qq.com")
    with unit_of_work(engine) as session:
        by_phone = new_member(session, phone)
        by_email = new_member(session, email)
        points.adjust(session, by_phone, 400, "welcome", "cs-1")
        points.adjust(session, by_email, 250, "welcome", "cs-1")
        ingest.ingest_records(
            session,
            [SourceRecordIn(source="online_shop", record_id="both", identities=[phone, email])],
        )
    relay = InProcessRelay(event_registry())
    deliver_pending(engine, relay)
    deliver_pending(engine, relay)
    with unit_of_work(engine) as session:
        survivor = profile.get_member(session, by_phone).id
        assert profile.get_member(session, by_email).id == survivor
        absorbed = by_email if survivor == by_phone else by_phone
        assert points.balance(session, survivor) == 650
        assert points.balance(session, absorbed) == 650  # resolves to the survivor
        # Replaying the merge event moves nothing twice.
        assert points.transfer_on_merge(session, absorbed, 1) == 0
        spent = points.redeem(session, absorbed, 600, "OLD-ID")
        assert (spent.member, spent.balance) == (survivor, 50)
        assert_books_balance(session)


def test_points_worth_part_of_a_fen_are_refused_and_nothing_is_written(engine: Engine) -> None:
    half_fen_points = PointsPolicy(redeem_points=200, redeem_value_fen=100)  # 2 points a fen
    with unit_of_work(engine) as session:
        member = new_member(session)
        points.adjust(session, member, 1_000, "welcome", "cs-1")
    with unit_of_work(engine) as session:
        with pytest.raises(YipanError) as refused:
            points.redeem(session, member, 301, "ODD", policy=half_fen_points)
        assert (refused.value.code, refused.value.status) == ("UNREDEEMABLE_POINTS", 422)
        spent = points.redeem(session, member, 300, "EVEN", policy=half_fen_points)
        assert (spent.value_fen, spent.balance) == (150, 700)
        assert points.ledger(session, member).entries[0].reference == "EVEN"


@dataclass
class Model:
    """What the test knows of one member's sales, to ask for returns the orders would allow."""

    member: str
    sales: dict[str, dict[str, int]] = field(default_factory=dict)  # sale → line → fen left


operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 300_000)),
        st.tuples(st.just("redeem"), st.integers(1, 30).map(lambda n: n * 100)),
        st.tuples(
            st.just("return"), st.integers(0, 9), st.sampled_from(["1", "2"]), st.integers(1, 4)
        ),
        st.tuples(st.just("adjust"), st.integers(-800, 800).filter(lambda n: n != 0)),
        st.tuples(st.just("expire"), st.integers(0, 30)),
    ),
    max_size=14,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_any_sequence_of_changes_keeps_the_balance_equal_to_the_ledger_and_never_negative(
    engine: Engine, ops: list[tuple[object, ...]]
) -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    with unit_of_work(engine) as session:
        model = Model(new_member(session))
    for n, op in enumerate(ops):
        clock.advance(days=20)
        refusal = None
        try:
            with unit_of_work(engine) as session:
                apply_op(session, model, n, op, clock)
        except YipanError as refused:
            refusal = refused.code
        assert refusal in {None, "INSUFFICIENT_POINTS"}, op
        with unit_of_work(engine, readonly=True) as session:
            assert_books_balance(session)


def apply_op(
    session: Session, model: Model, n: int, op: tuple[object, ...], clock: FakeClock
) -> None:
    kind = op[0]
    if kind == "earn":
        fen = int(str(op[1]))
        sale = f"order:{model.member}:{n}"
        lines = {"1": fen // 3, "2": fen - fen // 3}
        model.sales[sale] = dict(lines)
        points.earn_for_sale(
            session,
            model.member,
            sale,
            [SaleLine(line, paid) for line, paid in lines.items()],
            at=clock.now(),
            channel="pos",
            clock=clock,
        )
    elif kind == "redeem":
        points.redeem(session, model.member, int(str(op[1])), f"R-{n}", clock=clock)
    elif kind == "return" and model.sales:
        sale = sorted(model.sales)[int(str(op[1])) % len(model.sales)]
        line, parts = str(op[2]), int(str(op[3]))
        back = model.sales[sale][line] // parts if parts > 1 else model.sales[sale][line]
        model.sales[sale][line] -= back
        points.reverse_for_return(
            session, sale, f"return:{n}", {line: back}, refund_fen=back, at=clock.now(), clock=clock
        )
    elif kind == "adjust":
        points.adjust(session, model.member, int(str(op[1])), "test", "qa", clock=clock)
    elif kind == "expire":
        points.expire_due(session, clock.now() + timedelta(days=30 * int(str(op[1]))))
