"""The audit log: one row per write made by someone, newest first when read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal
from yipan.auth.models import AuditEntry
from yipan.auth.schemas import AuditEntryOut
from yipan.kernel.bulk import bulk_insert
from yipan.kernel.clock import Clock, SystemClock

_AUDIT_LOG = cast(Table, AuditEntry.__table__)


def record_audit(
    session: Session,
    principal: Principal | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> None:
    """Write one audit row in the caller's transaction; `principal=None` is an anonymous caller
    (a failed login)."""
    session.add(
        AuditEntry(
            at=(clock or SystemClock()).now(),
            actor_kind=principal.kind if principal else "anonymous",
            actor_id=principal.id if principal else None,
            actor_name=principal.name if principal else None,
            actor_role=str(principal.role) if principal else None,
            action=action,
            target=target,
            details=details or {},
            source_ip=source_ip,
        )
    )
    session.flush()


@dataclass(frozen=True)
class WriteMade:
    """One write request as the audit trail saw it, waiting to be recorded."""

    at: datetime
    principal: Principal
    action: str
    target: str
    status: int
    source_ip: str | None


def record_writes(session: Session, writes: Sequence[WriteMade]) -> int:
    """Record many writes at once (the trail gathers them between flushes): `COPY` on
    PostgreSQL, where every order adds a row and an `INSERT` per row cost the database several
    times as much."""
    bulk_insert(
        session,
        _AUDIT_LOG,
        [
            {
                "at": w.at,
                "actor_kind": w.principal.kind,
                "actor_id": w.principal.id,
                "actor_name": w.principal.name,
                "actor_role": str(w.principal.role),
                "action": w.action,
                "target": w.target,
                "details": {"status": w.status},
                "source_ip": w.source_ip,
            }
            for w in writes
        ],
    )
    return len(writes)


def list_audit(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntryOut]:
    """Newest first; page on with `before_id` = the last id of the page before."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor_name == actor)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return [AuditEntryOut.model_validate(row) for row in session.scalars(stmt)]
