"""Password hashing with argon2id (argon2-cffi's defaults, which follow RFC 9106's advice)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from yipan.auth.errors import PasswordTooShort
from yipan.auth.schemas import MIN_PASSWORD_LENGTH

_hasher = PasswordHasher()


def hasher() -> PasswordHasher:
    return _hasher


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            min_length=MIN_PASSWORD_LENGTH,
        )


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return hasher().check_needs_rehash(stored_hash)


@cache
def _dummy_hash(for_hasher: PasswordHasher) -> str:
    return for_hasher.hash("yipan-no-such-user-password")


def burn_verification_time(password: str) -> None:
    """Spend what checking a real password costs, so an unknown username answers as slowly as a
    wrong password and names cannot be probed by timing."""
    verify_password(_dummy_hash(hasher()), password)
