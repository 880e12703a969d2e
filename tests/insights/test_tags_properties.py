"""Properties of the stored tags over generated purchase histories (SQLite): a full refresh run
twice writes the same tags, and each member's own refresh gives what the full refresh gave."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from tests import factories, support
from tests.insights import test_member_value_service as mv
from tests.orders import world
from yipan.insights.models.tags import MemberTag
from yipan.insights.service import tags as service
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import IdentityIn

MEMBERS = 5
# A sale: which member, how many days ago, which store's till, how many tees or jeans.
sales = st.lists(
    st.tuples(
        st.integers(0, MEMBERS - 1),
        st.integers(1, 400),
        st.sampled_from(["ST-SH-1", "ST-SH-3"]),
        st.sampled_from([world.TEE, world.JEANS]),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=12,
)


def stored(engine: Engine) -> set[tuple[int, str, str, float | None]]:
    with unit_of_work(engine, readonly=True) as session:
        rows = session.execute(
            select(MemberTag.member_id, MemberTag.kind, MemberTag.value, MemberTag.score)
        ).all()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def test_refreshing_is_idempotent_and_one_member_matches_everyone(
    sqlite_template: Path, tmp_path: Path
) -> None:
    engine = support.engine_for(support.fresh_sqlite(sqlite_template, tmp_path / "p.db"))
    world.build(engine)
    for node in ("ST-SH-1", "ST-SH-3"):
        factories.receive(engine, world.TEE, node, 10_000)
        factories.receive(engine, world.JEANS, node, 10_000)
    members = [
        mv.new_member(engine, f"p{i}", IdentityIn(kind=IdentityKind.PHONE, value=f"1350000000{i}"))
        for i in range(MEMBERS)
    ]
    clock = FakeClock(mv.NOW)

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(sales)
    def more_sales_then_refresh(sold: list[tuple[int, int, str, str, int]]) -> None:
        price = {world.TEE: 9900, world.JEANS: 39900}
        mv.sell(
            engine,
            [
                mv.receipt(members[who], mv.at(days), [(sku, qty, price[sku])], store=store)
                for who, days, store, sku, qty in sold
            ],
        )
        with unit_of_work(engine) as session:
            service.refresh_all(session, clock=clock)
        full = stored(engine)
        assert {m for m, *_ in full}  # someone bought, so someone is tagged
        with unit_of_work(engine) as session:
            service.refresh_all(session, clock=clock)
        assert stored(engine) == full
        for member in members:
            with unit_of_work(engine) as session:
                service.refresh_member(session, member, clock=clock)
        assert stored(engine) == full
        scores = {(m, v) for m, k, v, _ in full if k == "recency_score"}
        assert all(v in {"1", "2", "3", "4", "5"} for _, v in scores)

    try:
        more_sales_then_refresh()
    finally:
        engine.dispose()
