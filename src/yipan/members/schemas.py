from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from yipan.members.domain.identifiers import IdentityKind
from yipan.orders.schemas import OrderSummary, ReturnSummary

SourceCode = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9._\-]*$")]
AttributeValue = StrictStr | StrictInt | StrictBool | None
Outcome = Literal["created", "attached", "merged", "conflict", "updated", "unchanged", "erased"]
ImportFormat = Literal["csv", "jsonl"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IdentityIn(_In):
    kind: IdentityKind
    value: str = Field(min_length=1, max_length=200)
    source: SourceCode | None = Field(
        default=None, description="Who vouches for it; default the record's source"
    )


class SourceRecordIn(_In):
    """A customer record as a source system holds it; (source, record_id) is its idempotency key."""

    source: SourceCode
    record_id: str = Field(min_length=1, max_length=100)
    name: str = Field(default="", max_length=200)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)
    attributes: dict[Annotated[str, Field(max_length=64)], AttributeValue] = Field(
        default_factory=dict, max_length=50
    )


class RecordBatchIn(_In):
    records: list[SourceRecordIn] = Field(min_length=1, max_length=1000)


class RecordResult(BaseModel):
    source: str
    record_id: str
    member_id: str
    outcome: Outcome
    reviews: list[int] = Field(default_factory=list, description="review items this record raised")


class IngestReport(BaseModel):
    results: list[RecordResult]


class Consent(BaseModel):
    marketing_sms: bool
    social_messages: bool
    updated_at: datetime | None


class GuideBindingIn(_In):
    """The guide (导购) who serves the member and the store they work at; both null unbinds."""

    guide: str | None = Field(default=None, min_length=1, max_length=64)
    store: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _both_or_neither(self) -> GuideBindingIn:
        if (self.guide is None) != (self.store is None):
            raise ValueError("give both the guide and the store, or neither to unbind")
        return self


class ConsentIn(_In):
    """Consent per purpose; a purpose left out keeps its current answer."""

    marketing_sms: StrictBool | None = None
    social_messages: StrictBool | None = None


class MemberOut(BaseModel):
    id: str = Field(description="The Yipan member id, e.g. M0000000042")
    resolved_from: str | None = Field(
        default=None, description="The id asked for, when it was merged away into this member"
    )
    status: str
    name: str
    tier: str
    guide: str | None
    store: str | None
    consent: Consent
    created_at: datetime
    updated_at: datetime


class IdentityOut(BaseModel):
    kind: str
    value: str = Field(description="masked (138****8000); only the export shows it whole")
    source: str
    status: str
    record: str = Field(description="source:record_id of the record that carries it")


class MergeOut(BaseModel):
    id: int
    survivor: str
    absorbed: str | None = Field(description="empty when a lone new record joined the member")
    survivor_record: str
    absorbed_record: str
    kind: str
    rule: str
    identifier_kind: str | None
    actor: str
    reason: str
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class ClaimOut(BaseModel):
    record: str
    name: str


class ReviewOut(BaseModel):
    id: int
    reason: str
    record: str
    member: str
    other_member: str
    left: ClaimOut
    right: ClaimOut
    shared_kind: str
    status: str
    resolved_by: str | None
    resolution_reason: str | None
    created_at: datetime
    resolved_at: datetime | None


class DecisionIn(_In):
    who: str = Field(min_length=1, max_length=100)
    why: str = Field(default="", max_length=500)


class PointsEntryOut(BaseModel):
    id: int
    kind: str
    lot_id: str
    points: int = Field(description="signed: positive adds points, negative takes them")
    at: datetime
    reference: str
    reason: str
    expires_at: datetime | None
    channel: str | None
    actor: str | None


class MemberOrder(OrderSummary):
    member_id: str = Field(description="the Yipan id the order was placed under")


class MemberReturn(ReturnSummary):
    member_id: str = Field(description="the Yipan id the returned order was placed under")


class MemberTagOut(BaseModel):
    kind: str
    value: str
    score: float | None


class HeldCoupon(BaseModel):
    """A coupon issued to the member (or to an id merged into them), as the 360 view shows it."""

    code: str
    template: str
    status: str = Field(description="issued, redeemed or void")
    valid_until: datetime | None
    redeemed_at: datetime | None
    redeemed_channel: str | None


class Member360(BaseModel):
    profile: MemberOut
    identities: list[IdentityOut]
    merges: list[MergeOut]
    orders: list[MemberOrder] = Field(description="newest first, from every channel")
    returns: list[MemberReturn] = Field(
        default_factory=list, description="newest first, taken in any channel"
    )
    points_balance: int = Field(default=0, description="points on the ledger, every channel")
    points_entries: list[PointsEntryOut] = Field(
        default_factory=list,
        description="the ledger's latest entries, newest first (all: GET /members/{id}/points)",
    )
    tier: MemberTierStatus | None = Field(
        default=None, description="tier, benefits and net spend of the last 12 months"
    )
    coupons: list[HeldCoupon] = Field(
        default_factory=list, description="newest first, valid in every channel unless restricted"
    )
    tags: list[MemberTagOut] = Field(
        default_factory=list, description="as the last refresh left them (insights), kind by kind"
    )


class UnmergeResult(BaseModel):
    merge: MergeOut
    members: list[MemberOut]


class ExportedIdentity(BaseModel):
    kind: str
    value: str = Field(description="as the source sent it")
    source: str
    status: str


class ExportedRecord(BaseModel):
    source: str
    record_id: str
    name: str
    attributes: dict[str, AttributeValue]
    identities: list[ExportedIdentity]


class MemberExport(BaseModel):
    """Everything Yipan holds about a member, for an access request."""

    member: MemberOut
    merged_ids: list[str] = Field(description="ids merged away into this member")
    records: list[ExportedRecord]
    merges: list[MergeOut]
    orders: list[MemberOrder] = Field(default_factory=list, description="all, newest first")
    returns: list[MemberReturn] = Field(default_factory=list, description="all, newest first")
    points_entries: list[PointsEntryOut] = Field(
        default_factory=list, description="the whole ledger, newest first"
    )
    tier: MemberTierStatus | None = None
    coupons: list[HeldCoupon] = Field(default_factory=list, description="all, newest first")
    tags: list[MemberTagOut] = Field(default_factory=list)


class MemberImportRowError(BaseModel):
    row: int = Field(description="1-based line (JSONL) or data row (CSV) number")
    record_id: str | None
    code: str
    message: str


class MemberImportReport(BaseModel):
    """Every row counted once, by outcome or in `errors`; rows in `errors` wrote nothing."""

    total: int
    created: int = 0
    attached: int = 0
    merged: int = 0
    conflict: int = 0
    updated: int = 0
    unchanged: int = 0
    erased: int = 0
    errors: list[MemberImportRowError] = Field(default_factory=list)


Reference = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][\w.:\-]*$")]


class PointsOut(BaseModel):
    member: str
    resolved_from: str | None = None
    balance: int = Field(description="the sum of the ledger")
    usable: int = Field(description="what can be redeemed now: lots past expiry no longer count")
    entries: list[PointsEntryOut] = Field(description="newest first")


class RedeemIn(_In):
    points: StrictInt = Field(gt=0, le=10**12)
    reference: Reference = Field(description="idempotency key: a replay answers the first result")
    channel: str | None = Field(default=None, max_length=50)


class RedemptionOut(BaseModel):
    member: str
    reference: str
    points: int
    value_fen: int = Field(description="what the points pay for")
    balance: int
    created: bool = Field(description="False when this was a replay of an earlier redemption")


class AdjustmentIn(_In):
    points: StrictInt = Field(ge=-(10**12), le=10**12, description="signed; never zero")
    reason: str = Field(min_length=1, max_length=400)
    who: str = Field(min_length=1, max_length=100)
    reference: Reference | None = Field(
        default=None, description="idempotency key; one is made up when left out"
    )


class AdjustmentOut(BaseModel):
    member: str
    reference: str
    points: int
    balance: int
    created: bool


class MemberTierBenefits(BaseModel):
    points_multiplier_bp: int = Field(description="points multiplier in basis points (10000 = x1)")
    member_price: bool = Field(description="may buy at member prices")
    free_shipping: bool


class PointsPolicyOut(BaseModel):
    """The points rules in force (`YIPAN_POINTS_*`), for a till or a checkout page to show."""

    earn_points: int = Field(description="points earned for every `earn_per_fen` fen paid …")
    earn_per_fen: int = Field(description="… before the member's tier multiplies them")
    redeem_points: int = Field(description="points worth `redeem_value_fen` fen when redeemed")
    redeem_value_fen: int
    redeem_step: int = Field(description="redemptions come in multiples of this many points")
    expiry_months: int = Field(
        description="points earned in month M expire at the end of month M + this (tenant time)"
    )
    excluded_categories: list[str] = Field(
        description="categories (with their sub-categories) whose lines earn nothing"
    )


class MemberTierStep(BaseModel):
    code: str
    name: str
    threshold_fen: int = Field(description="net spend over 12 months that reaches this tier")
    benefits: MemberTierBenefits


class MemberTierStatus(BaseModel):
    tier: str
    name: str
    benefits: MemberTierBenefits
    rolling_spend_fen: int = Field(
        description="net spend (sales minus returns, every channel) of the last 12 months"
    )
    window_start: datetime = Field(description="sales after this instant count")
    qualifies_for: str = Field(description="the tier this spend reaches today")
    next_tier: MemberTierStep | None = Field(description="the tier above, if any")
    spend_to_next_tier_fen: int | None = Field(
        description="what is still to spend to reach the tier above (0: the next sale upgrades)"
    )
    tier_since: datetime | None
    next_review_at: datetime | None = Field(
        description="when the yearly review may downgrade; none at the lowest tier"
    )


class MemberTierChangeOut(BaseModel):
    id: int
    from_tier: str
    to_tier: str
    reason: str = Field(
        description="upgrade, review_kept, review_upgrade, review_downgrade, merge or unmerge"
    )
    spend_fen: int = Field(description="rolling spend when it was decided")
    reference: str = Field(description="order:<id>, merge:<id>, unmerge:<id> or review")
    at: datetime


class MemberTierOut(MemberTierStatus):
    member: str
    resolved_from: str | None = None
    history: list[MemberTierChangeOut] = Field(description="newest first")


Member360.model_rebuild()
