"""Taking source records in: each one joins, merges or starts a member by the domain's `decide`.

A batch is resolved in memory (`domain.placement`) and written at the end. The members any
record of the batch could touch are loaded once (a keyed-hash lookup of every strong identifier
in the batch); the records are then placed one by one in ascending (source, record id) order
against the members holding their identifiers, the batch's own new members included, which
reproduces the domain's batch `resolve` exactly.

The batch is written set at a time, without ORM objects: ids are reserved up front (the
sequence on PostgreSQL), rows go in through `kernel.bulk.append_rows` (`COPY` on PostgreSQL),
and stored rows are found through their indexes with one array parameter (`kernel.db.among`).

(source, record id) is the idempotency key: the same payload again changes nothing; a changed
payload replaces the record's name, attributes and identities, and its new identifiers may join
other members. A changed record is never split from its member automatically (an identifier it
dropped may be what joined it): un-merging is a person's decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.kernel.bulk import append_rows, reserve_ids
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.collector import collector_paused
from yipan.kernel.db import among
from yipan.members.domain import identifiers as ids
from yipan.members.domain import identity as resolution
from yipan.members.domain import placement
from yipan.members.domain.placement import Batch, Entry, StoredIdentity
from yipan.members.errors import InvalidRecords
from yipan.members.events import (
    MemberCreated,
    MembersMerged,
    RecordLinked,
    RecordUpdated,
    ReviewRaised,
)
from yipan.members.models import Identity, Member, Merge, Review, SourceRecord
from yipan.members.schemas import IngestReport, Outcome, RecordResult, SourceRecordIn
from yipan.members.service import store
from yipan.members.service.pii import Vault, vault

_MEMBERS = cast(Table, Member.__table__)
_RECORDS = cast(Table, SourceRecord.__table__)
_IDENTITIES = cast(Table, Identity.__table__)
_MERGES = cast(Table, Merge.__table__)
_REVIEWS = cast(Table, Review.__table__)
_OUTCOMES: dict[resolution.Outcome, Outcome] = {
    resolution.Outcome.NEW_MEMBER: "created",
    resolution.Outcome.ATTACH: "attached",
    resolution.Outcome.MERGE: "merged",
    resolution.Outcome.CONFLICT: "conflict",
}


@dataclass(eq=False, slots=True)
class _Incoming:
    record: SourceRecordIn
    entry: Entry
    payload_hash: str
    identities: list[StoredIdentity]


def payload_hash(record: SourceRecordIn) -> str:
    """SHA-256 of the record's canonical JSON: `json.dumps(record.model_dump(mode="json"),
    sort_keys=True, ensure_ascii=False)` (`placement.payload_digest`)."""
    return placement.payload_digest(
        record.source, record.record_id, record.name, record.identities, record.attributes
    )


def as_domain(record: SourceRecordIn) -> ids.SourceRecord:
    return ids.SourceRecord(
        source=record.source,
        record_id=record.record_id,
        identities=tuple(ids.Identity(i.kind, i.value, i.source) for i in record.identities),
        name=record.name,
        attributes={},
    )


def _incoming(record: SourceRecordIn, key: ids.RecordKey, digest: str, box: Vault) -> _Incoming:
    """Classify each identity once: what is stored, and what resolution may join on."""
    entry, rows = placement.classify_sent(key, record.name, record.identities, box.lookup_hash)
    return _Incoming(record, entry, digest, rows)


def ingest_records(
    session: Session,
    records: Sequence[SourceRecordIn],
    *,
    actor: str = "ingest",
    clock: Clock | None = None,
) -> IngestReport:
    """Place each record in a member; replaying a record with the same payload changes nothing."""
    with collector_paused():
        keys, placed = _ingest(session, records, clock)
        return IngestReport.model_construct(results=[_result(key, *placed[key]) for key in keys])


def ingest_counted(
    session: Session, records: Sequence[SourceRecordIn], *, clock: Clock | None = None
) -> Counter[Outcome]:
    """`ingest_records` for a bulk import, which reports how many records had each outcome."""
    with collector_paused():
        _, placed = _ingest(session, records, clock)
    return Counter(outcome for _, outcome, _ in placed.values())


class PartIngest:
    """One process's part of a bulk import, ingested chunk after chunk (`service.parallel`).

    A part shares no strong identifier and no stored member with the other parts, so the members
    its records can reach are the stored ones found when the import was split, loaded once here,
    and the ones its own chunks make. Each chunk is decided against what the chunks before it
    left in memory, exactly as against what they stored, and reads from the database only which
    of its records are stored already. That holds while nothing else writes these people (an
    import's rule, docs/architecture.md). A chunk that fails, here or at its commit, leaves the
    memory unlike the database: the part must stop there (`service.parallel` does).

    `stored_records`, if given, are the part's records found stored when the import was split:
    only those are looked up again, not every chunk's records. A record stored by someone else
    since is refused by the records' unique key, and the chunk fails rather than write it twice.
    """

    def __init__(
        self,
        session: Session,
        stored_members: set[int],
        stored_records: AbstractSet[ids.RecordKey] | None = None,
    ) -> None:
        self._batch = Batch()
        self._stored = stored_records
        with collector_paused():
            _load_members(session, self._batch, stored_members, vault())

    def ingest(
        self, session: Session, records: Sequence[SourceRecordIn], *, clock: Clock | None = None
    ) -> Counter[Outcome]:
        """`ingest_counted` for the next chunk of the part."""
        with collector_paused():
            _, placed = _ingest(session, records, clock, self._batch, self._stored)
        return Counter(outcome for _, outcome, _ in placed.values())


# Where a record ended: its member's row id, the outcome, the reviews it raised.
_Placement = tuple[int, Outcome, list[int]]
_NO_REVIEWS: list[int] = []


def _ingest(
    session: Session,
    records: Sequence[SourceRecordIn],
    clock: Clock | None,
    held: Batch | None = None,
    maybe_stored: AbstractSet[ids.RecordKey] | None = None,
) -> tuple[list[ids.RecordKey], dict[ids.RecordKey, _Placement]]:
    """Decide and write `records`; against `held` (a `PartIngest`'s members) if given, else
    against the stored members they touch, read for this call. Only the records among
    `maybe_stored`, if given, are looked up: the others are taken as new."""
    keys = [ids.RecordKey(r.source, r.record_id) for r in records]
    if len(set(keys)) != len(keys):
        repeated = sorted(str(k) for k, n in Counter(keys).items() if n > 1)
        raise InvalidRecords("a record appears more than once in the batch", records=repeated[:20])
    now = (clock or SystemClock()).now()
    session.flush()
    stored = store.find_records(
        session, keys if maybe_stored is None else [key for key in keys if key in maybe_stored]
    )
    holders = store.holders(session, {row[1] for row in stored.values()})
    box = vault()
    placed: dict[ids.RecordKey, _Placement] = {}
    pending: list[_Incoming] = []
    for record, key in zip(records, keys, strict=True):
        digest = payload_hash(record)
        row = stored.get(key)
        if row is not None:
            holder, status = holders[row[1]]
            # An erased member's records take nothing back in: the person asked to be forgotten.
            if row[2] == digest or status == store.ERASED:
                erased = status == store.ERASED
                placed[key] = (holder, "erased" if erased else "unchanged", _NO_REVIEWS)
                continue
        pending.append(_incoming(record, key, digest, box))
    if not pending:
        return keys, placed

    pending.sort(key=lambda p: p.entry.key)
    if held is None:
        batch = Batch()
        _load_touched(session, batch, pending, stored, box)
    else:
        batch = held
    outcomes: dict[ids.RecordKey, Outcome] = {}
    for item in pending:
        key = item.entry.key
        row = stored.get(key)
        own = batch.handles[row[1]] if row is not None else None
        merges_before = len(batch.merges)
        _, decided = batch.place(item.entry, own)
        absorbed_any = any(m.absorbed is not None for m in batch.merges[merges_before:])
        if row is not None:
            outcomes[key] = "merged" if absorbed_any else "updated"
        else:
            outcome = _OUTCOMES[decided]
            outcomes[key] = "merged" if outcome == "attached" and absorbed_any else outcome

    events_out = _write(session, batch, pending, stored, now, box)
    raised: dict[ids.RecordKey, list[int]] = {}
    for review in batch.reviews:
        raised.setdefault(review.record, []).append(review.row_id)
    for item in pending:
        key = item.entry.key
        member_id = batch.placed[key].final().id
        placed[key] = (member_id, outcomes[key], raised.get(key, _NO_REVIEWS))
    events.record_many(session, events_out, clock=clock)
    batch.settle(now)
    return keys, placed


def _result(
    key: ids.RecordKey, member_id: int, outcome: Outcome, reviews: list[int]
) -> RecordResult:
    # Every value was made here from validated input: validating it again cost as much as
    # deciding the record.
    return RecordResult.model_construct(
        source=key.source,
        record_id=key.record_id,
        member_id=store.public_id(member_id),
        outcome=outcome,
        reviews=list(reviews),
    )


def _load_touched(
    session: Session,
    batch: Batch,
    pending: Sequence[_Incoming],
    stored: dict[ids.RecordKey, tuple[int, int, str]],
    box: Vault,
) -> None:
    """Load every member a pending record could join, its own member included, with separations."""
    hashes = sorted({row[2] for item in pending for row in item.identities if row[5]})
    member_ids: set[int] = {
        stored[item.entry.key][1] for item in pending if item.entry.key in stored
    }
    for condition in among(session, Identity.value_hash, hashes):
        member_ids.update(
            session.scalars(
                select(Identity.member_id).where(condition, Identity.matching).distinct()
            )
        )
    _load_members(session, batch, member_ids, box)


def _load_members(session: Session, batch: Batch, member_ids: set[int], box: Vault) -> None:
    """Load these stored members with all their records and the separations among them.

    A loaded record keeps only its matching identities: they are all that resolution reads.
    """
    if not member_ids:
        return
    wanted = sorted(member_ids)
    members: dict[int, tuple[str, str, datetime]] = {}
    records: list[tuple[int, str, str, int, str]] = []
    for condition in among(session, Member.id, wanted):
        for member_id, name, status, updated_at in session.execute(
            select(Member.id, Member.name, Member.status, Member.updated_at).where(condition)
        ):
            members[member_id] = (name, status, updated_at)
    for condition in among(session, SourceRecord.member_id, wanted):
        records.extend(
            session.execute(
                select(
                    SourceRecord.id,
                    SourceRecord.source,
                    SourceRecord.record_id,
                    SourceRecord.member_id,
                    SourceRecord.name,
                ).where(condition)
            ).all()
        )
    records.sort(key=lambda row: row[0])  # by row id, unique: comparing whole rows costs more
    held: dict[int, list[tuple[ids.IdentityKind, str, str]]] = {}
    for condition in among(session, Identity.record_id, [r[0] for r in records]):
        for row_id, kind, source, sealed in session.execute(
            select(Identity.record_id, Identity.kind, Identity.source, Identity.value_encrypted)
            .where(condition, Identity.matching)
            .order_by(Identity.id)
        ):
            value = box.decrypt(kind, sealed)
            held.setdefault(row_id, []).append((ids.IdentityKind(kind), value, source))
    entries: dict[int, list[Entry]] = {member_id: [] for member_id in wanted}
    for row_id, source, record_id, member_id, name in records:
        key = ids.RecordKey(source, record_id)
        batch.record_ids[key] = row_id
        entries[member_id].append(placement.stored_entry(key, name, tuple(held.get(row_id, ()))))
    for member_id in wanted:
        batch.load(member_id, members[member_id], entries[member_id])
    batch.separations.extend(store.separations_for(session, [r[0] for r in records]))


def _write(
    session: Session,
    batch: Batch,
    pending: Sequence[_Incoming],
    stored: dict[ids.RecordKey, tuple[int, int, str]],
    now: datetime,
    box: Vault,
) -> list[DomainEvent]:
    """Write the batch's members, records, identities, merges and reviews; return its events."""
    _write_stored_members(session, batch, now)
    _write_new_members(session, batch, now)
    record_ids = batch.record_ids
    new = [item for item in pending if item.entry.key not in stored]
    changed = [item for item in pending if item.entry.key in stored]
    for item, row_id in zip(new, reserve_ids(session, _RECORDS, len(new)), strict=True):
        record_ids[item.entry.key] = row_id
    for item in changed:
        record_ids[item.entry.key] = stored[item.entry.key][0]
    append_rows(
        session,
        _RECORDS,
        (
            "id",
            "source",
            "record_id",
            "member_id",
            "name",
            "attributes",
            "payload_hash",
            "created_at",
            "updated_at",
        ),
        [
            (
                record_ids[item.entry.key],
                item.record.source,
                item.record.record_id,
                batch.placed[item.entry.key].final().id,
                item.record.name,
                item.record.attributes,
                item.payload_hash,
                now,
                now,
            )
            for item in new
        ],
    )
    if changed:
        _rewrite_changed(session, batch, changed, record_ids, now)
    _write_identities(session, batch, pending, record_ids, box)
    events_out: list[DomainEvent] = [
        MemberCreated(
            member=store.public_id(handle.id),
            source=first.source if first else "",
            record_id=first.record_id if first else "",
        )
        for handle in batch.created
        for first in [min((r.key for r in handle.records), default=None)]
    ]
    _fill_record_ids(session, batch, record_ids)
    events_out.extend(_write_merges(session, batch, record_ids, now))
    events_out.extend(
        RecordUpdated(
            member=store.public_id(batch.placed[item.entry.key].final().id),
            source=item.entry.key.source,
            record_id=item.entry.key.record_id,
        )
        for item in changed
    )
    events_out.extend(_write_reviews(session, batch, record_ids, now, box))
    _forget_loaded_objects(session)
    return events_out


def _write_stored_members(session: Session, batch: Batch, now: datetime) -> None:
    """Stored members absorbed by this batch move their records into the survivor; stored
    members whose name the batch filled in keep it."""
    moves: list[dict[str, int]] = []
    survivors: dict[int, int] = {}
    # The batch's new members are written whole by `_write_new_members`.
    was_stored = [h for h in batch.changed.values() if h.loaded is not None]
    for handle in was_stored:
        final = handle.final()
        if final is handle:
            continue
        moves.append({"b_from": handle.id, "b_to": final.id})
        survivors[handle.id] = final.id
        handle.status = placement.MERGED
        handle.updated_at = final.updated_at = now
        if not final.name and handle.name:
            final.name = handle.name
    for table in (_RECORDS, _IDENTITIES):
        if moves:
            session.execute(
                update(table)
                .where(table.c.member_id == bindparam("b_from"))
                .values(member_id=bindparam("b_to")),
                moves,
            )
    changes = [
        {
            "b_id": h.id,
            "b_name": h.name,
            "b_status": h.status,
            "b_survivor": survivors.get(h.id),
            "b_updated": h.updated_at,
        }
        for h in was_stored
        if (h.name, h.status, h.updated_at) != h.loaded
    ]
    if changes:
        session.execute(
            update(_MEMBERS)
            .where(_MEMBERS.c.id == bindparam("b_id"))
            .values(
                name=bindparam("b_name"),
                status=bindparam("b_status"),
                survivor_id=bindparam("b_survivor"),
                updated_at=bindparam("b_updated"),
            ),
            changes,
        )


def _write_new_members(session: Session, batch: Batch, now: datetime) -> None:
    created = batch.created
    for handle, member_id in zip(
        created, reserve_ids(session, _MEMBERS, len(created)), strict=True
    ):
        handle.id = member_id
    rows = []
    for handle in created:
        final = handle.final()
        merged = final is not handle
        rows.append(
            (
                handle.id,
                placement.MERGED if merged else placement.ACTIVE,
                final.id if merged else None,
                handle.name,
                "normal",
                False,
                False,
                now,
                now,
            )
        )
    append_rows(
        session,
        _MEMBERS,
        (
            "id",
            "status",
            "survivor_id",
            "name",
            "tier",
            "marketing_sms",
            "social_messages",
            "created_at",
            "updated_at",
        ),
        rows,
    )


def _rewrite_changed(
    session: Session,
    batch: Batch,
    changed: Sequence[_Incoming],
    record_ids: dict[ids.RecordKey, int],
    now: datetime,
) -> None:
    session.execute(
        update(_RECORDS)
        .where(_RECORDS.c.id == bindparam("b_id"))
        .values(
            member_id=bindparam("b_member"),
            name=bindparam("b_name"),
            attributes=bindparam("b_attributes"),
            payload_hash=bindparam("b_hash"),
            updated_at=bindparam("b_updated"),
        ),
        [
            {
                "b_id": record_ids[item.entry.key],
                "b_member": batch.placed[item.entry.key].final().id,
                "b_name": item.record.name,
                "b_attributes": item.record.attributes,
                "b_hash": item.payload_hash,
                "b_updated": now,
            }
            for item in changed
        ],
    )
    stale = sorted(record_ids[item.entry.key] for item in changed)
    for condition in among(session, Identity.record_id, stale):
        session.execute(delete(_IDENTITIES).where(condition))


def _write_identities(
    session: Session,
    batch: Batch,
    pending: Sequence[_Incoming],
    record_ids: dict[ids.RecordKey, int],
    box: Vault,
) -> None:
    sealed = iter(
        box.encrypt_many([(row[0], row[3]) for item in pending for row in item.identities])
    )
    rows = []
    for item in pending:
        key = item.entry.key
        record_id = record_ids[key]
        member_id = batch.placed[key].final().id
        for kind, source, lookup, _, status, joins in item.identities:
            rows.append((member_id, record_id, kind, source, lookup, next(sealed), status, joins))
    append_rows(
        session,
        _IDENTITIES,
        (
            "member_id",
            "record_id",
            "kind",
            "source",
            "value_hash",
            "value_encrypted",
            "status",
            "matching",
        ),
        rows,
    )


def _fill_record_ids(session: Session, batch: Batch, record_ids: dict[ids.RecordKey, int]) -> None:
    """Row ids of records a merge or review names that are neither the batch's nor loaded."""
    wanted = {key for m in batch.merges for key in (m.survivor_key, m.absorbed_key, m.via)} | {
        key for r in batch.reviews for key in (r.record, r.left, r.right)
    }
    missing = [key for key in wanted if key not in record_ids]
    for key, (row_id, _, _) in store.find_records(session, missing).items():
        record_ids[key] = row_id


_MERGE_COLUMNS = (
    "id",
    "survivor_id",
    "absorbed_id",
    "survivor_record_id",
    "absorbed_record_id",
    "via_record_id",
    "kind",
    "rule",
    "identifier_kind",
    "actor",
    "reason",
    "created_at",
)


def _write_merges(
    session: Session, batch: Batch, record_ids: dict[ids.RecordKey, int], now: datetime
) -> list[DomainEvent]:
    rows: list[tuple[Any, ...]] = []
    events_out: list[DomainEvent] = []
    merge_ids = reserve_ids(session, _MERGES, len(batch.merges))
    for merge, merge_id in zip(batch.merges, merge_ids, strict=True):
        survivor = store.public_id(merge.survivor.id)
        rows.append(
            (
                merge_id,
                merge.survivor.id,
                merge.absorbed.id if merge.absorbed else None,
                record_ids[merge.survivor_key],
                record_ids[merge.absorbed_key],
                record_ids[merge.via],
                "members_merged" if merge.absorbed else "record_linked",
                merge.rule,
                merge.identifier_kind,
                "rules",
                "",
                now,
            )
        )
        if merge.absorbed is None:
            events_out.append(
                RecordLinked(
                    member=survivor,
                    source=merge.via.source,
                    record_id=merge.via.record_id,
                    rule=merge.rule,
                )
            )
        else:
            events_out.append(
                MembersMerged(
                    member=survivor,
                    absorbed=store.public_id(merge.absorbed.id),
                    merge_id=merge_id,
                    rule=merge.rule,
                    actor="rules",
                )
            )
    append_rows(session, _MERGES, _MERGE_COLUMNS, rows)
    return events_out


def _write_reviews(
    session: Session,
    batch: Batch,
    record_ids: dict[ids.RecordKey, int],
    now: datetime,
    box: Vault,
) -> list[DomainEvent]:
    rows: list[tuple[Any, ...]] = []
    events_out: list[DomainEvent] = []
    review_ids = reserve_ids(session, _REVIEWS, len(batch.reviews))
    for pending, review_id in zip(batch.reviews, review_ids, strict=True):
        pending.row_id = review_id
        member, other = pending.member.final().id, pending.other.final().id
        shared = pending.shared
        rows.append(
            (
                review_id,
                pending.reason,
                record_ids[pending.record],
                member,
                other,
                record_ids[pending.left],
                record_ids[pending.right],
                shared.kind.value,
                box.lookup_hash(shared.kind.value, shared.value),
                "open",
                now,
            )
        )
        events_out.append(
            ReviewRaised(
                member=store.public_id(member),
                review_id=review_id,
                other_member=store.public_id(other),
                reason=pending.reason,
            )
        )
    append_rows(
        session,
        _REVIEWS,
        (
            "id",
            "reason",
            "record_id",
            "member_id",
            "other_member_id",
            "left_record_id",
            "right_record_id",
            "shared_kind",
            "shared_hash",
            "status",
            "created_at",
        ),
        rows,
    )
    return events_out


def _forget_loaded_objects(session: Session) -> None:
    """Rows were changed behind the ORM's back: objects the caller loaded before are re-read."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Member | SourceRecord | Identity | Merge | Review):
            session.expire(obj)
