"""Keyed hashes for looking personal data up and authenticated encryption for showing it.

Both keys are derived from `YIPAN_PII_KEY` with HKDF-SHA256 under different labels, so the
lookup hash reveals nothing about the encryption key and vice versa. Lookup values are
HMAC-SHA256 over "kind:normalised value": equal values hash equally (that is the point), and
without the key nobody can test a guessed phone number against the table. Stored values are
AES-256-GCM with a random 96-bit nonce per value and the kind as associated data, so a value
cannot be moved to another kind unnoticed.

Bulk ingest hashes and encrypts a few million values, so both are kept cheap: the HMAC's keyed
state is built once and copied per value, one `AESGCM` object serves every call, and
`encrypt_many` draws all of a batch's nonces from the OS in one read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from yipan.kernel.config import get_settings

_VERSION = "v1"
_NONCE = 12  # bytes: AES-GCM's 96-bit nonce


class Vault:
    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(_derive(secret, b"yipan members lookup"), digestmod=hashlib.sha256)
        self._cipher = AESGCM(_derive(secret, b"yipan members encryption"))

    def lookup_hash(self, kind: str, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(f"{kind}:{value}".encode())
        return mac.hexdigest()

    def encrypt(self, kind: str, value: str) -> str:
        return self._seal(os.urandom(_NONCE), kind, value)

    def encrypt_many(self, values: Sequence[tuple[str, str]]) -> list[str]:
        """`encrypt` for each (kind, value), each with its own random nonce."""
        nonces = os.urandom(_NONCE * len(values))
        return [
            self._seal(nonces[i * _NONCE : (i + 1) * _NONCE], kind, value)
            for i, (kind, value) in enumerate(values)
        ]

    def _seal(self, nonce: bytes, kind: str, value: str) -> str:
        sealed = self._cipher.encrypt(nonce, value.encode(), kind.encode())
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, kind: str, stored: str) -> str:
        version, _, body = stored.partition(":")
        if version != _VERSION:
            raise ValueError(f"unknown encryption version {version!r}")
        raw = base64.b64decode(body)
        return self._cipher.decrypt(raw[:_NONCE], raw[_NONCE:], kind.encode()).decode()


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
