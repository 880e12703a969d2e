"""Lock-out under real concurrency: wrong passwords from several server processes at once are
counted together, so spreading a guessing attack over processes does not buy more guesses."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine

from tests import support
from tests.auth import people
from yipan.auth.service import login
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

WORKERS = 3
ATTEMPTS = 3


def _worker(url: str, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    codes = []
    barrier.wait()
    for _ in range(ATTEMPTS):
        try:
            with unit_of_work(engine) as session:
                outcome = login.authenticate(session, "admin", "a wrong guess")
            outcome.unwrap()
            codes.append("SIGNED_IN")
        except YipanError as refused:
            codes.append(refused.code)
        except Exception as crashed:  # reported, not raised: the test says which error it was
            codes.append(repr(crashed))
    engine.dispose()
    out.put(codes)


@pytest.mark.slow
def test_failures_from_several_processes_lock_the_account_after_five(
    engine: Engine, database_url: str
) -> None:
    people.user(engine, "admin")

    per_worker = support.run_in_processes(_worker, [(database_url,)] * WORKERS)

    codes = Counter(code for codes in per_worker for code in codes)
    assert codes == {"INVALID_CREDENTIALS": 4, "ACCOUNT_LOCKED": WORKERS * ATTEMPTS - 4}
    assert people.audit_actions(engine).count("login.locked") == 1
    with unit_of_work(engine) as session:
        outcome = login.authenticate(session, "admin", people.PASSWORD)
    assert outcome.error is not None
    assert outcome.error.code == "ACCOUNT_LOCKED"
