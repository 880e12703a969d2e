"""HTTP routes for marketers' segments: saved filters over member tags and attributes, with
their member counts and members (keyset pages). Counts and members are those the caller's data
scope sees."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.data_scope import visible_nodes
from yipan.insights.domain.segments import FILTER_NAMES
from yipan.insights.service import segments
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, IdPath, Offset
from yipan.promotions.service import coupons

router = APIRouter(prefix="/api/v1/insights/segments", tags=["insights"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("members.read"))]
Writer = Annotated[Principal, Depends(require("segments.write"))]
Issuer = Annotated[Principal, Depends(require("promotions.write"))]

_FILTERS = (
    "filter name → values (any of them); names: "
    + ", ".join(FILTER_NAMES)
    + '. e.g. {"rfm_segment": ["at_risk"], "tier": ["gold"]}; {} is every active member'
)
Filters = Annotated[dict[str, list[str]], Field(description=_FILTERS)]


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: Filters = Field(default_factory=dict)


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    filters: Filters = Field(default_factory=dict)


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    filters: Filters | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    filters: dict[str, list[str]]
    member_count: int = Field(description="active members the filter takes, in your scope")
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class SegmentPageOut(BaseModel):
    total: int
    segments: list[SegmentOut]


class CountOut(BaseModel):
    filters: dict[str, list[str]]
    member_count: int


class SegmentMemberOut(BaseModel):
    member_id: str
    tier: str
    store: str | None
    rfm_segment: str | None
    lapse_risk: str | None


class MembersOut(BaseModel):
    members: list[SegmentMemberOut]
    next_after: str | None = Field(
        description="pass as `after` for the next page; empty at the end"
    )


def _out(session: Session, view: segments.SegmentView, visible: list[str] | None) -> SegmentOut:
    count = segments.count_members(session, view.filters, visible=visible)
    return SegmentOut(
        id=view.id,
        name=view.name,
        description=view.description,
        filters=view.filters,
        member_count=count,
        created_by=view.created_by,
        updated_by=view.updated_by,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


@router.get("")
def list_segments(
    engine: EngineDep,
    who: Reader,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SegmentPageOut:
    """Saved segments by name, each with its member count."""
    with unit_of_work(engine, readonly=True) as session:
        visible = visible_nodes(session, who.scope)
        found, total = segments.list_segments(session, offset=offset, limit=limit)
        return SegmentPageOut(total=total, segments=[_out(session, s, visible) for s in found])


@router.post("", status_code=201)
def create_segment(segment_in: SegmentIn, engine: EngineDep, who: Writer) -> SegmentOut:
    """Save a filter under a name. 422 `INVALID_SEGMENT_FILTER` names what is wrong with the
    filter; 409 `SEGMENT_NAME_TAKEN`."""
    with unit_of_work(engine) as session:
        made = segments.create_segment(
            session,
            name=segment_in.name,
            description=segment_in.description,
            filters=segment_in.filters,
            by=who.name,
        )
        return _out(session, made, visible_nodes(session, who.scope))


@router.post("/count")
def count_members(filter_in: FilterIn, engine: EngineDep, who: Reader) -> CountOut:
    """How many members a filter takes, without saving it."""
    with unit_of_work(engine, readonly=True) as session:
        visible = visible_nodes(session, who.scope)
        count = segments.count_members(session, filter_in.filters, visible=visible)
    return CountOut(filters=filter_in.filters, member_count=count)


@router.get("/{segment_id:int}")
def get_segment(segment_id: IdPath, engine: EngineDep, who: Reader) -> SegmentOut:
    with unit_of_work(engine, readonly=True) as session:
        found = segments.get_segment(session, segment_id)
        return _out(session, found, visible_nodes(session, who.scope))


@router.patch("/{segment_id:int}")
def update_segment(
    segment_id: IdPath, patch: SegmentPatch, engine: EngineDep, who: Writer
) -> SegmentOut:
    """Change the name, description or filter of a segment (what is sent)."""
    with unit_of_work(engine) as session:
        changed = segments.update_segment(
            session,
            segment_id,
            by=who.name,
            name=patch.name,
            description=patch.description,
            filters=patch.filters,
        )
        return _out(session, changed, visible_nodes(session, who.scope))


@router.delete("/{segment_id:int}", status_code=204)
def delete_segment(segment_id: IdPath, engine: EngineDep, who: Writer) -> Response:
    with unit_of_work(engine) as session:
        segments.delete_segment(session, segment_id)
    return Response(status_code=204)


@router.get("/{segment_id:int}/members")
def segment_members(
    segment_id: IdPath,
    engine: EngineDep,
    who: Reader,
    after: Annotated[
        str | None, Query(max_length=32, description="the last member id of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=segments.MAX_PAGE)] = 50,
) -> MembersOut:
    """The segment's members by member id, a page at a time (keyset: `after`)."""
    with unit_of_work(engine, readonly=True) as session:
        found = segments.get_segment(session, segment_id)
        page = segments.segment_members(
            session,
            found.filters,
            visible=visible_nodes(session, who.scope),
            after=after,
            limit=limit,
        )
    return MembersOut(
        members=[SegmentMemberOut(**vars(m)) for m in page.members], next_after=page.next_after
    )


class SegmentCouponsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=64, description="the coupon template's code")
    issue_key: str = Field(
        min_length=1,
        max_length=200,
        description="sent again, members who hold a coupon under it get no second one",
    )


class SegmentCouponsOut(BaseModel):
    segment_id: int
    template: str
    issue_key: str
    members: int = Field(description="members the segment holds now, as the caller sees them")
    created: int = Field(description="coupons issued by this call; 0 for a replay")


@router.post(
    "/{segment_id:int}/coupons",
    status_code=201,
    responses={200: {"description": "A replay: every member holds a coupon under this key"}},
)
def issue_coupons(
    segment_id: IdPath,
    issue_in: SegmentCouponsIn,
    response: Response,
    engine: EngineDep,
    who: Issuer,
) -> SegmentCouponsOut:
    """One coupon of the template to each member the segment holds now, in one transaction.

    The segment is read when the call is made: sent again with the same key, members who were
    given one keep it and get no second, and members who joined the segment since get theirs."""
    with unit_of_work(engine) as session:
        found = segments.get_segment(session, segment_id)
        members = segments.member_ids(
            session, found.filters, visible=visible_nodes(session, who.scope)
        )
        if not members:
            raise segments.EmptySegment(
                f"segment {segment_id} holds no member to give a coupon to", segment_id=segment_id
            )
        issued = coupons.issue_to_member_ids(
            session, issue_in.template, issue_in.issue_key, members
        )
    if not issued.created:
        response.status_code = 200
    return SegmentCouponsOut(
        segment_id=segment_id,
        template=issued.template,
        issue_key=issued.issue_key,
        members=len(members),
        created=issued.created,
    )
