"""Keyed hashes for looking personal data up and authenticated encryption for showing it.

Both keys are derived from `YIPAN_PII_KEY` with HKDF-SHA256 under different labels, so the
lookup hash reveals nothing about the encryption key and vice versa. Lookup values are
HMAC-SHA256 over "kind:normalised value": equal values hash equally (that is the point), and
without the key nobody can test a guessed phone number against the table. Stored values are
AES-256-GCM with a random 96-bit nonce per value and the kind as associated data, so a value
cannot be moved to another kind unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yipan.kernel.config import get_settings

_VERSION = "v1"


class Vault:
    def __init__(self, secret: str) -> None:
        self._lookup_key = _derive(secret, b"yipan members lookup")
        self._cipher = AESGCM(_derive(secret, b"yipan members encryption"))

    def lookup_hash(self, kind: str, value: str) -> str:
        return hmac.new(self._lookup_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def encrypt(self, kind: str, value: str) -> str:
        nonce = os.urandom(12)
        sealed = self._cipher.encrypt(nonce, value.encode(), kind.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, kind: str, stored: str) -> str:
        version, _, body = stored.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown encryption version {version!r}")
        raw = base64.b64decode(body)
        return self._cipher.decrypt(raw[:12], raw[12:], kind.encode()).decode()


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret.encode())


@lru_cache(maxsize=4)
def _vault_for(secret: str) -> Vault:
    return Vault(secret)


def vault() -> Vault:
    return _vault_for(get_settings().pii_key)


def mask(kind: str, value: str) -> str:
    """What a view shows: a phone as 138****8000, an e-mail as z***@qq.com, other ids' last 4."""
    if kind == "phone" and len(value) >= 8:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if kind == "email" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]
