"""Invariants of the members tables that the schema does not enforce itself."""

from __future__ import annotations

from sqlalchemy import Engine, or_, select

from yipan.kernel.db import unit_of_work
from yipan.members.models import Identity, SourceRecord


def identities_astray(engine: Engine) -> list[tuple[int, int, int | None]]:
    """(identity, its member, its record's member) for every identity whose record is gone or
    belongs to another member: the services keep this empty in place of foreign keys."""
    with unit_of_work(engine, readonly=True) as session:
        rows = session.execute(
            select(Identity.id, Identity.member_id, SourceRecord.member_id)
            .outerjoin(SourceRecord, SourceRecord.id == Identity.record_id)
            .where(or_(SourceRecord.id.is_(None), SourceRecord.member_id != Identity.member_id))
        ).all()
    return [tuple(row) for row in rows]
