"""What every console form that writes goes through: the session's CSRF token, and one
transaction that keeps nothing when the view model refuses the write."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request

from yipan.auth.errors import CsrfFailed
from yipan.auth.service import sessions
from yipan.console.notice import Notice
from yipan.kernel.db import unit_of_work

T = TypeVar("T")


def csrf_ok(request: Request, csrf_token: str) -> bool:
    """Whether the form carries the token of the session that sent it."""
    try:
        sessions.check_csrf(request.cookies.get(sessions.SESSION_COOKIE, ""), csrf_token)
    except CsrfFailed:
        return False
    return True


def refused(outcome: object) -> bool:
    """A view model refuses a write by answering with a Notice, or with a view that holds one."""
    return isinstance(outcome, Notice) or isinstance(getattr(outcome, "notice", None), Notice)


def attempt_write(engine: Engine, write: Callable[[Session], T]) -> T:
    """Run one form's write in its own transaction; when it is refused, nothing it did is kept
    (the page then shows why, and the visitor's input, from a fresh read)."""
    with unit_of_work(engine) as session:
        outcome = write(session)
        if refused(outcome):
            session.rollback()
    return outcome
