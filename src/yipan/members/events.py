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
