"""Logging in to the console and out again, and the guard that sends visitors without a session
to the login form.

The login form posts a username and password to auth's `login.authenticate` and, on success, sets
the same `yipan_session` cookie as the API's login (`set_session_cookie`). Before a session exists
the form is protected from cross-site posts by a double-submit token: a random value in a cookie
only this site can set, repeated in a hidden field. Logging out posts the session's own CSRF
token and ends every session of the user: session tokens are signed, not stored, so raising the
user's session version is the only way the old cookie stops opening pages.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from yipan.auth.api import clear_session_cookie, set_session_cookie, source_ip
from yipan.auth.errors import AccountLocked
from yipan.auth.schemas import MAX_PASSWORD_LENGTH
from yipan.auth.service import login, sessions, users
from yipan.console.notice import Notice
from yipan.console.rendering import render
from yipan.console.user import SignedIn, SignInFirst
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep

LOGIN_PATH = "/console/login"
HOME = "/console"
LOGIN_CSRF_COOKIE = "yipan_login_csrf"
MAX_USERNAME_LENGTH = 64

router = APIRouter(prefix="/console", include_in_schema=False)


def safe_next(wanted: str | None, *, login_too: bool = False) -> str:
    """`wanted` if it is a path inside the console, else the console's home: a `next` naming
    another site (`https://…`, `//host`, `/\\host`) would make login an open redirect. The login
    form itself is no place to land after logging in, but the language switch may go back to it."""
    if not wanted or "\\" in wanted or any(ord(c) < 32 for c in wanted):
        return HOME
    parts = urlsplit(wanted)
    if parts.scheme or parts.netloc or wanted.startswith("//"):
        return HOME
    inside = parts.path == HOME or parts.path.startswith(HOME + "/")
    if not inside or (parts.path == LOGIN_PATH and not login_too):
        return HOME
    return wanted


def login_url(next_path: str) -> str:
    return f"{LOGIN_PATH}?{urlencode({'next': safe_next(next_path)})}"


def sign_in_response(request: Request, next_path: str) -> Response:
    """Where a visitor without a session goes: the login form, then back to `next_path`.

    HTMX would swap a redirect's target into the page; `HX-Redirect` makes it load the login
    page as a whole instead."""
    target = login_url(next_path)
    if "HX-Request" in request.headers:
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


class SignInRedirectRoute(APIRoute):
    """A console route whose `SignInFirst` (no valid session) becomes a trip to the login form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInFirst as refused:
                return sign_in_response(request, refused.next_path)

        return guarded


def _form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    notice: Notice | None = None,
) -> Response:
    # Keep the visitor's token while it lasts, so two open tabs can both log in.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    context = {
        "notice": notice,
        "next_path": safe_next(next_path),
        "username": username,
        "login_csrf": token,
    }
    status = notice.status if notice else 200
    response = render(request, "login.html", context, section="login", status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _clock_time(iso: str) -> str:
    """The hour and minute an ISO timestamp (UTC) shows on the tenant's clocks."""
    zone = ZoneInfo(get_settings().timezone)
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%H:%M")


@router.get("/login")
def login_form(request: Request, wanted: Annotated[str, Query(alias="next")] = HOME) -> Response:
    return _form(request, next_path=wanted)


@router.post("/login")
def log_in(
    request: Request,
    engine: EngineDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    wanted: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    username = username.strip()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        notice = Notice("login.form_expired", status=400)
        return _form(request, next_path=wanted, username=username, notice=notice)
    too_long = len(username) > MAX_USERNAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH
    if not username or not password or too_long:
        notice = Notice("login.wrong", status=401)
        return _form(
            request, next_path=wanted, username=username[:MAX_USERNAME_LENGTH], notice=notice
        )
    with unit_of_work(engine) as session:
        outcome = login.authenticate(session, username, password, source_ip=source_ip(request))
    if outcome.signed_in is None:
        if isinstance(outcome.error, AccountLocked):
            until = _clock_time(str(outcome.error.details["locked_until"]))
            notice = Notice("login.locked", {"time": until}, status=423)
        else:
            # Auth tells a disabled account the same as a wrong password, by design.
            notice = Notice("login.wrong", status=401)
        return _form(request, next_path=wanted, username=username, notice=notice)
    response = RedirectResponse(safe_next(wanted), status_code=303)
    set_session_cookie(response, sessions.issue_session_token(outcome.signed_in), request)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


def log_out(
    request: Request,
    user: SignedIn,
    engine: EngineDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Registered on the signed-in pages' router (it needs a session to end)."""
    sessions.check_csrf(request.cookies.get(sessions.SESSION_COOKIE, ""), csrf_token)
    assert user.principal.id is not None
    with unit_of_work(engine) as session:
        users.end_sessions(
            session, user.principal.id, by=user.principal, source_ip=source_ip(request)
        )
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response)
    return response
