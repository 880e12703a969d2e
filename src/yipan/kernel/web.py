"""HTTP plumbing shared by every context's router: the engine dependency and the error shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.errors import DeadlockDetected, SerializationFailure
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from yipan.kernel.errors import YipanError


async def get_engine(request: Request) -> Engine:
    # Async: a sync dependency would cost every request a hop to a worker thread and back.
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]

# Bounds the databases can hold: an unbounded integer from a query string would overflow SQLite's
# 64-bit integers and become a 500 instead of a 422.
MAX_ID = 2**62
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="rows to skip")]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="page below this id")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


# Every route but the login needs a caller (401 without one) whose role and scope allow it (403).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 422)
}


def _error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"code": code, "message": message, "details": jsonable_encoder(details)},
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(YipanError)
    async def _yipan_error(_request: Request, exc: YipanError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "problem": "invalid request"}
        message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        return _error(422, "VALIDATION_ERROR", message, {"errors": errors})

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, _exc: IntegrityError) -> JSONResponse:
        # A constraint caught what the checks before it could not see: a write racing ours.
        return _error(
            409,
            "CONCURRENT_CONFLICT",
            "the change conflicts with one made at the same moment; nothing was written, send it "
            "again",
            {},
        )

    @app.exception_handler(OperationalError)
    async def _operational_error(_request: Request, exc: OperationalError) -> JSONResponse:
        busy_sqlite = "database is locked" in str(exc.orig)
        if busy_sqlite or isinstance(exc.orig, (DeadlockDetected, SerializationFailure)):
            return _error(
                409,
                "RETRY",
                "the database chose this request to give way to a concurrent one; nothing was "
                "written, send it again",
                {},
            )
        raise exc

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        # Keep the framework's headers: a 405 must say which methods are allowed.
        return _error(exc.status_code, code, str(exc.detail), {}, exc.headers)
