"""Access over HTTP on SQLite and PostgreSQL: the cookie, the CSRF header, roles, API keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.auth import people
from yipan.app import create_app
from yipan.auth.api import current_principal, require
from yipan.auth.domain import Principal, Role
from yipan.kernel.web import install_error_handlers


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    people.stores(engine)
    people.user(engine, "admin")
    people.user(engine, "guide", Role.STORE_GUIDE, "SH-1")
    with TestClient(create_app(engine, background=False)) as c:
        yield c


def log_in(client: TestClient, username: str, password: str = people.PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


def test_login_sets_an_http_only_cookie_that_me_then_reads(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"username": "guide", "password": people.PASSWORD}
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("yipan_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=43200" in cookie
    body = response.json()
    assert body["principal"]["role"] == "store_guide"
    assert body["csrf_token"]

    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "guide"
    assert me.json()["scope"] == {"kind": "store", "value": "SH-1"}
    assert "orders.write" in me.json()["permissions"]
    assert "users.manage" not in me.json()["permissions"]


def test_without_credentials_the_answer_is_401_not_authenticated(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"
    assert client.get("/api/v1/auth/users").status_code == 401


def test_a_wrong_password_is_a_401_and_sets_no_cookie(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": "not the password"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
    assert "set-cookie" not in response.headers


def test_a_store_guide_may_not_administer_users(client: TestClient) -> None:
    csrf = log_in(client, "guide")
    listed = client.get("/api/v1/auth/users")
    assert listed.status_code == 403
    assert listed.json()["code"] == "FORBIDDEN"
    assert listed.json()["details"] == {"role": "store_guide", "action": "users.manage"}
    before = people.counts(client.app.state.engine)  # type: ignore[attr-defined]
    created = client.post(
        "/api/v1/auth/users",
        json={"username": "x1", "display_name": "X", "role": "hq_admin", "password": "a" * 12},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 403
    assert people.counts(client.app.state.engine) == before  # type: ignore[attr-defined]


def test_an_admin_creates_lists_and_disables_users(client: TestClient) -> None:
    csrf = log_in(client, "admin")
    headers = {"X-CSRF-Token": csrf}
    created = client.post(
        "/api/v1/auth/users",
        json={
            "username": "Wang.Fang",
            "display_name": "王芳",
            "role": "region_manager",
            "scope_value": "上海市",
            "password": "a long enough password",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["username"], user["scope_kind"], user["scope_value"]) == (
        "wang.fang",
        "region",
        "上海市",
    )
    assert "password" not in user
    assert "password_hash" not in user
    assert [u["username"] for u in client.get("/api/v1/auth/users").json()] == [
        "admin",
        "guide",
        "wang.fang",
    ]
    assert client.get(f"/api/v1/auth/users/{user['id']}").json()["display_name"] == "王芳"
    disabled = client.post(f"/api/v1/auth/users/{user['id']}/disable", headers=headers)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    audit = client.get("/api/v1/auth/audit", params={"actor": "admin"}).json()
    assert [e["action"] for e in audit] == ["user.disabled", "user.created", "login.succeeded"]
    assert audit[0]["source_ip"] == "testclient"


def test_writes_with_the_cookie_need_the_csrf_header(client: TestClient) -> None:
    csrf = log_in(client, "admin")
    body = {"name": "POS"}
    missing = client.post("/api/v1/auth/api-keys", json=body)
    wrong = client.post("/api/v1/auth/api-keys", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert (missing.status_code, missing.json()["code"]) == (403, "CSRF_FAILED")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "CSRF_FAILED")
    ok = client.post("/api/v1/auth/api-keys", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "hq_admin", "password": "short"}, 422, "PASSWORD_TOO_SHORT"),
        ({"role": "store_guide"}, 422, "INVALID_SCOPE"),
        ({"role": "store_manager", "scope_value": "NOPE-1"}, 422, "UNKNOWN_STORE"),
        ({"role": "region_manager", "scope_value": "火星省"}, 422, "UNKNOWN_REGION"),
        ({"role": "emperor"}, 422, "VALIDATION_ERROR"),
        ({"role": "hq_admin", "username": "no spaces"}, 422, "VALIDATION_ERROR"),
        ({"role": "hq_admin", "username": "GUIDE"}, 409, "USERNAME_TAKEN"),
    ],
)
def test_bad_users_get_a_clear_4xx_and_nothing_is_written(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    csrf = log_in(client, "admin")
    before = people.counts(client.app.state.engine)  # type: ignore[attr-defined]
    response = client.post(
        "/api/v1/auth/users",
        json={"username": "new.one", "display_name": "New", "password": "a" * 12, **body},
        headers={"X-CSRF-Token": csrf},
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["message"]
    assert people.counts(client.app.state.engine) == before  # type: ignore[attr-defined]


def test_an_api_key_works_as_a_bearer_token_until_revoked(client: TestClient) -> None:
    csrf = log_in(client, "admin")
    headers = {"X-CSRF-Token": csrf}
    created = client.post(
        "/api/v1/auth/api-keys",
        json={"name": "Guangzhou till", "scope_kind": "store", "scope_value": "GZ-1"},
        headers=headers,
    ).json()
    raw, key_id = created["key"], created["api_key"]["id"]
    listed = client.get("/api/v1/auth/api-keys").json()
    assert [(k["prefix"], k["scope_value"]) for k in listed] == [(raw[:11], "GZ-1")]

    with TestClient(client.app) as integration:
        bearer = {"Authorization": f"Bearer {raw}"}
        me = integration.get("/api/v1/auth/me", headers=bearer)
        assert me.status_code == 200, me.text
        assert (me.json()["kind"], me.json()["role"]) == ("api_key", "integrator")
        forbidden = integration.get("/api/v1/auth/users", headers=bearer)
        assert forbidden.status_code == 403

        revoked = client.post(f"/api/v1/auth/api-keys/{key_id}/revoke", headers=headers)
        assert revoked.status_code == 200, revoked.text
        after = integration.get("/api/v1/auth/me", headers=bearer)
        assert (after.status_code, after.json()["code"]) == (401, "INVALID_API_KEY")


def test_logout_clears_the_cookie_and_logout_everywhere_ends_other_sessions(
    client: TestClient,
) -> None:
    with TestClient(client.app) as laptop:
        csrf_phone = log_in(client, "admin")
        log_in(laptop, "admin")
        assert laptop.get("/api/v1/auth/me").status_code == 200
        out = client.post(
            "/api/v1/auth/logout", json={"everywhere": True}, headers={"X-CSRF-Token": csrf_phone}
        )
        assert out.status_code == 204, out.text
        assert 'yipan_session=""' in out.headers["set-cookie"]
        assert client.get("/api/v1/auth/me").status_code == 401
        assert laptop.get("/api/v1/auth/me").status_code == 401


def test_require_protects_any_route_with_the_permission_table(engine: Engine) -> None:
    people.stores(engine)
    people.user(engine, "guide", Role.STORE_GUIDE, "SH-1")
    people.user(engine, "planner", Role.PLANNER)
    app = create_app(engine, background=False)

    @app.post("/test/transfer")
    def transfer(principal: Principal = Depends(require("inventory.transfer"))) -> str:
        return principal.name

    @app.get("/test/anyone")
    def anyone(principal: Principal = Depends(current_principal)) -> str:
        return principal.name

    install_error_handlers(app)
    with TestClient(app) as guide, TestClient(app) as planner:
        guide_csrf = log_in(guide, "guide")
        planner_csrf = log_in(planner, "planner")
        refused = guide.post("/test/transfer", headers={"X-CSRF-Token": guide_csrf})
        assert refused.status_code == 403
        assert refused.json()["details"] == {"role": "store_guide", "action": "inventory.transfer"}
        allowed = planner.post("/test/transfer", headers={"X-CSRF-Token": planner_csrf})
        assert (allowed.status_code, allowed.json()) == (200, "planner")
        assert guide.get("/test/anyone").json() == "guide"
    with pytest.raises(KeyError, match="unknown action"):
        require("inventory.teleport")


def test_a_locked_account_is_a_423_naming_when_it_opens(client: TestClient) -> None:
    wrong = {"username": "guide", "password": "wrong-wrong"}
    statuses = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    right = client.post(
        "/api/v1/auth/login", json={"username": "guide", "password": people.PASSWORD}
    )
    assert (right.status_code, right.json()["code"]) == (423, "ACCOUNT_LOCKED")
    assert "locked_until" in right.json()["details"]
    assert "set-cookie" not in right.headers
