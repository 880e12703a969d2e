from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from yipan.auth.service import passwords

# Argon2 at its production cost takes ~0.1 s a hash; tests make many, and the parameters are
# not what they test (the rehash test sets its own).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
    return CHEAP_HASHER
