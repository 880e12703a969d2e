"""Records of one new customer sent at the same moment from several tills end as one member.

Each till is a separate OS process calling the API's ingest (the route function, its own unit of
work) behind a barrier, so they read "no member holds this phone" at the same time. Read
committed, each would then create a member (measured: up to 6 members for 6 tills); the ingest
runs serializable, and the tills made to give way run again and join the first.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests import support
from tests.members.checks import astray
from yipan.kernel.db import make_engine, unit_of_work
from yipan.members import api
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import IdentityIn, RecordBatchIn, SourceRecordIn
from yipan.members.service import profile

TILLS = 6
ROUNDS = 3
SOURCES = ("pos", "online_shop", "social")


def _phone(round_: int) -> str:
    return f"1391234{round_:04d}"


def _till(url: str, till: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    answers = []
    for round_ in range(ROUNDS):
        record = SourceRecordIn(
            source=SOURCES[till % len(SOURCES)],
            record_id=f"till-{till}-round-{round_}",
            identities=[IdentityIn(kind=IdentityKind.PHONE, value=_phone(round_))],
        )
        barrier.wait()
        try:
            report = api.ingest_records(RecordBatchIn(records=[record]), engine)
            answers.append(("ok", report.results[0].member_id))
        except Exception as failed:  # reported, not raised: the test says which error it was
            answers.append(("error", repr(failed)))
    engine.dispose()
    out.put(answers)


@pytest.mark.postgres
@pytest.mark.slow
def test_tills_registering_one_new_customer_at_once_make_one_member(pg_engine: Engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)

    answers = support.run_in_processes(_till, [(url, till) for till in range(TILLS)])

    errors = [a for answer in answers for a in answer if a[0] == "error"]
    assert errors == []
    with unit_of_work(pg_engine, readonly=True) as session:
        for round_ in range(ROUNDS):
            found = profile.find_members(session, phone=_phone(round_))
            assert len(found) == 1, f"round {round_}: {len(found)} members hold one phone"
            held = profile.export_member(session, found[0].id).records
            assert len(held) == TILLS
    told = {member for answer in answers for _, member in answer}
    assert len(told) == ROUNDS  # every till was told the one member of its round
    assert astray(pg_engine) == []
