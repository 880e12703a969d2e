"""Invariants of the members tables that the schema does not enforce itself."""

from __future__ import annotations

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import aliased

from yipan.kernel.db import unit_of_work
from yipan.members.models import Identity, Member, Merge, SourceRecord


def astray(engine: Engine) -> list[str]:
    """Every reference among the members tables that the services keep in place of foreign
    keys and that does not hold: an identity whose record is gone or belongs to another member,
    a record whose member is gone, a merge naming a member or record that is not there."""
    with unit_of_work(engine, readonly=True) as session:
        found = [
            f"identity {identity}: member {member}, its record's {record_member}"
            for identity, member, record_member in session.execute(
                select(Identity.id, Identity.member_id, SourceRecord.member_id)
                .outerjoin(SourceRecord, SourceRecord.id == Identity.record_id)
                .where(or_(SourceRecord.id.is_(None), SourceRecord.member_id != Identity.member_id))
            )
        ]
        found.extend(
            f"record {record}: no member {member}"
            for record, member in session.execute(
                select(SourceRecord.id, SourceRecord.member_id)
                .outerjoin(Member, Member.id == SourceRecord.member_id)
                .where(Member.id.is_(None))
            )
        )
        for column, table in (
            (Merge.survivor_id, Member),
            (Merge.absorbed_id, Member),
            (Merge.survivor_record_id, SourceRecord),
            (Merge.absorbed_record_id, SourceRecord),
            (Merge.via_record_id, SourceRecord),
        ):
            named = aliased(table)
            found.extend(
                f"merge {merge}: no {column.key} {value}"
                for merge, value in session.execute(
                    select(Merge.id, column)
                    .outerjoin(named, named.id == column)
                    .where(column.is_not(None), named.id.is_(None))
                )
            )
    return found
