"""Replenishment policy: reorder point and order-up-to level from a forecast, and what to order.

For one SKU × node with mean daily demand μ (the forecast's), σ the standard deviation of the
forecast's daily error (from its backtest), lead time L days and review period R days, at a
cycle service level p (z = Φ⁻¹(p)):

- safety stock      SS  = ⌈z · σ · √L⌉                    (0 when p ≤ 0.5)
- reorder point     ROP = ⌈μ · L⌉ + SS
- order-up-to       OUT = ROP + ⌈μ · R⌉                   (≥ ROP)

Errors over the lead time are taken as independent from day to day (σ√L). A forecast without a
backtest (a short history) has no σ: the Poisson √μ stands in for it.

A node orders when its inventory position (on hand − reserved + inbound) is at or under its
reorder point, enough whole packs to bring the position to the order-up-to level or just above.
Pure: no I/O, `NormalDist` from the standard library for z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

MIN_SERVICE_LEVEL, MAX_SERVICE_LEVEL = 0.5, 0.9999


@dataclass(frozen=True)
class Policy:
    safety_stock: int
    reorder_point: int
    order_up_to: int


def z_value(service_level: float) -> float:
    """Φ⁻¹(service level), at least 0."""
    if not MIN_SERVICE_LEVEL <= service_level <= MAX_SERVICE_LEVEL:
        raise ValueError(
            f"the service level must be from {MIN_SERVICE_LEVEL} to {MAX_SERVICE_LEVEL}"
        )
    return max(0.0, NormalDist().inv_cdf(service_level))


def policy(
    daily_mean: float,
    error_sd: float | None,
    *,
    lead_days: float,
    review_days: float,
    service_level: float,
) -> Policy:
    """Safety stock, reorder point and order-up-to level (whole units)."""
    if lead_days < 0 or review_days < 0:
        raise ValueError("lead time and review period cannot be negative")
    mean = max(0.0, daily_mean)
    sigma = math.sqrt(mean) if error_sd is None else max(0.0, error_sd)
    safety = math.ceil(z_value(service_level) * sigma * math.sqrt(lead_days) - 1e-9)
    reorder = math.ceil(mean * lead_days - 1e-9) + safety
    return Policy(
        safety_stock=safety,
        reorder_point=reorder,
        order_up_to=reorder + math.ceil(mean * review_days - 1e-9),
    )


def position(on_hand: int, reserved: int, inbound: int) -> int:
    """Inventory position: what the node has and is owed, less what is promised."""
    return on_hand - reserved + inbound


def order_quantity(current: int, rule: Policy, pack_size: int = 1) -> int:
    """Units to order: none above the reorder point; else whole packs that bring the position
    to the order-up-to level (or at most one pack less than a pack above it)."""
    if pack_size < 1:
        raise ValueError("the pack size must be at least 1")
    if current > rule.reorder_point or rule.order_up_to <= 0:
        return 0
    short = rule.order_up_to - current
    return max(0, math.ceil(short / pack_size) * pack_size)
