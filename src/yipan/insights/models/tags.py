"""Insights tables: tags computed per member, the RFM cut points they were scored against, and
marketers' saved segments.

`member_id` is the member's row id (`M0000000042` is 42); tags live on the member a merge kept.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime


class MemberTag(Base):
    __tablename__ = "insights_member_tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float())
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("member_id", "kind", "value"),
        # Segments ask "which members have a tag of this kind with one of these values".
        Index("ix_insights_member_tags_kind_value", "kind", "value", "member_id"),
    )


class TagBaseline(Base):
    """The quintile cut points of one full refresh; one member's refresh scores against the
    latest."""

    __tablename__ = "insights_tag_baselines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date())
    members: Mapped[int] = mapped_column()
    cuts: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Segment(Base):
    __tablename__ = "insights_segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
