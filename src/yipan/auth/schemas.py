"""Pydantic shapes in and out of the auth context (API, CLI and services)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from yipan.auth.domain import PrincipalKind, Role, ScopeKind

# Long enough that guessing is hopeless at 5 tries per 15 minutes; the upper bound only keeps a
# megabyte "password" from costing a hash of that size.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

Username = Annotated[
    str,
    Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"),
]
ScopeValue = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserIn(_In):
    username: Username
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    scope_kind: ScopeKind | None = Field(
        default=None, description="default: the role's own (region managers: region, …)"
    )
    scope_value: ScopeValue | None = Field(
        default=None,
        description="a province as the nodes name it (region roles) or a node code (store roles)",
    )
    # The length rule is checked by the service so that it answers PASSWORD_TOO_SHORT.
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)

    @field_validator("username")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    scope_kind: ScopeKind
    scope_value: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class ScopeOut(BaseModel):
    kind: ScopeKind
    value: str | None


class PrincipalOut(BaseModel):
    kind: PrincipalKind
    id: int | None
    name: str
    role: Role
    scope: ScopeOut
    permissions: list[str]


class LoginOut(BaseModel):
    principal: PrincipalOut
    csrf_token: str = Field(description="send back as X-CSRF-Token on writes made with the cookie")


class LogoutIn(_In):
    everywhere: StrictBool = Field(default=False, description="end every session of this user")


class ApiKeyIn(_In):
    name: str = Field(min_length=1, max_length=200, description="what the key is for")
    role: Role = Role.INTEGRATOR
    scope_kind: ScopeKind | None = None
    scope_value: ScopeValue | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    role: Role
    scope_kind: ScopeKind
    scope_value: str | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    key: str = Field(description="the key itself: shown this once, only its hash is kept")
    api_key: ApiKeyOut


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    actor_name: str | None
    actor_role: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    source_ip: str | None
