"""Insights over HTTP: one module per use case, each with its own router, joined here."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
