"""Settings read from `YIPAN_*` environment variables; only configuration differs between runtimes."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIPAN_", extra="ignore")

    database_url: str = "sqlite:///./yipan.db"
    timezone: str = "Asia/Shanghai"
    host: str = "127.0.0.1"
    port: int = 8000
    # Requests handled at once per server process. Sync routes run in a thread pool; more threads
    # than this only fight over the GIL and the database pool (each holds a connection), so the
    # pool is sized to match and the rest of the requests queue on the event loop.
    http_threads: int = 8
    # How long a reservation without an explicit expiry is held (minutes); 0 means until released.
    default_reservation_minutes: int = 0
    # Dispatcher: how many times an outbox event is tried before it is parked as dead.
    outbox_max_attempts: int = 8
    outbox_poll_seconds: float = 1.0
    # How long the outbox worker, woken by a commit, waits for more before it delivers.
    outbox_gather_seconds: float = 0.05
    # Days a ready pickup waits for its customer before the stock goes back on sale.
    pickup_hold_days: int = 3
    # How stale another process's count of today's shipments per node may be for routing.
    capacity_refresh_seconds: float = 5.0
    # How stale another process's copy of slowly changing reference data (channels and their
    # stock buffers) may be; a change made through a process is seen by that process at once.
    reference_refresh_seconds: float = 5.0
    # Whether a FULL return of an order gives its coupons back to their holders (a partial return
    # never does); promotion budgets are given back in proportion to what is returned either way.
    restore_coupons_on_full_return: bool = True
    # The secret behind members' personal data: lookup values are HMAC-SHA256 keyed hashes and shown
    # values are AES-GCM encrypted, both with keys derived from this one. The default is for
    # development only: production MUST set YIPAN_PII_KEY (long and random) and never change it,
    # or stored phones can no longer be found or read.
    pii_key: str = "yipan-development-only-pii-key"
    # Signs console session cookies and keys their CSRF tokens. The default is for development
    # only: production MUST set YIPAN_SECRET_KEY (long and random); changing it signs everyone out.
    secret_key: str = "yipan-development-only-secret-key"
    # Category codes whose lines earn no points, each with all its sub-categories, comma
    # separated: YIPAN_POINTS_EXCLUDED_CATEGORIES=tobacco,gift_card. Spend still counts for tiers.
    points_excluded_categories: Annotated[frozenset[str], NoDecode] = frozenset()
    # The points ledger's rates, each "points:fen": points earned per that many fen paid (before
    # the tier's multiplier), and points worth that many fen when redeemed. Defaults: a point per
    # yuan, 100 points for a yuan.
    points_earn_rate: str = "1:100"
    points_redeem_rate: str = "100:100"
    # A lot of points earned in month M expires at the end of month M + this (tenant time).
    points_expiry_months: int = 12
    # The member tiers, lowest first, as JSON in the shape `GET /api/v1/members/tier-ladder`
    # answers (code, name, threshold_fen, benefits); empty: normal / silver / gold / black.
    tier_ladder: str = ""

    @field_validator("points_excluded_categories", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(code.strip() for code in value.split(",") if code.strip())
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
