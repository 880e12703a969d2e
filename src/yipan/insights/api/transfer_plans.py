"""HTTP routes for transfer plans: compute one on demand, and turn chosen moves into transfers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.insights.domain.rebalance import Move, Rules, Shortfall, SourceChoice, Unfilled
from yipan.insights.service import transfer_plans as plans
from yipan.inventory.schemas import TransferOut
from yipan.inventory.service import nodes
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, Offset

router = APIRouter(
    prefix="/api/v1/insights/transfer-plans",
    tags=["transfer plans"],
    responses=ERROR_RESPONSES,
)

Reader = Annotated[Principal, Depends(require("inventory.read"))]
Mover = Annotated[Principal, Depends(require("inventory.transfer"))]
_DEFAULT = Rules()


def plan_rules(
    surplus_days: Annotated[
        float, Query(ge=0, le=3650, description="surplus above this many days of cover")
    ] = _DEFAULT.surplus_days,
    deficit_days: Annotated[
        float, Query(ge=0, le=3650, description="deficit under this many days of cover")
    ] = _DEFAULT.deficit_days,
    max_distance_km: Annotated[float, Query(gt=0, le=20_000)] = _DEFAULT.max_distance_km,
    min_transfer_qty: Annotated[int, Query(ge=1, le=1_000_000)] = _DEFAULT.min_transfer_qty,
    pack_size: Annotated[int, Query(ge=1, le=100_000)] = _DEFAULT.pack_size,
    fen_per_unit_100km: Annotated[
        int, Query(ge=0, le=10_000_000, description="transport cost of one unit over 100 km")
    ] = _DEFAULT.fen_per_unit_100km,
    fen_per_move: Annotated[
        int, Query(ge=0, le=100_000_000, description="fixed cost of one move")
    ] = _DEFAULT.fen_per_move,
    store_to_site: Annotated[
        bool, Query(description="let a store's surplus go to a warehouse or DC")
    ] = _DEFAULT.store_to_site,
) -> Rules:
    """The plan's rules from the query string; each defaults to the chain's default."""
    return Rules(
        surplus_days=surplus_days,
        deficit_days=deficit_days,
        max_distance_km=max_distance_km,
        min_transfer_qty=min_transfer_qty,
        pack_size=pack_size,
        fen_per_unit_100km=fen_per_unit_100km,
        fen_per_move=fen_per_move,
        store_to_site=store_to_site,
    )


class RulesOut(BaseModel):
    surplus_days: float
    deficit_days: float
    max_distance_km: float
    min_transfer_qty: int
    pack_size: int
    fen_per_unit_100km: int
    fen_per_move: int
    store_to_site: bool


class NearerOut(BaseModel):
    node: str
    distance_km: float
    left: int = Field(description="surplus the plan left this nearer source")


class MoveOut(BaseModel):
    basis: str = Field(description="digest of what decided the SKU's plan; send it back to apply")
    transfer_code: str = Field(description="the code of the transfer this move becomes")
    sku: str
    source: str
    destination: str
    quantity: int
    distance_km: float
    cost_fen: int
    source_before: int
    source_after: int
    source_keeps: int
    destination_before: int
    destination_after: int
    destination_target: int
    source_cover_before: float | None
    source_cover_after: float | None
    destination_cover_before: float | None
    destination_cover_after: float | None
    choice: SourceChoice
    sources_in_reach: int
    nearer: list[NearerOut]
    unfilled_after: int
    unfilled_reason: Unfilled | None
    explanation: str


class ShortfallOut(BaseModel):
    sku: str
    node: str
    deficit: int
    filled: int
    unfilled: int
    reason: Unfilled


class TransferPlanOut(BaseModel):
    id: str
    computed_at: datetime
    demand: str = Field(description="where daily demand came from, e.g. ledger_28d")
    rules: RulesOut
    skus_short: int = Field(description="SKUs with a deficit somewhere in the chain")
    skus_planned: int = Field(description="of those, SKUs with surplus somewhere too")
    units_short: int
    units_moved: int
    move_count: int = Field(description="moves you may see, before paging")
    shortfall_count: int
    cost_fen: int = Field(description="cost of the moves you may see")
    moves: list[MoveOut]
    shortfalls: list[ShortfallOut]


class ApplyMoveIn(BaseModel):
    # Stripped as the transfer it becomes is (`inventory.schemas.TransferIn`): a code that is only
    # whitespace is refused here, not by the transfer after the request was accepted.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    basis: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    sku: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=1, max_length=64)
    quantity: StrictInt = Field(ge=1, le=1_000_000)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    moves: list[ApplyMoveIn] = Field(min_length=1, max_length=200)


class AppliedOut(BaseModel):
    transfers: list[TransferOut]


def _move_out(plan: plans.TransferPlan, move: Move) -> MoveOut:
    basis = plan.bases[move.sku]
    return MoveOut(
        basis=basis,
        transfer_code=plans.transfer_code(basis, move),
        sku=move.sku,
        source=move.source,
        destination=move.destination,
        quantity=move.quantity,
        distance_km=move.distance_km,
        cost_fen=move.cost_fen,
        source_before=move.source_before,
        source_after=move.source_after,
        source_keeps=move.source_keeps,
        destination_before=move.destination_before,
        destination_after=move.destination_after,
        destination_target=move.destination_target,
        source_cover_before=move.source_cover_before,
        source_cover_after=move.source_cover_after,
        destination_cover_before=move.destination_cover_before,
        destination_cover_after=move.destination_cover_after,
        choice=move.choice,
        sources_in_reach=move.sources_in_reach,
        nearer=[
            NearerOut(node=n.node, distance_km=n.distance_km, left=n.left) for n in move.nearer
        ],
        unfilled_after=move.unfilled_after,
        unfilled_reason=move.unfilled_reason,
        explanation=move.explanation,
    )


def _shortfall_out(short: Shortfall) -> ShortfallOut:
    return ShortfallOut(
        sku=short.sku,
        node=short.node,
        deficit=short.deficit,
        filled=short.filled,
        unfilled=short.unfilled,
        reason=short.reason,
    )


@router.get("")
def get_transfer_plan(
    engine: EngineDep,
    who: Reader,
    rules: Annotated[Rules, Depends(plan_rules)],
    province: Annotated[
        str | None, Query(max_length=50, description="moves touching this province's nodes")
    ] = None,
    sku: Annotated[list[str] | None, Query(max_length=500, description="plan these SKUs")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> TransferPlanOut:
    """A transfer plan computed now: per SKU, the moves that fill the most deficit (under
    `deficit_days` of cover or the reorder point) from surplus (over `surplus_days` and the
    reorder point) within `max_distance_km`, at the least transport cost; each move explained.

    The plan covers the whole network; a store's or region's caller sees the moves from or to
    its nodes. Moves and shortfalls are paged together by `offset` and `limit`.
    """
    with unit_of_work(engine, readonly=True) as session:
        visible = nodes.codes_in_scope(session, who.scope)
        plan = plans.plan_transfers(session, rules, skus=sku, province=province, visible=visible)
    window = slice(offset, offset + limit)
    return TransferPlanOut(
        id=plan.id,
        computed_at=plan.computed_at,
        demand=plan.demand,
        rules=RulesOut(**vars(plan.rules)),
        skus_short=plan.skus_short,
        skus_planned=plan.skus_planned,
        units_short=plan.units_short,
        units_moved=plan.units_moved,
        move_count=len(plan.moves),
        shortfall_count=len(plan.shortfalls),
        cost_fen=plan.cost_fen,
        moves=[_move_out(plan, m) for m in plan.moves[window]],
        shortfalls=[_shortfall_out(s) for s in plan.shortfalls[window]],
    )


@router.post("/apply", status_code=201)
def apply_transfer_plan(apply_in: ApplyIn, engine: EngineDep, who: Mover) -> AppliedOut:
    """Turn moves of a plan into transfers (all or none), each holding its goods at the source.

    Applying the same moves again returns the transfers made the first time. A store's or
    region's staff apply moves from or to their nodes only.
    """
    with unit_of_work(engine) as session:
        covered = nodes.codes_in_scope(session, who.scope)
        for move in apply_in.moves:
            if covered is not None and move.source not in covered:
                nodes.check_in_scope(session, who.scope, move.destination, "a transfer")
        made = plans.apply_plan(
            session,
            [
                plans.PlannedMove(m.basis, m.sku, m.source, m.destination, m.quantity)
                for m in apply_in.moves
            ],
            requested_by=who.name,
        )
    return AppliedOut(transfers=made)
