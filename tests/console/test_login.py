"""Logging in to the console and out again, over HTTP: the guard on every page, the form's
answers, the redirect back to the wanted page and nowhere else, and logout ending the session."""

from __future__ import annotations

import re
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tests.console.conftest import Demo
from yipan.auth.domain import MAX_FAILED_LOGINS, Principal, Role
from yipan.auth.models import User
from yipan.auth.schemas import UserIn
from yipan.auth.service import sessions, users
from yipan.console.login_page import LOGIN_CSRF_COOKIE
from yipan.demo.logins import DEMO_PASSWORD
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found.group(1)


def _log_in(
    client: TestClient, username: str, password: str, wanted: str | None = None
) -> Response:
    form_page = client.get("/console/login", params={"next": wanted} if wanted else None)
    assert form_page.status_code == 200
    form = {
        "username": username,
        "password": password,
        "csrf_token": _hidden(form_page.text, "csrf_token"),
        "next": _hidden(form_page.text, "next"),
    }
    return client.post("/console/login", data=form, follow_redirects=False)


def _sets_session(response: Response) -> bool:
    return any(
        header.startswith(f"{sessions.SESSION_COOKIE}=") and "Max-Age=0" not in header
        for header in response.headers.get_list("set-cookie")
    )


def _make_user(demo: Demo, username: str, role: Role = Role.PLANNER) -> None:
    engine = make_engine(demo.url)
    try:
        with unit_of_work(engine) as session:
            user_in = UserIn(
                username=username, display_name="测试用户", role=role, password=DEMO_PASSWORD
            )
            users.create_user(session, user_in, by=Principal.system("console tests"))
    finally:
        engine.dispose()


def test_a_page_without_a_session_redirects_to_the_login_with_next(visitor: TestClient) -> None:
    response = visitor.get(
        "/console/inventory", params={"sku": "AP-0001-WHT-L"}, follow_redirects=False
    )

    assert response.status_code == 303
    wanted = quote("/console/inventory?sku=AP-0001-WHT-L", safe="")
    assert response.headers["location"] == f"/console/login?next={wanted}"
    for path in ("/console", "/console/orders", "/console/inventory/AP-0001-WHT-L/WH-SD-LY-01"):
        assert visitor.get(path, follow_redirects=False).status_code == 303
    # The login form, the language switch and the static files stay public.
    assert visitor.get("/console/login").status_code == 200
    assert visitor.get("/console/static/console.css").status_code == 200
    assert visitor.get("/console/lang/en", follow_redirects=False).status_code == 303


def test_an_htmx_request_without_a_session_gets_401_and_hx_redirect(visitor: TestClient) -> None:
    response = visitor.get(
        "/console/inventory", params={"sku": "X"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/console/login?next=%2Fconsole%2Finventory%3Fsku%3DX"


def test_a_bad_or_forged_session_cookie_opens_nothing(visitor: TestClient) -> None:
    visitor.cookies.set(sessions.SESSION_COOKIE, "not-a-token", domain="testserver.local")
    assert visitor.get("/console/inventory", follow_redirects=False).status_code == 303


def test_the_login_form_speaks_chinese_and_english(visitor: TestClient) -> None:
    chinese = visitor.get("/console/login", params={"next": "/console/orders"})
    assert "用户名" in chinese.text
    assert 'type="password"' in chinese.text
    assert 'data-testid="current-user"' not in chinese.text  # nobody is signed in yet
    switch = chinese.text.split('data-testid="lang-en"')[1].split('href="')[1].split('"')[0]
    back = visitor.get(switch.replace("&amp;", "&"), follow_redirects=False)
    assert back.headers["location"] == "/console/login?next=%2Fconsole%2Forders"  # `next` kept
    english = visitor.get(back.headers["location"])
    assert "Username" in english.text
    assert "Password" in english.text


def test_a_wrong_password_rerenders_the_form_with_the_message_and_no_session(
    visitor: TestClient,
) -> None:
    response = _log_in(visitor, "admin", "not-the-password", "/console/orders")

    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert _hidden(response.text, "next") == "/console/orders"
    assert 'value="admin"' in response.text  # the username is kept, the password is not
    assert not _sets_session(response)
    assert sessions.SESSION_COOKIE not in visitor.cookies
    unknown = _log_in(visitor, "nobody", "not-the-password")
    assert unknown.status_code == 401
    assert "用户名或密码错误" in unknown.text  # the same words: usernames cannot be probed


def test_a_locked_account_says_until_when(visitor: TestClient, demo: Demo) -> None:
    _make_user(demo, "lock.me")
    for _ in range(MAX_FAILED_LOGINS - 1):
        assert _log_in(visitor, "lock.me", "wrong-password").status_code == 401
    locked = _log_in(visitor, "lock.me", "wrong-password")
    # Even the right password is refused until then.
    still_locked = _log_in(visitor, "lock.me", DEMO_PASSWORD)

    engine = make_engine(demo.url)
    with unit_of_work(engine, readonly=True) as session:
        until = session.scalar(select(User.locked_until).where(User.username == "lock.me"))
    engine.dispose()
    assert until is not None
    local = until.astimezone(ZoneInfo(get_settings().timezone)).strftime("%H:%M")
    for response in (locked, still_locked):
        assert response.status_code == 423
        assert f"账户已锁定，请在 {local} 之后再试" in response.text
        assert not _sets_session(response)


def test_a_correct_login_lands_on_the_wanted_page_showing_the_users_name(
    visitor: TestClient, demo: Demo
) -> None:
    wanted = f"/console/inventory?sku={demo.summary.skew.sku}"
    response = _log_in(visitor, "jiangsu", DEMO_PASSWORD, wanted)

    assert response.status_code == 303
    assert response.headers["location"] == wanted
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(sessions.SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    landed = visitor.get(wanted)
    assert landed.status_code == 200
    assert 'data-testid="stock-table"' in landed.text
    assert "江苏区域经理" in landed.text
    assert "区域经理" in landed.text
    token = visitor.cookies[sessions.SESSION_COOKIE]
    assert _hidden(landed.text, "csrf_token") == sessions.csrf_token_for(token)


def test_the_login_form_refuses_a_post_without_its_own_token(visitor: TestClient) -> None:
    form = {"username": "admin", "password": DEMO_PASSWORD, "csrf_token": "forged", "next": ""}
    response = visitor.post("/console/login", data=form, follow_redirects=False)

    assert response.status_code == 400
    assert "登录表单已过期" in response.text
    assert not _sets_session(response)
    assert LOGIN_CSRF_COOKIE in response.headers["set-cookie"]  # a fresh token to try again


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/console",
        "//evil.example/console",
        "/\\evil.example/console",
        "/api/v1/auth/users",
        "javascript:alert(1)",
        "/console/login",
        "/consolex",
    ],
)
def test_next_cannot_send_the_user_off_site(visitor: TestClient, target: str) -> None:
    form_page = visitor.get("/console/login", params={"next": target})
    assert _hidden(form_page.text, "next") == "/console"
    form = {
        "username": "marketing",
        "password": DEMO_PASSWORD,
        "csrf_token": _hidden(form_page.text, "csrf_token"),
        "next": target,  # as if the hidden field had been edited
    }
    response = visitor.post("/console/login", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"


def test_logout_ends_the_session_and_the_old_cookie_opens_nothing(
    visitor: TestClient, demo: Demo
) -> None:
    _make_user(demo, "leaving.soon")
    assert _log_in(visitor, "leaving.soon", DEMO_PASSWORD).status_code == 303
    old_token = visitor.cookies[sessions.SESSION_COOKIE]
    page = visitor.get("/console/inventory")
    assert page.status_code == 200

    forged = visitor.post("/console/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert visitor.get("/console/inventory", follow_redirects=False).status_code == 200

    csrf = _hidden(page.text, "csrf_token")
    out = visitor.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/console/login"
    assert sessions.SESSION_COOKIE not in visitor.cookies
    visitor.cookies.set(sessions.SESSION_COOKIE, old_token, domain="testserver.local")
    again = visitor.get("/console/inventory", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/console/login")
