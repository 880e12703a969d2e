"""What every console form that writes is checked for: the session's CSRF token."""

from __future__ import annotations

from starlette.requests import Request

from yipan.auth.errors import CsrfFailed
from yipan.auth.service import sessions


def csrf_ok(request: Request, csrf_token: str) -> bool:
    """Whether the form carries the token of the session that sent it."""
    try:
        sessions.check_csrf(request.cookies.get(sessions.SESSION_COOKIE, ""), csrf_token)
    except CsrfFailed:
        return False
    return True
