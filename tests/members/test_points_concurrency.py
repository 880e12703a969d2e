"""Redemptions under real concurrency: several OS processes spending from one balance at once.

Each worker is a separate process (spawn) with its own engine, started together behind a barrier.
Half the references are shared between workers (tills retrying each other's requests), so the
same redemption also races with itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests import support
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.members.models import PointsBalance, PointsEntry
from yipan.members.schemas import SourceRecordIn
from yipan.members.service import ingest, points

WORKERS = 6
ATTEMPTS = 8
SPEND = 100
BALANCE = 1_500  # 48 attempts of 100 points for 15 redemptions' worth
FINISH_WITHIN = 300.0


def _worker(url: str, member: str, worker: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    results = []
    barrier.wait()
    for i in range(ATTEMPTS):
        reference = f"SHARED-{i}" if i % 2 else f"TILL-{worker}-{i}"
        try:
            with unit_of_work(engine) as session:
                done = points.redeem(session, member, SPEND, reference, channel="pos")
            results.append((reference, "redeemed", done.created))
        except YipanError as refused:
            results.append((reference, "refused", refused.code))
        except Exception as crashed:  # reported, not raised: the test says which error it was
            results.append((reference, "error", repr(crashed)))
    engine.dispose()
    out.put(results)


def _run(url: str, member: str) -> list[tuple[str, str, Any]]:
    per_worker = support.run_in_processes(
        _worker, [(url, member, w) for w in range(WORKERS)], finish_within=FINISH_WITHIN
    )
    return [seen for results in per_worker for seen in results]


@pytest.mark.slow
def test_many_tills_redeeming_one_balance_at_once_never_spend_a_point_twice(
    engine: Engine, database_url: str
) -> None:
    with unit_of_work(engine) as session:
        record = SourceRecordIn(source="pos", record_id="card-race")
        member = ingest.ingest_records(session, [record]).results[0].member_id
        points.adjust(session, member, BALANCE, "opening balance", "qa", reference="OPEN")

    results = _run(database_url, member)

    assert len(results) == WORKERS * ATTEMPTS
    assert [r for r in results if r[1] == "error"] == []
    refusals = {detail for _, outcome, detail in results if outcome == "refused"}
    assert refusals <= {"INSUFFICIENT_POINTS"}
    spent_refs = {ref for ref, outcome, created in results if outcome == "redeemed" and created}
    with unit_of_work(engine, readonly=True) as session:
        ledger_sum = session.scalar(select(func.sum(PointsEntry.points))) or 0
        balance = session.scalar(select(PointsBalance.balance)) or 0
        redeemed = -(
            session.scalar(select(func.sum(PointsEntry.points)).where(PointsEntry.kind == "redeem"))
            or 0
        )
        booked_refs = set(
            session.scalars(select(PointsEntry.reference).where(PointsEntry.kind == "redeem"))
        )
    points_double_spent = max(0, redeemed - BALANCE)
    assert points_double_spent == 0
    assert balance == ledger_sum == BALANCE - redeemed
    assert balance >= 0
    # Every redemption a till was told happened is booked exactly once, and nothing else is.
    assert booked_refs == spent_refs
    assert redeemed == SPEND * len(spent_refs)
    # There was enough demand to empty the balance, and it was emptied exactly.
    assert balance == 0
