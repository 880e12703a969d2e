"""Insights over HTTP: one module per use case, each with its own router, joined here."""

from __future__ import annotations

from fastapi import APIRouter

from yipan.insights.api import member_value, transfer_plans

router = APIRouter()
router.include_router(member_value.router)
router.include_router(transfer_plans.router)
