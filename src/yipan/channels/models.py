from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, JsonDoc, UtcDateTime


class Channel(Base):
    __tablename__ = "channels_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(24))
    active: Mapped[bool] = mapped_column(default=True)
    return_window_days: Mapped[int] = mapped_column(default=7)
    routing: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("return_window_days BETWEEN 0 AND 365", name="return_window_range"),
    )
