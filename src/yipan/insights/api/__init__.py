"""Insights over HTTP: one module per use case, each with its own router, joined here."""

from __future__ import annotations

from fastapi import APIRouter

from yipan.insights.api import (
    forecasts,
    kpis,
    member_value,
    recommendations,
    replenishment,
    segments,
    tags,
    transfer_plans,
)

router = APIRouter()
router.include_router(member_value.router)
router.include_router(transfer_plans.router)
router.include_router(segments.router)
router.include_router(tags.router)
router.include_router(recommendations.router)
router.include_router(forecasts.router)
router.include_router(replenishment.router)
router.include_router(kpis.router)
