"""Users, API keys and the audit log.

Passwords are stored only as argon2 hashes and API keys only as SHA-256 hashes (a key is random
and long, so a slow hash adds nothing). The login counter lives on the user row so that every
server process counts the same failures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from yipan.kernel.db import Base, BigId, JsonDoc, UtcDateTime

_ROLES = (
    "role IN ('hq_admin', 'region_manager', 'store_manager', 'store_guide', 'marketer', "
    "'planner', 'integrator')"
)
_SCOPE = (
    "(scope_kind = 'all' AND scope_value IS NULL) OR "
    "(scope_kind IN ('region', 'store') AND scope_value IS NOT NULL)"
)


class User(Base):
    __tablename__ = "auth_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    scope_kind: Mapped[str] = mapped_column(Text)
    scope_value: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    # Part of every session token: raising it ends all of the user's sessions at once.
    session_version: Mapped[int] = mapped_column(default=1)
    failed_logins: Mapped[int] = mapped_column(default=0)
    failure_window_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(_ROLES, name="role_known"),
        CheckConstraint(_SCOPE, name="scope_shape"),
    )


class ApiKey(Base):
    __tablename__ = "auth_api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # The first characters of the key, shown in lists so a key can be recognised, never used
    # to find it.
    prefix: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    scope_kind: Mapped[str] = mapped_column(Text)
    scope_value: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(_ROLES, name="role_known"),
        CheckConstraint(_SCOPE, name="scope_shape"),
    )


class AuditEntry(Base):
    """One write by someone: who (and in which role), did what, to what, when, from where."""

    __tablename__ = "auth_audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_kind: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_name: Mapped[str | None] = mapped_column(Text)
    actor_role: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    source_ip: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "actor_kind IN ('user', 'api_key', 'system', 'anonymous')", name="actor_kind_known"
        ),
        Index("ix_auth_audit_log_actor_name_id", "actor_name", "id"),
        Index("ix_auth_audit_log_action_id", "action", "id"),
    )
