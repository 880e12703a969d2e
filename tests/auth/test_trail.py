"""The audit trail of a server: rows gathered between flushes, written in one statement, kept
when the database refuses them so the next flush tries again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from yipan.auth.domain import ALL, Principal, Role
from yipan.auth.service import audit
from yipan.auth.service.audit import WriteMade
from yipan.auth.trail import AuditTrail
from yipan.kernel.db import make_engine, unit_of_work

TILL = Principal("api_key", 7, "yk_12345678", Role.INTEGRATOR, ALL)


def write(n: int) -> WriteMade:
    return WriteMade(
        at=datetime(2026, 12, 5, 10, 0, n, tzinfo=UTC),
        principal=TILL,
        action="POST /api/v1/pos/receipts",
        target="/api/v1/pos/receipts",
        status=201,
        source_ip="10.0.0.7",
    )


def logged(engine: Engine) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        return [e.at.isoformat() for e in reversed(audit.list_audit(session, limit=500))]


def test_gathered_writes_reach_the_log_only_when_flushed(engine: Engine) -> None:
    trail = AuditTrail(engine, gathered=True)
    for n in range(3):
        trail.add(write(n))
    assert logged(engine) == []
    assert trail.flush() == 3
    assert logged(engine) == [write(n).at.isoformat() for n in range(3)]
    assert trail.flush() == 0  # nothing twice


def test_a_flush_the_database_refuses_keeps_the_rows_for_the_next(engine: Engine) -> None:
    broken = make_engine("sqlite:////nonexistent-dir/nowhere.db")
    trail = AuditTrail(broken, gathered=True)
    trail.add(write(1))
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        trail.flush()
    trail.engine = engine  # the database is back
    assert trail.flush() == 1
    assert logged(engine) == [write(1).at.isoformat()]
