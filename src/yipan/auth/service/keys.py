"""API keys for integrations: shown once, stored as a SHA-256 hash, revocable.

A key is 160 random bits, so a fast hash is as good as a slow one against guessing and lets every
request be checked in microseconds.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import timedelta

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal, Role, scope_for
from yipan.auth.errors import ApiKeyAlreadyRevoked, InvalidApiKey, UnknownApiKey
from yipan.auth.models import ApiKey
from yipan.auth.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from yipan.auth.service.audit import record_audit
from yipan.auth.service.users import checked_scope
from yipan.kernel.clock import Clock, SystemClock

KEY_MARK = "yk_"
_PREFIX_LENGTH = len(KEY_MARK) + 8
# A busy integration is not worth a write per request: "last used" is kept to the minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Keys checked in the last few seconds, by hash: a till or a connector sending many requests a
# second costs one lookup per key every few seconds, not one a request. A revocation takes effect
# at once in the process that made it and within the TTL in the others.
CHECKED_KEY_TTL_SECONDS = 10.0
_checked: TTLCache[str, Principal] = TTLCache(maxsize=4096, ttl=CHECKED_KEY_TTL_SECONDS)
_checked_lock = threading.Lock()


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def recently_checked(raw_key: str) -> Principal | None:
    """The principal of a key that passed `authenticate_api_key` moments ago, else None."""
    with _checked_lock:
        return _checked.get(_hash(raw_key))


def remember_checked(raw_key: str, principal: Principal) -> None:
    with _checked_lock:
        _checked[_hash(raw_key)] = principal


def forget_checked_keys() -> None:
    with _checked_lock:
        _checked.clear()


def create_api_key(
    session: Session,
    key_in: ApiKeyIn,
    *,
    by: Principal,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> ApiKeyCreated:
    clock = clock or SystemClock()
    scope = checked_scope(session, key_in.role, key_in.scope_kind, key_in.scope_value)
    raw = KEY_MARK + secrets.token_hex(20)
    key = ApiKey(
        name=key_in.name,
        prefix=raw[:_PREFIX_LENGTH],
        key_hash=_hash(raw),
        role=key_in.role,
        scope_kind=scope.kind,
        scope_value=scope.value,
        created_by=by.name,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    record_audit(
        session,
        by,
        "api_key.created",
        f"api_key:{key.id}",
        {
            "prefix": key.prefix,
            "name": key.name,
            "role": key.role,
            "scope_kind": scope.kind,
            "scope_value": scope.value,
        },
        source_ip,
        clock,
    )
    return ApiKeyCreated(key=raw, api_key=ApiKeyOut.model_validate(key))


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyOut]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return [ApiKeyOut.model_validate(k) for k in session.scalars(stmt)]


def revoke_api_key(
    session: Session,
    key_id: int,
    *,
    by: Principal,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> ApiKeyOut:
    clock = clock or SystemClock()
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id).with_for_update())
    if key is None:
        raise UnknownApiKey(f"no API key with id {key_id}", key_id=key_id)
    if key.revoked_at is not None:
        raise ApiKeyAlreadyRevoked(f"the key {key.prefix}… is already revoked", key_id=key_id)
    key.revoked_at = clock.now()
    session.flush()
    forget_checked_keys()
    record_audit(
        session,
        by,
        "api_key.revoked",
        f"api_key:{key.id}",
        {"prefix": key.prefix},
        source_ip,
        clock,
    )
    return ApiKeyOut.model_validate(key)


def authenticate_api_key(
    session: Session, raw_key: str, *, clock: Clock | None = None
) -> Principal:
    """The principal a key stands for; refuses unknown and revoked keys alike with a 401."""
    key = None
    if raw_key.startswith(KEY_MARK) and len(raw_key) <= 128:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(raw_key)))
    if key is None:
        raise InvalidApiKey("the API key is not valid", reason="unknown")
    if key.revoked_at is not None:
        raise InvalidApiKey(f"the API key {key.prefix}… was revoked", reason="revoked")
    now = (clock or SystemClock()).now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
        session.flush()
    return Principal("api_key", key.id, key.prefix, Role(key.role), scope_for(key))
