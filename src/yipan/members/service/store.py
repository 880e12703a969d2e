"""What the members use cases share: public ids, loading members as the domain sees them, moves,
and the set-at-a-time reads and id reservations bulk ingest needs (one array parameter and the
sequence on PostgreSQL; plain statements on SQLite)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Row,
    Table,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from yipan.kernel.db import among
from yipan.members.domain import identifiers as ids
from yipan.members.domain import identity as resolution

# A member's status as stored, named where the batch sets it.
from yipan.members.domain.placement import ACTIVE as ACTIVE
from yipan.members.domain.placement import ERASED as ERASED
from yipan.members.domain.placement import MERGED as MERGED
from yipan.members.errors import ErasedMember, UnknownMember
from yipan.members.models import Identity, Member, Merge, Separation, SourceRecord
from yipan.members.schemas import Consent, MemberOut, MergeOut
from yipan.members.service.pii import vault

_PUBLIC_ID = re.compile(r"M(\d{1,18})")
# A merge chain longer than this is a cycle, which the writes never make.
_MAX_HOPS = 1000


def public_id(member_id: int) -> str:
    return f"M{member_id:010d}"


def parse_id(member_id: str) -> int:
    found = _PUBLIC_ID.fullmatch(member_id.strip())
    if found is None or int(found.group(1)) == 0:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return int(found.group(1))


def record_key(row: SourceRecord) -> ids.RecordKey:
    return ids.RecordKey(row.source, row.record_id)


def load_member(session: Session, member_id: str) -> Member:
    member = session.get(Member, parse_id(member_id))
    if member is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return member


def holder(session: Session, member: Member) -> Member:
    """The member `member` now lives in: itself unless merged away (then its survivor's holder)."""
    for _ in range(_MAX_HOPS):
        if member.survivor_id is None:
            return member
        survivor = session.get(Member, member.survivor_id)
        assert survivor is not None  # a foreign key
        member = survivor
    raise RuntimeError(f"merge chain from member {member.id} does not end")


def writable_holder(session: Session, loaded: Member, asked: str) -> Member:
    """`holder` of `loaded`, to be changed: MEMBER_ERASED (409) if that member was erased."""
    member = holder(session, loaded)
    if member.status == ERASED:
        raise ErasedMember(f"member {asked} was erased", member_id=asked)
    return member


def writable(session: Session, member_id: str) -> Member:
    """The member `member_id` now lives in, to be changed; refused if erased."""
    return writable_holder(session, load_member(session, member_id), member_id)


def merged_into(session: Session, member_id: int) -> list[int]:
    """Every member merged away (directly or through others) into `member_id`, oldest first."""
    found: list[int] = []
    frontier = [member_id]
    while frontier:
        frontier = list(
            session.scalars(
                select(Member.id).where(Member.survivor_id.in_(frontier), Member.status == MERGED)
            )
        )
        found.extend(frontier)
    return sorted(found)


def member_out(member: Member, *, asked: str | None = None) -> MemberOut:
    own = public_id(member.id)
    return MemberOut(
        id=own,
        resolved_from=asked if asked is not None and asked != own else None,
        status=member.status,
        name=member.name,
        tier=member.tier,
        guide=member.guide,
        store=member.store,
        consent=Consent(
            marketing_sms=member.marketing_sms,
            social_messages=member.social_messages,
            updated_at=member.consent_updated_at,
        ),
        created_at=member.created_at,
        updated_at=member.updated_at,
    )


def merge_outs(session: Session, merges: Sequence[Merge]) -> list[MergeOut]:
    keys = record_keys(
        session, {r for m in merges for r in (m.survivor_record_id, m.absorbed_record_id)}
    )
    return [_merge_out(m, keys[m.survivor_record_id], keys[m.absorbed_record_id]) for m in merges]


_MERGES = cast(Table, Merge.__table__)
_SURVIVOR_RECORD = aliased(SourceRecord)
_ABSORBED_RECORD = aliased(SourceRecord)


def merges_of(session: Session, member_ids: Sequence[int]) -> list[MergeOut]:
    """Every merge that kept or absorbed one of `member_ids`, oldest first, with the keys of the
    records it names: one statement, rows rather than ORM objects (the 360 view asks on every
    call)."""
    rows = session.execute(
        select(
            _MERGES,
            _SURVIVOR_RECORD.source.label("kept_source"),
            _SURVIVOR_RECORD.record_id.label("kept_id"),
            _ABSORBED_RECORD.source.label("gone_source"),
            _ABSORBED_RECORD.record_id.label("gone_id"),
        )
        .join(_SURVIVOR_RECORD, _SURVIVOR_RECORD.id == _MERGES.c.survivor_record_id)
        .join(_ABSORBED_RECORD, _ABSORBED_RECORD.id == _MERGES.c.absorbed_record_id)
        .where(or_(_MERGES.c.survivor_id.in_(member_ids), _MERGES.c.absorbed_id.in_(member_ids)))
        .order_by(_MERGES.c.id)
    )
    return [
        _merge_out(
            row,
            ids.RecordKey(row.kept_source, row.kept_id),
            ids.RecordKey(row.gone_source, row.gone_id),
        )
        for row in rows
    ]


def _merge_out(
    merge: Merge | Row[Any], survivor_record: ids.RecordKey, absorbed_record: ids.RecordKey
) -> MergeOut:
    """A merge as answered, from its ORM object or its row."""
    return MergeOut(
        id=merge.id,
        survivor=public_id(merge.survivor_id),
        absorbed=None if merge.absorbed_id is None else public_id(merge.absorbed_id),
        survivor_record=str(survivor_record),
        absorbed_record=str(absorbed_record),
        kind=merge.kind,
        rule=merge.rule,
        identifier_kind=merge.identifier_kind,
        actor=merge.actor,
        reason=merge.reason,
        created_at=merge.created_at,
        undone_at=merge.undone_at,
        undone_by=merge.undone_by,
    )


def record_keys(session: Session, record_ids: Iterable[int]) -> dict[int, ids.RecordKey]:
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(SourceRecord.id, SourceRecord.source, SourceRecord.record_id).where(
            SourceRecord.id.in_(wanted)
        )
    )
    return {row.id: ids.RecordKey(row.source, row.record_id) for row in rows}


def domain_records(
    session: Session, member_ids: Sequence[int]
) -> dict[int, list[tuple[SourceRecord, ids.SourceRecord]]]:
    """Each member's source records as stored and as the domain sees them (values decrypted)."""
    if not member_ids:
        return {}
    rows = list(
        session.scalars(
            select(SourceRecord)
            .where(SourceRecord.member_id.in_(member_ids))
            .order_by(SourceRecord.id)
        )
    )
    held: dict[int, list[ids.Identity]] = defaultdict(list)
    identities = session.scalars(
        select(Identity).where(Identity.record_id.in_([r.id for r in rows])).order_by(Identity.id)
    )
    box = vault()
    for identity in identities:
        kind = ids.IdentityKind(identity.kind)
        value = box.decrypt(identity.kind, identity.value_encrypted)
        held[identity.record_id].append(ids.Identity(kind, value, identity.source))
    found: dict[int, list[tuple[SourceRecord, ids.SourceRecord]]] = defaultdict(list)
    for row in rows:
        record = ids.SourceRecord(row.source, row.record_id, tuple(held[row.id]), row.name, {})
        found[row.member_id].append((row, record))
    return found


def separations_for(session: Session, record_ids: Sequence[int]) -> list[resolution.Separation]:
    if not record_ids:
        return []
    rows: dict[int, Separation] = {}
    for column in (Separation.first_record_id, Separation.second_record_id):
        for condition in among(session, column, sorted(record_ids)):
            rows.update((s.id, s) for s in session.scalars(select(Separation).where(condition)))
    found = [rows[i] for i in sorted(rows)]
    keys = record_keys(session, {r for s in found for r in (s.first_record_id, s.second_record_id)})
    return [
        resolution.Separation.between(keys[s.first_record_id], keys[s.second_record_id])
        for s in found
    ]


def move_records(session: Session, record_ids: Sequence[int], member_id: int) -> None:
    """Give records, and the identities they carry, to another member."""
    if not record_ids:
        return
    session.execute(
        update(SourceRecord)
        .where(SourceRecord.id.in_(record_ids))
        .values(member_id=member_id)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Identity)
        .where(Identity.record_id.in_(record_ids))
        .values(member_id=member_id)
        .execution_options(synchronize_session=False)
    )


def absorb(session: Session, survivor: Member, absorbed: Member, now: datetime) -> None:
    """Move everything `absorbed` holds into `survivor`; `absorbed`'s id resolves there after."""
    for table in (SourceRecord, Identity):
        session.execute(
            update(table)
            .where(table.member_id == absorbed.id)
            .values(member_id=survivor.id)
            .execution_options(synchronize_session=False)
        )
    absorbed.status = MERGED
    absorbed.survivor_id = survivor.id
    absorbed.updated_at = now
    survivor.updated_at = now
    if not survivor.name and absorbed.name:
        survivor.name = absorbed.name


# --- set-at-a-time reads and writes for bulk ingest -------------------------------------------


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def find_records(
    session: Session, keys: Iterable[ids.RecordKey]
) -> dict[ids.RecordKey, tuple[int, int, str]]:
    """(row id, member id, payload hash) of each stored record among `keys`, found through the
    unique (source, record_id) index: record ids are looked up within their source."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_source[key.source].append(key.record_id)
    found: dict[ids.RecordKey, tuple[int, int, str]] = {}
    columns = (
        SourceRecord.id,
        SourceRecord.record_id,
        SourceRecord.member_id,
        SourceRecord.payload_hash,
    )
    for source, record_ids in sorted(by_source.items()):
        for condition in among(session, SourceRecord.record_id, sorted(record_ids)):
            rows = session.execute(select(*columns).where(SourceRecord.source == source, condition))
            for row_id, record_id, member_id, payload in rows:
                found[ids.RecordKey(source, record_id)] = (row_id, member_id, payload)
    return found


def holders(session: Session, member_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """For each member: (the member it now lives in, that is itself unless merged away; its own
    status), following merge chains a level per query."""
    status: dict[int, tuple[str, int | None]] = {}
    wanted = sorted(set(member_ids))
    for _ in range(_MAX_HOPS):
        if not wanted:
            break
        for condition in among(session, Member.id, wanted):
            for member_id, member_status, survivor_id in session.execute(
                select(Member.id, Member.status, Member.survivor_id).where(condition)
            ):
                status[member_id] = (member_status, survivor_id)
        wanted = sorted({s for _, s in status.values() if s is not None and s not in status})
    found: dict[int, tuple[int, str]] = {}
    for member_id in set(member_ids):
        current = member_id
        for _ in range(_MAX_HOPS):
            survivor = status[current][1]
            if survivor is None:
                break
            current = survivor
        found[member_id] = (current, status[member_id][0])
    return found
