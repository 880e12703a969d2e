"""Access over HTTP: login and logout, who am I, users, API keys and the audit log; and the
`current_principal` / `require(action)` dependencies other routers use to protect themselves.

A caller is known by `Authorization: Bearer <api key>` or by the `yipan_session` cookie that
login sets. Writes made with the cookie must also send the session's CSRF token in the
`X-CSRF-Token` header: the cookie goes along with any request the browser makes, the header only
with ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from yipan.auth.domain import Principal, is_known_action, permissions_of
from yipan.auth.errors import Forbidden, NotAuthenticated
from yipan.auth.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    AuditEntryOut,
    LoginIn,
    LoginOut,
    LogoutIn,
    PrincipalOut,
    ScopeOut,
    UserIn,
    UserOut,
)
from yipan.auth.service import audit, keys, login, sessions, users
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, BeforeId, EngineDep, ErrorBody, IdPath

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "NOT_AUTHENTICATED or INVALID_API_KEY"},
    403: {"model": ErrorBody, "description": "FORBIDDEN (role) or CSRF_FAILED"},
}

_bearer = HTTPBearer(auto_error=False, description="an API key: `Bearer yk_…`")
_cookie = APIKeyCookie(
    name=sessions.SESSION_COOKIE, auto_error=False, description="the session login sets"
)


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_principal(
    request: Request,
    engine: EngineDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_token: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """Who is calling, from an API key or the session cookie; 401 when neither is good.

    Async on purpose: a key checked moments ago is answered from memory on the event loop, which
    spares a busy till's every request two hops to a worker thread and back (this dependency and
    `require`'s); only a lookup in the database goes to a thread."""
    known = keys.recently_checked(bearer.credentials) if bearer is not None else None
    if known is not None:
        principal = known
    else:
        principal = await run_in_threadpool(_known_caller, request, engine, bearer, session_token)
    # The audit trail (yipan.auth.trail) reads it back once the request has been answered.
    request.state.principal = principal
    return principal


def _known_caller(
    request: Request,
    engine: Engine,
    bearer: HTTPAuthorizationCredentials | None,
    session_token: str | None,
) -> Principal:
    if bearer is not None:
        known = keys.recently_checked(bearer.credentials)
        if known is None:
            with unit_of_work(engine) as session:
                known = keys.authenticate_api_key(session, bearer.credentials)
            keys.remember_checked(bearer.credentials, known)
        return known
    if session_token:
        if request.method not in _SAFE_METHODS:
            sessions.check_csrf(session_token, request.headers.get(CSRF_HEADER))
        with unit_of_work(engine, readonly=True) as session:
            return sessions.principal_for_session(session, session_token)
    raise NotAuthenticated(
        "log in first (POST /api/v1/auth/login) or send an API key as `Authorization: Bearer …`",
        reason="missing",
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    """Give the browser its session: the API's login and the console's login form both use it."""
    response.set_cookie(
        sessions.SESSION_COOKIE,
        token,
        max_age=int(sessions.SESSION_MAX_AGE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def require(action: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, if their role may perform `action`; 403 FORBIDDEN otherwise."""
    if not is_known_action(action):
        raise KeyError(f"unknown action {action!r}; add it to yipan.auth.domain.PERMISSIONS")

    async def allowed(principal: CurrentPrincipal) -> Principal:
        if not principal.may(action):
            raise Forbidden(
                f"a {principal.role} may not do {action}", role=principal.role, action=action
            )
        return principal

    return allowed


def allowed(action: str) -> list[Any]:
    """For a route's `dependencies=`: only callers whose role may do `action` get through."""
    return [Depends(require(action))]


UserAdmin = Annotated[Principal, Depends(require("users.manage"))]
AuditReader = Annotated[Principal, Depends(require("audit.read"))]


def principal_out(principal: Principal) -> PrincipalOut:
    return PrincipalOut(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        role=principal.role,
        scope=ScopeOut(kind=principal.scope.kind, value=principal.scope.value),
        permissions=permissions_of(principal.role),
    )


router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=AUTH_RESPONSES)


@router.post("/login", responses={423: {"model": ErrorBody, "description": "ACCOUNT_LOCKED"}})
def log_in(body: LoginIn, request: Request, response: Response, engine: EngineDep) -> LoginOut:
    """Check a username and password; sets the `yipan_session` cookie (12 hours) and returns the
    CSRF token that writes made with it must send as `X-CSRF-Token`."""
    with unit_of_work(engine) as session:
        outcome = login.authenticate(
            session, body.username, body.password, source_ip=source_ip(request)
        )
    signed_in = outcome.unwrap()
    token = sessions.issue_session_token(signed_in)
    set_session_cookie(response, token, request)
    return LoginOut(
        principal=principal_out(signed_in.principal), csrf_token=sessions.csrf_token_for(token)
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
    engine: EngineDep,
    body: LogoutIn | None = None,
) -> None:
    """End this session (the cookie is cleared); `{"everywhere": true}` ends all of them."""
    with unit_of_work(engine) as session:
        if body is not None and body.everywhere and principal.kind == "user":
            assert principal.id is not None
            users.end_sessions(session, principal.id, by=principal, source_ip=source_ip(request))
        else:
            login.record_logout(session, principal, source_ip=source_ip(request))
    clear_session_cookie(response)


@router.get("/me")
def me(principal: CurrentPrincipal) -> PrincipalOut:
    """Who you are: your role, your data scope and what you may do."""
    return principal_out(principal)


@router.get("/users")
def list_users(_admin: UserAdmin, engine: EngineDep) -> list[UserOut]:
    with unit_of_work(engine, readonly=True) as session:
        return users.list_users(session)


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(user_in: UserIn, admin: UserAdmin, request: Request, engine: EngineDep) -> UserOut:
    """Create a user. Region roles need a province some node is in, store roles a node code;
    passwords need at least 10 characters."""
    with unit_of_work(engine) as session:
        return users.create_user(session, user_in, by=admin, source_ip=source_ip(request))


@router.get("/users/{user_id}")
def get_user(user_id: IdPath, _admin: UserAdmin, engine: EngineDep) -> UserOut:
    with unit_of_work(engine, readonly=True) as session:
        return users.get_user(session, user_id)


@router.post("/users/{user_id}/disable")
def disable_user(user_id: IdPath, admin: UserAdmin, request: Request, engine: EngineDep) -> UserOut:
    """Disable a user: they cannot log in, and their open sessions end at once."""
    with unit_of_work(engine) as session:
        return users.disable_user(session, user_id, by=admin, source_ip=source_ip(request))


@router.get("/api-keys")
def list_api_keys(_admin: UserAdmin, engine: EngineDep) -> list[ApiKeyOut]:
    with unit_of_work(engine, readonly=True) as session:
        return keys.list_api_keys(session)


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
def create_api_key(
    key_in: ApiKeyIn, admin: UserAdmin, request: Request, engine: EngineDep
) -> ApiKeyCreated:
    """Create a key; the key itself is in this answer only, keep it now."""
    with unit_of_work(engine) as session:
        return keys.create_api_key(session, key_in, by=admin, source_ip=source_ip(request))


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(
    key_id: IdPath, admin: UserAdmin, request: Request, engine: EngineDep
) -> ApiKeyOut:
    with unit_of_work(engine) as session:
        return keys.revoke_api_key(session, key_id, by=admin, source_ip=source_ip(request))


@router.get("/audit")
def list_audit(
    _reader: AuditReader,
    engine: EngineDep,
    actor: Annotated[
        str | None, Query(max_length=200, description="a username or key prefix")
    ] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. login.failed")] = None,
    before_id: BeforeId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AuditEntryOut]:
    """The audit log, newest first; page on with `before_id` = the last id you saw."""
    with unit_of_work(engine, readonly=True) as session:
        return audit.list_audit(
            session, actor=actor, action=action, before_id=before_id, limit=limit
        )
