"""A key revoked in one process stops working in the others within the memory of checked keys.

Each API process remembers the keys it checked for `CHECKED_KEY_TTL_SECONDS` (a till sending many
requests a second costs one lookup per key every few seconds). The process that revokes a key
forgets it at once (`test_api_scopes.py`); the others learn it from the database when their memory
of it runs out. Here the server is a real process of its own, and the key is revoked from the
test's process, as from another API process or the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.access import api_key, bearer
from tests.servers import running_server
from yipan.auth.domain import Principal, Role
from yipan.auth.models import ApiKey
from yipan.auth.service import keys
from yipan.kernel.db import unit_of_work

# Several seconds each: run first, so no worker is left with it at the end (tests/conftest.py).
pytestmark = pytest.mark.slow

# Room for a request on a busy machine after the memory runs out; not a measure of speed.
SLACK_SECONDS = 10.0


def _revoke(engine: Engine, raw: str) -> None:
    with unit_of_work(engine) as session:
        prefix = raw[: len(keys.KEY_MARK) + 8]  # what is stored beside the hash
        key_id = session.scalars(select(ApiKey.id).where(ApiKey.prefix == prefix)).one()
        keys.revoke_api_key(session, key_id, by=Principal.system("tests: another process"))


def test_a_key_revoked_elsewhere_is_refused_once_the_servers_memory_of_it_runs_out(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    raw = api_key(engine, Role.INTEGRATOR)
    with (
        running_server(database_url, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.base_url, headers=bearer(raw), timeout=30.0) as client,
    ):
        assert client.get("/api/v1/skus").status_code == 200  # the server now remembers it
        _revoke(engine, raw)
        revoked = time.monotonic()
        answers: list[int] = []
        while True:
            answer = client.get("/api/v1/skus")
            answers.append(answer.status_code)
            if answer.status_code == 401:
                assert answer.json()["code"] == "INVALID_API_KEY"
                break
            assert answer.status_code == 200, answer.text
            waited = time.monotonic() - revoked
            assert waited < keys.CHECKED_KEY_TTL_SECONDS + SLACK_SECONDS, (
                f"still accepted {waited:.1f} s after it was revoked ({len(answers)} requests)"
            )
            time.sleep(0.25)
        # Refused for good, not once.
        assert client.get("/api/v1/skus").status_code == 401
