"""Events the members context records in the outbox. Payloads carry ids, never personal data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from yipan.events.domain import DomainEvent


@dataclass(frozen=True, kw_only=True)
class _MemberEvent(DomainEvent):
    aggregate: ClassVar[str] = "member"
    member: str

    def aggregate_id(self) -> str:
        return self.member


@dataclass(frozen=True, kw_only=True)
class MemberCreated(_MemberEvent):
    name: ClassVar[str] = "members.MemberCreated"
    source: str
    record_id: str


@dataclass(frozen=True, kw_only=True)
class RecordLinked(_MemberEvent):
    """A source record joined an existing member (no member was absorbed)."""

    name: ClassVar[str] = "members.RecordLinked"
    source: str
    record_id: str
    rule: str


@dataclass(frozen=True, kw_only=True)
class RecordUpdated(_MemberEvent):
    name: ClassVar[str] = "members.RecordUpdated"
    source: str
    record_id: str


@dataclass(frozen=True, kw_only=True)
class MembersMerged(_MemberEvent):
    """`absorbed` now lives in `member`; its id resolves there until the merge is undone."""

    name: ClassVar[str] = "members.MembersMerged"
    absorbed: str
    merge_id: int
    rule: str
    actor: str


@dataclass(frozen=True, kw_only=True)
class MemberUnmerged(_MemberEvent):
    name: ClassVar[str] = "members.MemberUnmerged"
    restored: str
    merge_id: int
    actor: str


@dataclass(frozen=True, kw_only=True)
class MemberErased(_MemberEvent):
    name: ClassVar[str] = "members.MemberErased"


@dataclass(frozen=True, kw_only=True)
class ConsentChanged(_MemberEvent):
    name: ClassVar[str] = "members.ConsentChanged"
    marketing_sms: bool
    social_messages: bool


@dataclass(frozen=True, kw_only=True)
class GuideBound(_MemberEvent):
    """The member is now served by `guide` at `store` (both None: by nobody in particular)."""

    name: ClassVar[str] = "members.GuideBound"
    guide: str | None
    store: str | None
    previous_guide: str | None
    previous_store: str | None
    actor: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReviewRaised(_MemberEvent):
    name: ClassVar[str] = "members.ReviewRaised"
    review_id: int
    other_member: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReviewResolved(_MemberEvent):
    name: ClassVar[str] = "members.ReviewResolved"
    review_id: int
    other_member: str
    accepted: bool
    actor: str


@dataclass(frozen=True, kw_only=True)
class PointsEarned(_MemberEvent):
    name: ClassVar[str] = "members.PointsEarned"
    sale_ref: str
    points: int
    channel: str | None


@dataclass(frozen=True, kw_only=True)
class PointsRedeemed(_MemberEvent):
    name: ClassVar[str] = "members.PointsRedeemed"
    reference: str
    points: int
    value_fen: int
    channel: str | None


@dataclass(frozen=True, kw_only=True)
class PointsReversed(_MemberEvent):
    """A return took back what its sale earned; `refund_deduction_fen` is owed for points that
    were already spent (`points_short`), `forgiven_fen` is what the refund could not cover."""

    name: ClassVar[str] = "members.PointsReversed"
    sale_ref: str
    reference: str
    points_reversed: int
    points_short: int
    refund_deduction_fen: int
    forgiven_fen: int


@dataclass(frozen=True, kw_only=True)
class PointsExpired(_MemberEvent):
    name: ClassVar[str] = "members.PointsExpired"
    points: int
    lots: list[str]


@dataclass(frozen=True, kw_only=True)
class PointsAdjusted(_MemberEvent):
    name: ClassVar[str] = "members.PointsAdjusted"
    reference: str
    points: int
    reason: str
    actor: str


@dataclass(frozen=True, kw_only=True)
class PointsTransferred(_MemberEvent):
    """A merge moved the absorbed member's points, lot by lot, into `member`."""

    name: ClassVar[str] = "members.PointsTransferred"
    absorbed: str
    merge_id: int
    points: int


@dataclass(frozen=True, kw_only=True)
class PointsRestored(_MemberEvent):
    """An un-merge gave `member` back what was left of the points it had brought into `taken_from`."""

    name: ClassVar[str] = "members.PointsRestored"
    taken_from: str
    merge_id: int
    points: int


@dataclass(frozen=True, kw_only=True)
class TierChanged(_MemberEvent):
    """`reason`: upgrade, review_upgrade, review_downgrade, merge or unmerge; `reference` says
    what caused it (`order:<id>`, `merge:<id>`, `unmerge:<id>`, `review`)."""

    name: ClassVar[str] = "members.TierChanged"
    from_tier: str
    to_tier: str
    reason: str
    spend_fen: int
    reference: str
