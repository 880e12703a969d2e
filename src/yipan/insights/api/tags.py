"""HTTP routes for member tags: a member's tags as last computed, and refreshing one member."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from yipan import data_scope as scoped
from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.domain.tags import TagKind
from yipan.insights.service import tags as tag_service
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1/insights/members", tags=["insights"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("members.read"))]
Writer = Annotated[Principal, Depends(require("members.write"))]
MemberId = Annotated[str, Path(min_length=1, max_length=32, description="e.g. M0000000042")]


class TagOut(BaseModel):
    kind: str = Field(description="rfm_segment, recency_score, category, size, price_band, …")
    value: str
    score: float | None = Field(description="what the value rests on; docs/insights.md")


class MemberTagsOut(BaseModel):
    member_id: str = Field(description="the member the tags live on (a merge's survivor)")
    asked: str
    computed_at: datetime | None = Field(description="empty while the member has no tags")
    rfm_segment: str | None
    lapse_risk: str | None
    tags: list[TagOut]

    @classmethod
    def of(cls, found: tag_service.MemberTags) -> MemberTagsOut:
        return cls(
            member_id=found.member_id,
            asked=found.asked,
            computed_at=found.computed_at,
            rfm_segment=found.first(TagKind.RFM_SEGMENT),
            lapse_risk=found.first(TagKind.LAPSE_RISK),
            tags=[TagOut(kind=t.kind, value=t.value, score=t.score) for t in found.tags],
        )


@router.get("/{member_id}/tags")
def member_tags(member_id: MemberId, engine: EngineDep, who: Reader) -> MemberTagsOut:
    """A member's tags as the last refresh (full, or this member's after an order) left them.

    404 `UNKNOWN_MEMBER` for no such member, or one the caller's scope does not see."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        return MemberTagsOut.of(tag_service.tags_of(session, member_id))


@router.post("/{member_id}/tags/refresh")
def refresh_member_tags(member_id: MemberId, engine: EngineDep, who: Writer) -> MemberTagsOut:
    """Recompute a member's tags now from their orders (as after each completed order)."""
    with unit_of_work(engine) as session:
        scoped.check_member(session, who.scope, member_id)
        return MemberTagsOut.of(tag_service.refresh_member(session, member_id))
