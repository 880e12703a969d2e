"""Rendering a console page: the Jinja environment, the navigation, and what every template sees.

Every template gets `t` (the translator for the visitor's language), `lang`, `langs`, `user`
(the signed-in `ConsoleUser`; None on the login form), `csrf_token` (the session's, for a form's
hidden `csrf_token` field), `nav`, `active` (the current section) and `static(path)`. A request
made by HTMX for a part of a page (`HX-Request` without `HX-History-Restore-Request`) gets only
that part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from yipan import __version__
from yipan.console.i18n import LANG_COOKIE, LANGS, label, pick_lang, translator
from yipan.console.user import current_user
from yipan.kernel.config import get_settings

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/console/static"


@dataclass(frozen=True)
class NavItem:
    section: str
    label_key: str
    path: str
    # Shown only to those whose role may do this (None: everyone signed in).
    permission: str | None = None


NAV: tuple[NavItem, ...] = (
    NavItem("dashboard", "nav.dashboard", "/console/dashboard"),
    NavItem("inventory", "nav.inventory", "/console/inventory"),
    NavItem("orders", "nav.orders", "/console/orders"),
    NavItem("members", "nav.members", "/console/members"),
    NavItem("marketing", "nav.marketing", "/console/marketing"),
    NavItem("segments", "nav.segments", "/console/marketing/segments", permission="members.read"),
    NavItem("store_desk", "nav.store_desk", "/console/desk"),
    NavItem("planning", "nav.planning", "/console/planning", permission="insights.plan"),
    NavItem("audit", "nav.audit", "/console/audit", permission="audit.read"),
)


def _static(path: str) -> str:
    # The version in the query string makes browsers fetch assets again after an upgrade.
    return f"{STATIC_PREFIX}/{path}?v={__version__}"


def _path_part(value: str) -> str:
    return quote(value, safe="")


@cache
def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _local_time(value: datetime) -> str:
    """Timestamps are stored in UTC; people read them in the tenant's time zone."""
    return value.astimezone(_zone()).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: int) -> str:
    return f"{value:,}"


def _yuan(fen: int) -> str:
    """Money is kept in integer fen; people read yuan with two decimals."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATE_DIR)
    env = templates.env
    env.globals["static"] = _static
    env.filters["path_part"] = _path_part
    env.filters["local_time"] = _local_time
    env.filters["number"] = _number
    env.filters["yuan"] = _yuan
    env.globals["label"] = label
    return templates


templates = _make_templates()


def wants_fragment(request: Request) -> bool:
    """HTMX asked for a part of the page, not a history restore that needs the whole page."""
    headers = request.headers
    return "HX-Request" in headers and "HX-History-Restore-Request" not in headers


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    section: str,
    status_code: int = 200,
) -> Response:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    user = current_user(request)
    page = {
        "t": translator(lang),
        "lang": lang,
        "langs": LANGS,
        "user": user,
        "csrf_token": user.csrf_token if user else None,
        "nav": NAV,
        "active": section,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    }
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    response.headers["Content-Language"] = lang
    # The same URL answers a whole page or a fragment, in either language.
    response.headers["Vary"] = "Cookie, HX-Request"
    return response
