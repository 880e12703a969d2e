"""Members over HTTP. Views mask phones and e-mails; only the export shows them whole, and only
HQ administrators may export or erase (`members.export`, `members.erase`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from yipan import data_scope as scoped
from yipan.auth.api import allowed, require
from yipan.auth.domain import Principal
from yipan.insights.service import tags as member_tags
from yipan.kernel.db import serializable_work, unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, BeforeId, EngineDep, IdPath
from yipan.members.errors import UnknownMember
from yipan.members.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    ConsentIn,
    DecisionIn,
    GuideBindingIn,
    ImportFormat,
    IngestReport,
    Member360,
    MemberExport,
    MemberImportReport,
    MemberOut,
    MemberTierOut,
    MemberTierStep,
    PointsOut,
    PointsPolicyOut,
    RecordBatchIn,
    RedeemIn,
    RedemptionOut,
    ReviewOut,
    SourceCode,
    UnmergeResult,
)
from yipan.members.service import importing, ingest, points, profile, review, tiers
from yipan.promotions.service import coupons

router = APIRouter(prefix="/api/v1/members", tags=["members"], responses=ERROR_RESPONSES)

MemberId = Annotated[str, Path(min_length=1, max_length=32, description="e.g. M0000000042")]
# A store's or region's staff see the members bound to their stores or who bought there; a
# member outside their scope answers 404, as an unknown one does.
Reader = Annotated[Principal, Depends(require("members.read"))]
Writer = Annotated[Principal, Depends(require("members.write"))]
Binder = Annotated[Principal, Depends(require("members.bind"))]


@router.get("/tier-ladder", dependencies=allowed("members.read"))
def tier_ladder() -> list[MemberTierStep]:
    """The tiers, lowest first: the 12-month net spend each needs and its benefits
    (`YIPAN_TIER_LADDER` changes them)."""
    return tiers.ladder_out()


@router.get("/points-policy", dependencies=allowed("members.read"))
def points_policy() -> PointsPolicyOut:
    """How points are earned, what they are worth and how long they last
    (`YIPAN_POINTS_EARN_RATE`, `YIPAN_POINTS_REDEEM_RATE`, `YIPAN_POINTS_EXPIRY_MONTHS`,
    `YIPAN_POINTS_EXCLUDED_CATEGORIES`)."""
    return points.policy_out()


@router.post("/records", dependencies=allowed("members.write"))
def ingest_records(batch: RecordBatchIn, engine: EngineDep) -> IngestReport:
    """Take in source records; each joins, merges or starts a member. Replays change nothing.

    Two tills sending the same new customer at once end with one member: the ingest runs as if
    alone (`serializable_work`), the one made to give way is run again and joins the other's."""
    return serializable_work(engine, lambda session: ingest.ingest_records(session, batch.records))


async def _raw_body(request: Request) -> bytes:
    return await request.body()


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "CSV with a header row, or JSON Lines (one record a line)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/import", openapi_extra=_IMPORT_BODY, dependencies=allowed("members.write"))
def import_records(
    engine: EngineDep,
    body: Annotated[bytes, Depends(_raw_body)],
    source: Annotated[SourceCode, Query(description="the system the file comes from, e.g. pos")],
    fmt: Annotated[ImportFormat, Query(alias="format")] = "csv",
) -> MemberImportReport:
    """Import a file of source records: bad rows are reported by number, good rows kept."""
    rows = list(importing.read_rows(body, fmt))
    return serializable_work(
        engine, lambda session: importing.import_records(session, rows, source=source)
    )


@router.get("")
def find_members(
    engine: EngineDep,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    email: Annotated[str | None, Query(max_length=200)] = None,
    *,
    who: Reader,
) -> list[MemberOut]:
    """Look members up by phone or e-mail, written in any usual format (+86 138-0013-8001)."""
    with unit_of_work(engine, readonly=True) as session:
        found = profile.find_members(session, phone=phone, email=email)
        if who.scope.kind == "all":
            return found
        visible = scoped.visible_nodes(session, who.scope)
        return [
            m
            for m in found
            if scoped.sees_member(session, profile.member_360(session, m.id), visible)
        ]


@router.get("/reviews", dependencies=allowed("members.merge"))
def list_reviews(
    engine: EngineDep,
    status: Literal["open", "accepted", "rejected"] | None = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReviewOut]:
    with unit_of_work(engine, readonly=True) as session:
        return review.list_reviews(session, status=status, limit=limit)


@router.post("/reviews/{review_id}/accept", dependencies=allowed("members.merge"))
def accept_review(review_id: IdPath, decision: DecisionIn, engine: EngineDep) -> ReviewOut:
    """The two sides are one person: merge them."""
    with unit_of_work(engine) as session:
        return review.accept_review(session, review_id, decision)


@router.post("/reviews/{review_id}/reject", dependencies=allowed("members.merge"))
def reject_review(review_id: IdPath, decision: DecisionIn, engine: EngineDep) -> ReviewOut:
    """Different people: keep them apart from now on."""
    with unit_of_work(engine) as session:
        return review.reject_review(session, review_id, decision)


@router.post("/merges/{merge_id}/undo", dependencies=allowed("members.merge"))
def undo_merge(merge_id: IdPath, decision: DecisionIn, engine: EngineDep) -> UnmergeResult:
    """Split a member along one merge; the absorbed member comes back with its records."""
    with unit_of_work(engine) as session:
        return review.unmerge(session, merge_id, decision)


@router.get("/{member_id}")
def get_member(member_id: MemberId, engine: EngineDep, who: Reader) -> MemberOut:
    """A member; an id merged away answers with its survivor (`resolved_from` says so)."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        return profile.get_member(session, member_id)


@router.get("/{member_id}/360")
def member_360(member_id: MemberId, engine: EngineDep, who: Reader) -> Member360:
    with unit_of_work(engine, readonly=True) as session:
        view = profile.member_360(session, member_id, unmasked=who.may("members.pii"))
        if not scoped.sees_member(session, view, scoped.visible_nodes(session, who.scope)):
            raise UnknownMember(f"no member {member_id}", member_id=member_id)
        return member_tags.with_tags(session, coupons.with_coupons(session, view))


@router.get("/{member_id}/export", dependencies=allowed("members.export"))
def export_member(member_id: MemberId, engine: EngineDep) -> MemberExport:
    """Everything held about the member, unmasked: the answer to a data access request."""
    with unit_of_work(engine, readonly=True) as session:
        exported = profile.export_member(session, member_id)
        held = [exported.member.id, *exported.merged_ids]
        return exported.model_copy(
            update={
                "coupons": coupons.held_coupons(session, held, limit=None),
                "tags": member_tags.held_tags(session, exported.member.id),
            }
        )


@router.post("/{member_id}/erase", dependencies=allowed("members.erase"))
def erase_member(member_id: MemberId, engine: EngineDep) -> MemberOut:
    """Anonymise the member; the id stays so orders and ledgers keep adding up. Idempotent."""
    with unit_of_work(engine) as session:
        return profile.erase_member(session, member_id)


@router.put("/{member_id}/guide")
def bind_guide(
    member_id: MemberId, binding: GuideBindingIn, engine: EngineDep, who: Binder
) -> MemberOut:
    """Bind the member to the guide (导购) who serves them and that guide's store, or unbind them
    (both null). A store's manager binds to their own store; the member must be one they see."""
    with unit_of_work(engine) as session:
        scoped.check_member(session, who.scope, member_id)
        if binding.store is not None:
            scoped.check_node(session, who.scope, binding.store, "binding a member to a guide")
        return profile.bind_guide(session, member_id, binding, actor=who.name)


@router.put("/{member_id}/consent")
def update_consent(
    member_id: MemberId, consent: ConsentIn, engine: EngineDep, who: Writer
) -> MemberOut:
    with unit_of_work(engine) as session:
        scoped.check_member(session, who.scope, member_id)
        return profile.update_consent(session, member_id, consent)


@router.get("/{member_id}/tier")
def member_tier(
    member_id: MemberId,
    engine: EngineDep,
    who: Reader,
    history_limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MemberTierOut:
    """The tier, its benefits, net spend of the last 12 months (every channel, returns taken
    off), what the next tier needs, the next yearly review, and the tier history."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        return tiers.tier_of(session, member_id, history_limit=history_limit)


@router.get("/{member_id}/points")
def member_points(
    member_id: MemberId,
    engine: EngineDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: BeforeId = None,
) -> PointsOut:
    """The balance, what is usable now, and the ledger newest first (page with `before_id`)."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        return points.ledger(session, member_id, limit=limit, before_id=before_id)


_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"description": "A replay of the reference: the first result"}
}


@router.post("/{member_id}/points/redeem", status_code=201, responses=_REPLAYED)
def redeem_points(
    member_id: MemberId, redeem: RedeemIn, engine: EngineDep, response: Response, who: Writer
) -> RedemptionOut:
    """Spend points in any channel; too few is a 409 and changes nothing. Replays are harmless."""
    with unit_of_work(engine) as session:
        scoped.check_member(session, who.scope, member_id)
        out = points.redeem(
            session, member_id, redeem.points, redeem.reference, channel=redeem.channel
        )
    response.status_code = 201 if out.created else 200
    return out


@router.post("/{member_id}/points/adjustments", status_code=201, responses=_REPLAYED)
def adjust_points(
    member_id: MemberId,
    adjustment: AdjustmentIn,
    engine: EngineDep,
    response: Response,
    who: Writer,
) -> AdjustmentOut:
    """A manual correction, with who and why; removing points never goes below zero."""
    with unit_of_work(engine) as session:
        scoped.check_member(session, who.scope, member_id)
        out = points.adjust(
            session,
            member_id,
            adjustment.points,
            adjustment.reason,
            adjustment.who,
            reference=adjustment.reference,
        )
    response.status_code = 201 if out.created else 200
    return out
