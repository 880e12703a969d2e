"""The auth context's errors; each has a code, an HTTP status and a message fit to show."""

from __future__ import annotations

from yipan.kernel.errors import Conflict, InvalidInput, NotFound, YipanError


class NotAuthenticated(YipanError):
    """No credentials, or credentials that are no longer good (expired or ended session)."""

    code = "NOT_AUTHENTICATED"
    status = 401


class InvalidCredentials(YipanError):
    """Wrong password or unknown username: deliberately the same error for both."""

    code = "INVALID_CREDENTIALS"
    status = 401


class InvalidApiKey(YipanError):
    code = "INVALID_API_KEY"
    status = 401


class AccountLocked(YipanError):
    code = "ACCOUNT_LOCKED"
    status = 423


class Forbidden(YipanError):
    code = "FORBIDDEN"
    status = 403


class OutOfScope(YipanError):
    """A write at a node outside the caller's data scope (reads of such things answer 404)."""

    code = "OUT_OF_SCOPE"
    status = 403


class CsrfFailed(YipanError):
    code = "CSRF_FAILED"
    status = 403


class UnknownUser(NotFound):
    code = "UNKNOWN_USER"


class UnknownApiKey(NotFound):
    code = "UNKNOWN_API_KEY"


class UsernameTaken(Conflict):
    code = "USERNAME_TAKEN"


class UserAlreadyDisabled(Conflict):
    code = "USER_ALREADY_DISABLED"


class CannotDisableSelf(Conflict):
    """Disabling one's own account would sign out, and could leave no administrator."""

    code = "CANNOT_DISABLE_SELF"


class ApiKeyAlreadyRevoked(Conflict):
    code = "API_KEY_ALREADY_REVOKED"


class PasswordTooShort(InvalidInput):
    code = "PASSWORD_TOO_SHORT"


class InvalidScope(InvalidInput):
    code = "INVALID_SCOPE"


class UnknownStore(InvalidInput):
    code = "UNKNOWN_STORE"


class UnknownRegion(InvalidInput):
    code = "UNKNOWN_REGION"
