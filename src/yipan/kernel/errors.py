"""The one error shape of Yipan: a machine-readable code, a human message, details, an HTTP status.

Each context declares its own subclasses in `<context>/errors.py`; the API maps any `YipanError`
to `{"code", "message", "details"}` with its status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class YipanError(Exception):
    code: ClassVar[str] = "ERROR"
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(YipanError):
    code = "NOT_FOUND"
    status = 404


class Conflict(YipanError):
    code = "CONFLICT"
    status = 409


class InvalidInput(YipanError):
    code = "INVALID_INPUT"
    status = 422


class IdempotencyConflict(Conflict):
    """The same idempotency key was sent again with a different payload."""

    code = "IDEMPOTENCY_KEY_REUSED"


class UnsupportedImportFormat(InvalidInput):
    """An import file whose format (CSV or JSON Lines) cannot be told or is not one we read."""

    code = "UNSUPPORTED_IMPORT_FORMAT"


class InvalidImportFile(InvalidInput):
    """The file as a whole cannot be imported (no header, missing columns, not text)."""

    code = "INVALID_IMPORT_FILE"
