"""The offline evaluation on the demo data (a reduced build): trained before the last 60 days of
the demo's year, judged on what members bought in them, against popularity.

The demo's members have tastes (two favourite categories, their sizes: yipan.demo.history), as
real customers do; a co-purchase model learns them and must beat recommending the best sellers
to everyone. The full demo's figures are in docs/insights.md ("Recommendations").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from yipan.demo import build_demo
from yipan.insights.service import recommendations as recs
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import make_engine, unit_of_work
from yipan.orders.models import Order

CLOCK = FixedClock(datetime(2026, 6, 1, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[recs.Evaluation]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('recs') / 'demo.db'}")
    try:
        build_demo(engine, seed=7, scale=0.05, clock=CLOCK)
        with unit_of_work(engine, readonly=True) as session:
            end = session.scalar(select(func.max(Order.placed_at)))
            assert end is not None
            yield recs.evaluate(session, cutoff=end - timedelta(days=60), k=10)
    finally:
        engine.dispose()


def test_the_evaluation_judges_the_members_who_bought_on_both_sides(
    evaluation: recs.Evaluation,
) -> None:
    assert evaluation.members > 100
    assert 0 < evaluation.baseline_precision_at_k <= 1
    assert 0 < evaluation.baseline_recall_at_k <= 1


def test_the_model_beats_popularity_on_the_demo(evaluation: recs.Evaluation) -> None:
    assert evaluation.precision_at_k > evaluation.baseline_precision_at_k
    assert evaluation.recall_at_k > evaluation.baseline_recall_at_k
