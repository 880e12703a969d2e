"""Members, the source records they are made of, identities, merges, separations and reviews.

Personal data is never stored in the clear where it is looked up: an identity's value is kept
as a keyed hash (`value_hash`, for lookup) and encrypted (`value_encrypted`, for showing and
export). A member's public id is derived from its row id (`M0000000042`), so it never changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, KeyString, UtcDateTime


class Member(Base):
    __tablename__ = "members_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    # Set while merged away: the member this one now lives in (follow it to the active one).
    survivor_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members_members.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(32), default="normal")
    guide: Mapped[str | None] = mapped_column(String(64))
    store: Mapped[str | None] = mapped_column(String(64))
    marketing_sms: Mapped[bool] = mapped_column(default=False)
    social_messages: Mapped[bool] = mapped_column(default=False)
    consent_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the member reached their tier, and when the yearly review last looked at it; the
    # next review is a year after the later of the two (empty: counted from `created_at`).
    tier_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_review_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('active', 'merged', 'erased')", name="status_known"),
        CheckConstraint(
            "(status = 'merged') = (survivor_id IS NOT NULL)", name="survivor_when_merged"
        ),
    )


class SourceRecord(Base):
    """A customer record as one source system holds it; (source, record_id) is its idempotency key.

    `member_id` has no foreign key, nor have a merge's members and records: the member services
    write them together with the members they name, in one transaction, and never delete a
    member or a record (`tests/members/checks.py` asserts every reference holds after every
    kind of change). Each check locked the row it found, which PostgreSQL records on the row and
    in its log: for a bulk import's million records and quarter million merges, a quarter of
    the database's time.
    """

    __tablename__ = "members_source_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(KeyString(50))
    record_id: Mapped[str] = mapped_column(KeyString(100))
    member_id: Mapped[int] = mapped_column(BigId, index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # SHA-256 of the canonical payload: a replay with the same hash changes nothing.
    payload_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("source", "record_id"),)


class Identity(Base):
    """One identifier of a source record, kept with the member the record belongs to.

    A record's identities are written, moved to another member and rewritten only together with
    the record, in its transaction, by the member services: `member_id` is always the record's
    own (`tests/members` checks it after every kind of change). Neither column has a foreign key:
    a bulk import writes two or three identities per record, and checking both keys of every one
    took a third of the database's time for the whole import.
    """

    __tablename__ = "members_identities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, index=True)
    record_id: Mapped[int] = mapped_column(BigId, index=True)
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(50))
    # HMAC-SHA256 of "kind:normalised value" (of the value as sent when it does not normalise).
    value_hash: Mapped[str] = mapped_column(KeyString(64))
    # The value as the source sent it, AES-GCM encrypted; only export shows it whole.
    value_encrypted: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String(8))
    # Whether this identity may join records (a strong kind, status ok).
    matching: Mapped[bool] = mapped_column()

    # A hash index on PostgreSQL: the hash already tells the kind, lookups only ever ask for
    # equality, and it is well under half the size of a B-tree on the hex text (81 against
    # 214 MB for a million records). Identifier hashes arrive in random order: as a B-tree the
    # index outgrew the buffer cache during a large import, and each insert read and wrote back
    # a page of it (a fifth of the import's time).
    __table_args__ = (Index("ix_members_identities_lookup", "value_hash", postgresql_using="hash"),)


class Merge(Base):
    """One join, kept so it can be explained and undone.

    `survivor_record_id` and `absorbed_record_id` are the smallest source records of the two
    sides when they joined (the domain's member keys): un-merging keeps exactly these two apart.
    `absorbed_id` is empty when a lone new record joined a member (no member was absorbed).
    """

    __tablename__ = "members_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(BigId, index=True)
    absorbed_id: Mapped[int | None] = mapped_column(BigId, index=True)
    survivor_record_id: Mapped[int] = mapped_column(BigId)
    absorbed_record_id: Mapped[int] = mapped_column(BigId)
    via_record_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(String(40))
    identifier_kind: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    undone_by: Mapped[str | None] = mapped_column(String(100))
    undone_reason: Mapped[str | None] = mapped_column(String(500))


class Separation(Base):
    """Two source records a person declared to be different people; no join puts them together."""

    __tablename__ = "members_separations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_record_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members_source_records.id"), index=True
    )
    second_record_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members_source_records.id"), index=True
    )
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("first_record_id", "second_record_id"),
        CheckConstraint("first_record_id < second_record_id", name="ordered_pair"),
    )


class Review(Base):
    """A join the rules refused: a person accepts it (merge) or rejects it (separation)."""

    __tablename__ = "members_reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reason: Mapped[str] = mapped_column(String(24))
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_source_records.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_members.id"), index=True)
    other_member_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members_members.id"), index=True
    )
    # The two records whose claims clash (or the kept-apart pair), one per side.
    left_record_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_source_records.id"))
    right_record_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_source_records.id"))
    shared_kind: Mapped[str] = mapped_column(String(24))
    shared_hash: Mapped[str] = mapped_column(KeyString(64))
    status: Mapped[str] = mapped_column(String(10), index=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('open', 'accepted', 'rejected')", name="status_known"),
    )


class PointsEntry(Base):
    """One row of a member's append-only points ledger; `points` is signed.

    A positive entry with `expires_at` opens the lot `lot_id`; every other entry takes from a
    lot. (member, kind, reference, lot) is unique, so a replayed earning, redemption, return or
    expiry cannot book twice.
    """

    __tablename__ = "members_points_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_members.id"))
    kind: Mapped[str] = mapped_column(String(8))
    lot_id: Mapped[str] = mapped_column(String(250))
    points: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    reference: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    channel: Mapped[str | None] = mapped_column(String(50))
    actor: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("member_id", "kind", "reference", "lot_id"),
        Index("ix_members_points_entries_member_recent", "member_id", "id"),
        CheckConstraint(
            "kind IN ('earn', 'redeem', 'expire', 'reverse', 'adjust')", name="kind_known"
        ),
        CheckConstraint("points <> 0", name="points_not_zero"),
    )


class PointsBalance(Base):
    """The ledger's sum per member, kept by one conditional UPDATE per change."""

    __tablename__ = "members_points_balances"

    member_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members_members.id"), primary_key=True
    )
    balance: Mapped[int] = mapped_column(BigId)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)


class PointsEarning(Base):
    """What one sale earned, kept to reverse its returns against (cumulative totals so far)."""

    __tablename__ = "members_points_earnings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sale_ref: Mapped[str] = mapped_column(String(200), unique=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_members.id"), index=True)
    # The member the sale was made under, merged away or not; empty before migration 0012.
    # An un-merge gives the points of sales made under the absorbed member's ids back to it.
    origin_member_id: Mapped[int | None] = mapped_column(BigId, index=True)
    lot_id: Mapped[str] = mapped_column(String(250))
    points: Mapped[int] = mapped_column(BigId)
    eligible_fen: Mapped[int] = mapped_column(BigId)
    excluded_fen: Mapped[int] = mapped_column(BigId)
    eligible_lines: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    channel: Mapped[str | None] = mapped_column(String(50))
    returned_fen: Mapped[int] = mapped_column(BigId, default=0)
    settled_points: Mapped[int] = mapped_column(BigId, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PointsReversal(Base):
    """One return settled against an earning; (earning, reference) makes a replay harmless."""

    __tablename__ = "members_points_reversals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    earning_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_points_earnings.id"))
    reference: Mapped[str] = mapped_column(String(200))
    returned_fen: Mapped[int] = mapped_column(BigId)
    points_reversed: Mapped[int] = mapped_column(BigId)
    points_short: Mapped[int] = mapped_column(BigId)
    refund_deduction_fen: Mapped[int] = mapped_column(BigId)
    forgiven_fen: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("earning_id", "reference"),)


class SpendEntry(Base):
    """One sale (positive) or return (negative) in a member's spend ledger, in fen.

    `source_ref` (`sale:order:<id>`, `return:<id>`) makes a replayed event write nothing.
    `member_id` is the member holding the entry now (it follows merges and un-merges);
    `origin_member_id` is the member the order was placed under, which never changes. `sold_at`
    dates the entry by its sale, so a return counts in the window of the sale it reverses; it is
    empty for a return whose sale has not been booked yet, and filled when the sale comes.
    """

    __tablename__ = "members_spend_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_members.id"))
    origin_member_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("members_members.id"), index=True
    )
    source_ref: Mapped[str] = mapped_column(Text(), unique=True)
    order_ref: Mapped[str] = mapped_column(Text(), index=True)
    kind: Mapped[str] = mapped_column(Text())
    channel: Mapped[str | None] = mapped_column(Text())
    amount_fen: Mapped[int] = mapped_column(BigId)
    sold_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_members_spend_entries_member_sold", "member_id", "sold_at"),
        CheckConstraint("kind IN ('sale', 'return')", name="kind_known"),
        CheckConstraint(
            "(kind = 'sale' AND amount_fen >= 0) OR (kind = 'return' AND amount_fen <= 0)",
            name="sign_by_kind",
        ),
    )


class TierChange(Base):
    """One line of a member's tier history: an upgrade, a review (kept or not), a merge's effect."""

    __tablename__ = "members_tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members_members.id"))
    from_tier: Mapped[str] = mapped_column(Text())
    to_tier: Mapped[str] = mapped_column(Text())
    reason: Mapped[str] = mapped_column(Text())
    spend_fen: Mapped[int] = mapped_column(BigId)
    # What caused it: `order:<id>`, `merge:<id>`, `unmerge:<id>`, `review`.
    reference: Mapped[str] = mapped_column(Text())
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_members_tier_changes_member_recent", "member_id", "id"),)
