"""Who is looking at the console: the hook where authentication plugs in.

AUTH HOOK: the `auth` context (users, login, sessions) is not wired in yet. Until it is, every
request sees the HQ demo view below. To plug it in, have auth's middleware or dependency set
`request.state.console_user` to a `ConsoleUser` built from the signed-in user (and redirect to its
login page when there is none); nothing else in the console needs to change, because pages only
ever ask `current_user(request)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True)
class ConsoleUser:
    """The person the console renders for; `scope` is the data they may see (HQ sees all)."""

    display_name_key: str  # an i18n key, or a person's name once auth provides one
    role_key: str
    scope: str = "hq"
    is_demo: bool = True


HQ_DEMO = ConsoleUser(display_name_key="user.hq_demo", role_key="user.role.hq")


def current_user(request: Request) -> ConsoleUser:
    user = getattr(request.state, "console_user", None)
    return user if isinstance(user, ConsoleUser) else HQ_DEMO
