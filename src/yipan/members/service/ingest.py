"""Taking source records in: each one joins, merges or starts a member by the domain's `decide`.

A batch is resolved in memory and written at the end. The members any record of the batch could
touch are loaded once (a keyed-hash lookup of every strong identifier in the batch); the records
are then decided one by one in ascending (source, record id) order against the members holding
their identifiers, the batch's own new members included. Deciding in key order reproduces the
domain's batch `resolve` exactly (see `identity`), so one path serves the API and bulk imports;
rows are then written with `bulk_insert` (COPY on PostgreSQL).

(source, record id) is the idempotency key: the same payload again changes nothing; a changed
payload replaces the record's name, attributes and identities, and its new identifiers may join
other members. A changed record is never split from its member automatically (an identifier it
dropped may be what joined it): un-merging is a person's decision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import bulk_insert
from yipan.members.domain import identifiers as ids
from yipan.members.domain import identity as resolution
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
from yipan.members.service.pii import vault

_IDENTITIES = cast(Table, Identity.__table__)
_MERGES = cast(Table, Merge.__table__)
_OUTCOMES: dict[resolution.Outcome, Outcome] = {
    resolution.Outcome.NEW_MEMBER: "created",
    resolution.Outcome.ATTACH: "attached",
    resolution.Outcome.MERGE: "merged",
    resolution.Outcome.CONFLICT: "conflict",
}


@dataclass(eq=False)
class _Handle:
    """A member while the batch is resolved; `row` has no id yet when the batch created it."""

    row: Member
    rank: tuple[int, int]  # older members survive: stored ones by id, then new in creation order
    records: list[ids.SourceRecord] = field(default_factory=list)
    absorbed_into: _Handle | None = None

    def final(self) -> _Handle:
        handle = self
        while handle.absorbed_into is not None:
            handle = handle.absorbed_into
        return handle


@dataclass
class _PendingMerge:
    survivor: _Handle
    absorbed: _Handle | None
    survivor_key: ids.RecordKey
    absorbed_key: ids.RecordKey
    via: ids.RecordKey
    rule: str
    identifier_kind: str


@dataclass
class _PendingReview:
    reason: str
    record: ids.RecordKey
    member: _Handle
    other: _Handle
    left: ids.RecordKey
    right: ids.RecordKey
    shared: ids.IdentifierKey
    row_id: int = 0


class _Batch:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.index: dict[ids.IdentifierKey, list[_Handle]] = {}
        self.handles: dict[int, _Handle] = {}
        self.created: list[_Handle] = []
        self.merges: list[_PendingMerge] = []
        self.reviews: list[_PendingReview] = []
        self.separations: list[resolution.Separation] = []
        self.placed: dict[ids.RecordKey, _Handle] = {}
        self._sequence = count()

    def load(self, member: Member, records: Sequence[ids.SourceRecord]) -> _Handle:
        handle = _Handle(member, (0, member.id), list(records))
        self.handles[member.id] = handle
        for record in records:
            self._index(handle, record)
        return handle

    def new_member(self, record: ids.SourceRecord) -> _Handle:
        name = record.name.strip() if ids.normalise_name(record.name) else ""
        row = Member(
            status=store.ACTIVE,
            name=name,
            tier="normal",
            marketing_sms=False,
            social_messages=False,
            created_at=self.now,
            updated_at=self.now,
        )
        handle = _Handle(row, (1, next(self._sequence)))
        self.created.append(handle)
        return handle

    def _index(self, handle: _Handle, record: ids.SourceRecord) -> None:
        for key in ids.strong_keys(record):
            holders = self.index.setdefault(key, [])
            if handle not in holders:
                holders.append(handle)

    def _unindex(self, handle: _Handle, records: Sequence[ids.SourceRecord]) -> None:
        for record in records:
            for key in ids.strong_keys(record):
                holders = self.index.get(key, [])
                if handle in holders:
                    holders.remove(handle)

    def touched(self, record: ids.SourceRecord) -> list[_Handle]:
        found: dict[int, _Handle] = {}
        for key in ids.strong_keys(record):
            for handle in self.index.get(key, ()):
                final = handle.final()
                found[id(final)] = final
        return list(found.values())

    def place(
        self, record: ids.SourceRecord, own: _Handle | None
    ) -> tuple[_Handle, resolution.Decision]:
        """Decide `record` against the members it touches and apply the decision in memory."""
        if own is not None:
            before = own.records
            own.records = [r for r in before if r.key != record.key]
            self._unindex(own, before)
            for kept in own.records:
                self._index(own, kept)
        handles = [h for h in self.touched(record) if h is not own]
        if own is not None and own.records:
            handles.append(own)
        groups = {id(h): resolution.MemberGroup(tuple(h.records)) for h in handles}
        decision = resolution.decide(record, groups.values(), separations=self.separations)
        owner: dict[ids.RecordKey, _Handle | None] = {groups[id(h)].key: h for h in handles}
        owner[record.key] = own
        for merge in decision.merges:
            left, right = owner[merge.survivor], owner[merge.absorbed]
            joined = self._join(record, merge, left, right)
            owner.pop(merge.absorbed)
            owner[merge.survivor] = joined
        handle = owner[decision.member_key] or self.new_member(record)
        handle = handle.final()
        for review in decision.reviews:
            other = owner.get(review.other_member)
            if other is None or other.final() is handle:
                continue
            first = review.left.record if review.left else review.record
            second = review.right.record if review.right else review.other_member
            if review.separation is not None:
                first, second = review.separation.first, review.separation.second
            self.reviews.append(
                _PendingReview(
                    review.reason.value,
                    record.key,
                    handle,
                    other.final(),
                    first,
                    second,
                    review.shared,
                )
            )
        if not handle.row.name and ids.normalise_name(record.name):
            handle.row.name = record.name.strip()
        handle.records.append(record)
        self._index(handle, record)
        self.placed[record.key] = handle
        return handle, decision

    def _join(
        self,
        record: ids.SourceRecord,
        merge: resolution.MergeRecord,
        left: _Handle | None,
        right: _Handle | None,
    ) -> _Handle | None:
        if left is None or right is None or left.final() is right.final():
            target = left or right
            if target is None:
                return None
            target = target.final()
            lone_key = merge.absorbed if right is None else merge.survivor
            kept_key = merge.survivor if right is None else merge.absorbed
            if (left is None) != (right is None):
                self.merges.append(
                    _PendingMerge(
                        target,
                        None,
                        kept_key,
                        lone_key,
                        record.key,
                        merge.rule,
                        merge.identifier.kind.value,
                    )
                )
            return target
        left, right = left.final(), right.final()
        survivor, absorbed = (left, right) if left.rank < right.rank else (right, left)
        survivor_key, absorbed_key = (
            (merge.survivor, merge.absorbed)
            if survivor is left
            else (merge.absorbed, merge.survivor)
        )
        self.merges.append(
            _PendingMerge(
                survivor,
                absorbed,
                survivor_key,
                absorbed_key,
                record.key,
                merge.rule,
                merge.identifier.kind.value,
            )
        )
        absorbed.absorbed_into = survivor
        moved, absorbed.records = absorbed.records, []
        self._unindex(absorbed, moved)
        survivor.records.extend(moved)
        for kept in moved:
            self._index(survivor, kept)
        return survivor


def payload_hash(record: SourceRecordIn) -> str:
    canonical = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def as_domain(record: SourceRecordIn) -> ids.SourceRecord:
    return ids.SourceRecord(
        source=record.source,
        record_id=record.record_id,
        identities=tuple(ids.Identity(i.kind, i.value, i.source) for i in record.identities),
        name=record.name,
        attributes={},
    )


def ingest_records(
    session: Session,
    records: Sequence[SourceRecordIn],
    *,
    actor: str = "ingest",
    clock: Clock | None = None,
) -> IngestReport:
    """Place each record in a member; replaying a record with the same payload changes nothing."""
    keys = [(r.source, r.record_id) for r in records]
    if len(set(keys)) != len(keys):
        repeated = sorted({f"{s}:{i}" for s, i in keys if keys.count((s, i)) > 1})
        raise InvalidRecords("a record appears more than once in the batch", records=repeated[:20])
    now = (clock or SystemClock()).now()
    session.flush()
    stored = _stored_records(session, records)
    hashes = {(r.source, r.record_id): payload_hash(r) for r in records}
    results: dict[tuple[str, str], RecordResult] = {}
    # Into the identity map at once, so the per-record `session.get` below costs no query.
    member_ids = sorted({row.member_id for row in stored.values()})
    for start in range(0, len(member_ids), 1000):
        list(session.scalars(select(Member).where(Member.id.in_(member_ids[start : start + 1000]))))
    pending: list[SourceRecordIn] = []
    for record in records:
        row = stored.get((record.source, record.record_id))
        if row is None:
            pending.append(record)
            continue
        member = session.get(Member, row.member_id)
        assert member is not None
        # An erased member's records take nothing back in: the person asked to be forgotten.
        if (
            row.payload_hash == hashes[(record.source, record.record_id)]
            or member.status == store.ERASED
        ):
            outcome: Outcome = "erased" if member.status == store.ERASED else "unchanged"
            results[(record.source, record.record_id)] = RecordResult(
                source=record.source,
                record_id=record.record_id,
                member_id=store.public_id(store.holder(session, member).id),
                outcome=outcome,
            )
            continue
        pending.append(record)
    if not pending:
        return IngestReport(results=[results[k] for k in keys])

    batch = _Batch(now)
    domain = {(r.source, r.record_id): as_domain(r) for r in pending}
    _load_touched(session, batch, pending, domain, stored)
    events_out: list[DomainEvent] = []
    outcomes: dict[tuple[str, str], Outcome] = {}
    for record in sorted(pending, key=lambda r: (r.source, r.record_id)):
        key = (record.source, record.record_id)
        row = stored.get(key)
        own = batch.handles[row.member_id] if row is not None else None
        merges_before = len(batch.merges)
        handle, decision = batch.place(domain[key], own)
        absorbed_any = any(m.absorbed is not None for m in batch.merges[merges_before:])
        if row is not None:
            outcomes[key] = "merged" if absorbed_any else "updated"
        else:
            outcome = _OUTCOMES[decision.outcome]
            outcomes[key] = "merged" if outcome == "attached" and absorbed_any else outcome

    _write(session, batch, pending, domain, stored, hashes, now, events_out)
    for record in pending:
        key = (record.source, record.record_id)
        handle = batch.placed[ids.RecordKey(*key)].final()
        results[key] = RecordResult(
            source=record.source,
            record_id=record.record_id,
            member_id=store.public_id(handle.row.id),
            outcome=outcomes[key],
            reviews=[r.row_id for r in batch.reviews if r.record == ids.RecordKey(*key)],
        )
    events.record_many(session, events_out, clock=clock)
    return IngestReport(results=[results[k] for k in keys])


def _stored_records(
    session: Session, records: Sequence[SourceRecordIn]
) -> dict[tuple[str, str], SourceRecord]:
    wanted = {(r.source, r.record_id) for r in records}
    found: dict[tuple[str, str], SourceRecord] = {}
    record_ids = sorted({r.record_id for r in records})
    for start in range(0, len(record_ids), 1000):
        chunk = record_ids[start : start + 1000]
        for row in session.scalars(select(SourceRecord).where(SourceRecord.record_id.in_(chunk))):
            if (row.source, row.record_id) in wanted:
                found[(row.source, row.record_id)] = row
    return found


def _load_touched(
    session: Session,
    batch: _Batch,
    pending: Sequence[SourceRecordIn],
    domain: dict[tuple[str, str], ids.SourceRecord],
    stored: dict[tuple[str, str], SourceRecord],
) -> None:
    """Load every member a pending record could join, its own member included, with separations."""
    box = vault()
    hashes = sorted(
        {
            box.lookup_hash(key.kind.value, key.value)
            for record in domain.values()
            for key in ids.strong_keys(record)
        }
    )
    member_ids: set[int] = {
        stored[(r.source, r.record_id)].member_id
        for r in pending
        if (r.source, r.record_id) in stored
    }
    for start in range(0, len(hashes), 1000):
        member_ids.update(
            session.scalars(
                select(Identity.member_id)
                .where(Identity.value_hash.in_(hashes[start : start + 1000]), Identity.matching)
                .distinct()
            )
        )
    if not member_ids:
        return
    members = {
        m.id: m for m in session.scalars(select(Member).where(Member.id.in_(sorted(member_ids))))
    }
    loaded = store.domain_records(session, sorted(member_ids))
    record_ids: list[int] = []
    for member_id in sorted(member_ids):
        pairs = loaded.get(member_id, [])
        record_ids.extend(row.id for row, _ in pairs)
        batch.load(members[member_id], [record for _, record in pairs])
    batch.separations = store.separations_for(session, record_ids)


def _write(
    session: Session,
    batch: _Batch,
    pending: Sequence[SourceRecordIn],
    domain: dict[tuple[str, str], ids.SourceRecord],
    stored: dict[tuple[str, str], SourceRecord],
    hashes: dict[tuple[str, str], str],
    now: datetime,
    events_out: list[DomainEvent],
) -> None:
    session.add_all([h.row for h in batch.created])
    session.flush()
    for handle in [*batch.handles.values(), *batch.created]:
        final = handle.final()
        if final is not handle:
            if handle.rank[0] == 0:  # stored before this batch: move its rows too
                store.absorb(session, final.row, handle.row, now)
            else:
                handle.row.status = store.MERGED
                handle.row.survivor_id = final.row.id
    by_key = {(r.source, r.record_id): r for r in pending}
    new_rows: list[SourceRecord] = []
    changed: list[SourceRecord] = []
    for key, record in by_key.items():
        member_id = batch.placed[ids.RecordKey(*key)].final().row.id
        row = stored.get(key)
        if row is None:
            row = SourceRecord(
                source=record.source,
                record_id=record.record_id,
                member_id=member_id,
                name=record.name,
                attributes=record.attributes,
                payload_hash=hashes[key],
                created_at=now,
                updated_at=now,
            )
            new_rows.append(row)
            stored[key] = row
        else:
            row.member_id = member_id
            row.name = record.name
            row.attributes = record.attributes
            row.payload_hash = hashes[key]
            row.updated_at = now
            changed.append(row)
    session.add_all(new_rows)
    session.flush()
    if changed:
        session.execute(delete(Identity).where(Identity.record_id.in_([r.id for r in changed])))
    box = vault()
    identity_rows: list[dict[str, Any]] = []
    for key in by_key:
        row = stored[key]
        for identity in ids.identity_rows(domain[key], ids.RecordKey(*key)):
            lookup = (
                identity.value
                if identity.status is not ids.IdentityStatus.INVALID
                else identity.raw
            )
            identity_rows.append(
                {
                    "member_id": row.member_id,
                    "record_id": row.id,
                    "kind": identity.kind.value,
                    "source": identity.source,
                    "value_hash": box.lookup_hash(identity.kind.value, lookup),
                    "value_encrypted": box.encrypt(identity.kind.value, identity.raw),
                    "status": identity.status.value,
                    "matching": identity.matching,
                }
            )
    bulk_insert(session, _IDENTITIES, identity_rows)

    record_id_of = _record_ids(session, stored, batch)
    links: list[dict[str, Any]] = []
    absorptions: list[tuple[_PendingMerge, Merge]] = []
    for merge in batch.merges:
        values = {
            "survivor_id": merge.survivor.row.id,
            "absorbed_id": merge.absorbed.row.id if merge.absorbed else None,
            "survivor_record_id": record_id_of[merge.survivor_key],
            "absorbed_record_id": record_id_of[merge.absorbed_key],
            "via_record_id": record_id_of[merge.via],
            "kind": "members_merged" if merge.absorbed else "record_linked",
            "rule": merge.rule,
            "identifier_kind": merge.identifier_kind,
            "actor": "rules",
            "reason": "",
            "created_at": now,
            "undone_at": None,
            "undone_by": None,
            "undone_reason": None,
        }
        if merge.absorbed is None:
            links.append(values)
            events_out.append(
                RecordLinked(
                    member=store.public_id(merge.survivor.row.id),
                    source=merge.via.source,
                    record_id=merge.via.record_id,
                    rule=merge.rule,
                )
            )
            continue
        absorptions.append((merge, Merge(**values)))
    session.add_all([row for _, row in absorptions])
    session.flush()
    for merge, merge_row in absorptions:
        assert merge.absorbed is not None
        events_out.append(
            MembersMerged(
                member=store.public_id(merge.survivor.row.id),
                absorbed=store.public_id(merge.absorbed.row.id),
                merge_id=merge_row.id,
                rule=merge.rule,
                actor="rules",
            )
        )
    bulk_insert(session, _MERGES, links)

    for handle in batch.created:
        first = min(r.key for r in handle.records) if handle.records else None
        events_out.insert(
            0,
            MemberCreated(
                member=store.public_id(handle.row.id),
                source=first.source if first else "",
                record_id=first.record_id if first else "",
            ),
        )
    for row in changed:
        events_out.append(
            RecordUpdated(
                member=store.public_id(row.member_id), source=row.source, record_id=row.record_id
            )
        )
    for pending_review in batch.reviews:
        review = Review(
            reason=pending_review.reason,
            record_id=record_id_of[pending_review.record],
            member_id=pending_review.member.final().row.id,
            other_member_id=pending_review.other.final().row.id,
            left_record_id=record_id_of[pending_review.left],
            right_record_id=record_id_of[pending_review.right],
            shared_kind=pending_review.shared.kind.value,
            shared_hash=box.lookup_hash(
                pending_review.shared.kind.value, pending_review.shared.value
            ),
            status="open",
            created_at=now,
        )
        session.add(review)
        session.flush()
        pending_review.row_id = review.id
        events_out.append(
            ReviewRaised(
                member=store.public_id(review.member_id),
                review_id=review.id,
                other_member=store.public_id(review.other_member_id),
                reason=review.reason,
            )
        )


def _record_ids(
    session: Session, stored: dict[tuple[str, str], SourceRecord], batch: _Batch
) -> dict[ids.RecordKey, int]:
    """Row ids of every record a merge or review names: the batch's and the loaded members'."""
    found = {ids.RecordKey(*key): row.id for key, row in stored.items()}
    wanted = {key for m in batch.merges for key in (m.survivor_key, m.absorbed_key, m.via)} | {
        key for r in batch.reviews for key in (r.record, r.left, r.right)
    }
    missing = [key for key in wanted if key not in found]
    if missing:
        record_ids = sorted({key.record_id for key in missing})
        for start in range(0, len(record_ids), 1000):
            rows = session.scalars(
                select(SourceRecord).where(
                    SourceRecord.record_id.in_(record_ids[start : start + 1000])
                )
            )
            for row in rows:
                found[store.record_key(row)] = row.id
    return found
