"""Console sessions: signed, timed tokens in a cookie, and CSRF tokens bound to them.

A token carries the user's id and session version, signed with `YIPAN_SECRET_KEY` (itsdangerous);
nothing is stored per session. Raising a user's session version (logout everywhere, disabling the
user) makes every older token fail. A CSRF token is an HMAC of the session token, so a form can
carry it and no other site can compute it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal
from yipan.auth.errors import CsrfFailed, NotAuthenticated
from yipan.auth.service.users import principal_of, user_by_id
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings

SESSION_COOKIE = "yipan_session"
SESSION_MAX_AGE = timedelta(hours=12)
_SALT = "yipan.auth.session"


class SessionHolder(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def session_version(self) -> int: ...


@dataclass(frozen=True)
class SessionClaims:
    user_id: int
    session_version: int


class _ClockSigner(TimestampSigner):
    """Takes the time from a `Clock`, so expiry can be tested without waiting 12 hours."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def _serializer(clock: Clock | None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        get_settings().secret_key,
        salt=_SALT,
        signer=_ClockSigner,
        signer_kwargs={"clock": clock or SystemClock()},
    )


def issue_session_token(user: SessionHolder, *, clock: Clock | None = None) -> str:
    return _serializer(clock).dumps({"u": user.id, "v": user.session_version})


def read_session_token(token: str, *, clock: Clock | None = None) -> SessionClaims:
    """The claims of a token this server signed less than 12 hours ago."""
    try:
        claims = _serializer(clock).loads(token, max_age=int(SESSION_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise NotAuthenticated("the session has expired; log in again", reason="expired") from None
    except BadSignature:
        raise NotAuthenticated("the session is not valid; log in again", reason="invalid") from None
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("u"), int)
        or not isinstance(claims.get("v"), int)
    ):
        raise NotAuthenticated("the session is not valid; log in again", reason="invalid")
    return SessionClaims(claims["u"], claims["v"])


def principal_for_session(session: Session, token: str, *, clock: Clock | None = None) -> Principal:
    """Who a session token belongs to, if the user is still active and has not signed out."""
    claims = read_session_token(token, clock=clock)
    user = user_by_id(session, claims.user_id)
    if user is None or not user.active or user.session_version != claims.session_version:
        raise NotAuthenticated("the session has ended; log in again", reason="ended")
    return principal_of(user)


def csrf_token_for(session_token: str) -> str:
    key = hashlib.sha256(("yipan.auth.csrf:" + get_settings().secret_key).encode()).digest()
    return hmac.new(key, session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(session_token: str, token: str | None) -> None:
    """Refuse a write made with the session cookie unless it carries that session's CSRF token."""
    if not token or not hmac.compare_digest(csrf_token_for(session_token), token):
        raise CsrfFailed(
            "this write needs the CSRF token of your session (X-CSRF-Token header or csrf_token "
            "form field); it is returned by login"
        )
