"""The worker's query on PostgreSQL: a cached plan still reads the pending events alone."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql

from yipan.events import service as events
from yipan.kernel.db import unit_of_work

pytestmark = pytest.mark.postgres

_TYPES = {"now": "timestamptz", "after": "bigint", "batch_size": "int"}


def test_the_workers_cached_plan_goes_through_the_pending_events_alone(pg_engine: Engine) -> None:
    # A busy outbox: many delivered events, a few pending.
    with unit_of_work(pg_engine) as session:
        session.execute(
            text(
                "INSERT INTO events_outbox (name, aggregate_type, aggregate_id, payload, "
                "occurred_at, status, attempts, next_attempt_at) SELECT 'test.Done', 't', "
                "g::text, '{}'::jsonb, now(), CASE WHEN g % 500 = 0 THEN 'pending' "
                "ELSE 'delivered' END, 0, now() FROM generate_series(1, 20000) g"
            )
        )
    compiled = events.DUE_EVENTS.compile(
        dialect=postgresql.psycopg.dialect(paramstyle="numeric_dollar")
    )
    names = compiled.positiontup or []
    with pg_engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE events_outbox")
        # The worker runs this statement over and over: PostgreSQL soon plans it once for any
        # parameters, and that plan must still find the pending events through their index.
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE due ({', '.join(_TYPES[n] for n in names)}) AS {compiled}")
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql("EXPLAIN EXECUTE due (now(), 0, 100)")
        )
        due = conn.exec_driver_sql("EXECUTE due (now(), 0, 100)").all()
    assert "ix_events_outbox_pending" in plan, plan
    assert len(due) == 40
