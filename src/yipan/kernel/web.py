"""HTTP plumbing shared by every context's router: the engine dependency and the error shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.errors import DeadlockDetected, SerializationFailure
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException

from yipan.kernel.errors import YipanError


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 404, 409, 422)
}


def _error(status: int, code: str, message: str, details: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"code": code, "message": message, "details": jsonable_encoder(details)},
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
        return _error(exc.status_code, code, str(exc.detail), {})
