"""HTTP route for a member's recommendations: products to show them, each with the SKUs in their
sizes that a store near them or the online pool can deliver.

Read like the member 360 view (`members.read`, which online channels' integrator keys hold):
a member outside the caller's data scope answers 404 as an unknown one. The model is trained on
demand and kept by each server process for `YIPAN_RECOMMENDATIONS_CACHE_SECONDS`. The answer is
the service's `MemberRecommendations` as it is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from yipan import data_scope as scoped
from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.service import recommendations as recs
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1/insights/members", tags=["insights"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("members.read"))]
MemberId = Annotated[str, Path(min_length=1, max_length=32, description="e.g. M0000000042")]


@router.get("/{member_id}/recommendations")
def member_recommendations(
    member_id: MemberId,
    engine: EngineDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=recs.MAX_LIMIT)] = 10,
    store: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="deliver from around this store; default the member's own store",
        ),
    ] = None,
) -> recs.MemberRecommendations:
    """Products to recommend to a member, best first, each with the SKUs to offer.

    404 `UNKNOWN_MEMBER` for a member the caller cannot see, `UNKNOWN_NODE` for a `store` that
    is not an active store; 422 for a limit outside 1…50."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_member(session, who.scope, member_id)
        return recs.recommend_for_member(session, member_id, limit=limit, store=store)
