"""Who is looking at the console: the signed-in user, read from auth's session cookie.

`console_user` is the dependency every console page but the login form sits behind: it reads the
`yipan_session` cookie with auth's session service, and sets `request.state.console_user`, which
is all pages and templates ever ask for (`current_user(request)`). Without a valid session it
raises `SignInFirst`, which the console's routes answer with a redirect to the login page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import Request

from yipan.auth.domain import Principal, Scope
from yipan.auth.errors import NotAuthenticated
from yipan.auth.service import sessions, users
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import EngineDep


@dataclass(frozen=True)
class ConsoleUser:
    """The person the console renders for: who they are to auth (name, role, data scope), the
    name to show, and the CSRF token every form the console renders sends back as `csrf_token`."""

    principal: Principal
    display_name: str
    csrf_token: str

    @property
    def username(self) -> str:
        return self.principal.name

    @property
    def role(self) -> str:
        return str(self.principal.role)

    @property
    def role_key(self) -> str:
        return f"role.{self.principal.role}"

    @property
    def scope(self) -> Scope:
        return self.principal.scope


class SignInFirst(Exception):
    """No valid session: the visitor must log in, then come back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def user_for_session(session: Session, session_token: str) -> ConsoleUser:
    """The console user a session token belongs to; NotAuthenticated when it is not good."""
    principal = sessions.principal_for_session(session, session_token)
    assert principal.id is not None  # sessions belong to users, never to keys
    account = users.get_user(session, principal.id)
    return ConsoleUser(
        principal=principal,
        display_name=account.display_name,
        csrf_token=sessions.csrf_token_for(session_token),
    )


def _wanted_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def console_user(request: Request, engine: EngineDep) -> ConsoleUser:
    token = request.cookies.get(sessions.SESSION_COOKIE)
    if not token:
        raise SignInFirst(_wanted_path(request))
    try:
        with unit_of_work(engine, readonly=True) as session:
            user = user_for_session(session, token)
    except NotAuthenticated:
        raise SignInFirst(_wanted_path(request)) from None
    request.state.console_user = user
    # The audit trail (yipan.auth.trail) records the console's writes under this principal.
    request.state.principal = user.principal
    return user


SignedIn = Annotated[ConsoleUser, Depends(console_user)]


def current_user(request: Request) -> ConsoleUser | None:
    """The signed-in user of this request; None only on the public pages (the login form)."""
    user = getattr(request.state, "console_user", None)
    return user if isinstance(user, ConsoleUser) else None
