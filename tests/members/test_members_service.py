"""Members services against storage (SQLite and PostgreSQL): resolution, events, privacy, CLI."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, reject
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from tests import support
from tests.members.checks import astray
from yipan.cli.main import app
from yipan.events.models import OutboxEvent
from yipan.kernel.config import get_settings
from yipan.kernel.db import among, make_engine, unit_of_work
from yipan.members.domain import identifiers as ids
from yipan.members.domain.identity import resolve
from yipan.members.models import Identity, Merge, SourceRecord
from yipan.members.schemas import DecisionIn, IdentityIn, SourceRecordIn
from yipan.members.service import ingest, parallel, profile, review
from yipan.members.service.pii import vault


def random_records(seed: int, count: int) -> list[SourceRecordIn]:
    """Records sharing phones and e-mails from small pools, without cards: no conflicts arise."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        identities = []
        if rng.random() < 0.7:
            identities.append(
                IdentityIn(kind=ids.IdentityKind.PHONE, value=f"1390000{rng.randrange(25):04d}")
            )
        if rng.random() < 0.5:
            identities.append(
                IdentityIn(kind=ids.IdentityKind.EMAIL, value=f"p{rng.randrange(25)}@qq.com")
            )
        source = rng.choice(["pos", "online_shop", "social"])
        records.append(SourceRecordIn(source=source, record_id=f"r{n}", identities=identities))
    return records


def domain_groups(records: list[SourceRecordIn]) -> set[frozenset[tuple[str, str]]]:
    """The (source, record id) of each member the domain's batch resolution makes of `records`."""
    members = resolve(ingest.as_domain(r) for r in records).members()
    return {frozenset((k.source, k.record_id) for k in m.records) for m in members}


_ANY_TEXT = st.text(max_size=12)
_SOURCES = st.from_regex(r"[a-z0-9][a-z0-9._\-]{0,8}", fullmatch=True)
_PAYLOADS = st.fixed_dictionaries(
    {
        "source": _SOURCES,
        "record_id": _ANY_TEXT,
        "name": _ANY_TEXT,
        "identities": st.lists(
            st.fixed_dictionaries(
                {"kind": st.sampled_from([k.value for k in ids.IdentityKind]), "value": _ANY_TEXT},
                optional={"source": _SOURCES},
            ),
            max_size=4,
        ),
        "attributes": st.dictionaries(
            _ANY_TEXT, st.none() | st.booleans() | st.integers() | _ANY_TEXT, max_size=4
        ),
    }
)


@given(_PAYLOADS)
def test_the_payload_hash_is_the_sha256_of_the_records_canonical_json(payload: Any) -> None:
    try:
        record = SourceRecordIn.model_validate(payload)
    except ValidationError:
        reject()  # an empty id or value after trimming: refused before any hash is taken
    canonical = json.dumps(record.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    assert ingest.payload_hash(record) == hashlib.sha256(canonical.encode()).hexdigest()


def test_batches_in_any_split_group_records_as_the_domain_resolution_does(engine: Engine) -> None:
    records = random_records(7, 80)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    member_of: dict[tuple[str, str], str] = {}
    for start, stop in [(0, 30), (30, 31), (31, 80)]:
        with unit_of_work(engine) as session:
            report = ingest.ingest_records(session, shuffled[start:stop])
        for result in report.results:
            member_of[(result.source, result.record_id)] = result.member_id
    with unit_of_work(engine, readonly=True) as session:
        current = {
            key: profile.get_member(session, member_id).id for key, member_id in member_of.items()
        }
    got: dict[str, set[tuple[str, str]]] = {}
    for key, member_id in current.items():
        got.setdefault(member_id, set()).add(key)
    assert {frozenset(v) for v in got.values()} == domain_groups(records)
    assert astray(engine) == []


def test_a_part_decided_from_memory_chunk_after_chunk_groups_records_as_the_domain_does(
    engine: Engine,
) -> None:
    records = random_records(11, 90)
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    stored, part = shuffled[:30], shuffled[30:]
    with unit_of_work(engine) as session:
        ingest.ingest_records(session, stored)
    with unit_of_work(engine, readonly=True) as session:
        reached = {
            key[1]
            for keys in parallel.links(session, part)
            for key in keys
            if key[0] == parallel.MEMBER
        }
        members = ingest.PartIngest(session, reached)
    assert reached  # the part joins and merges members stored before it
    for start in range(0, len(part), 7):
        with unit_of_work(engine) as session:
            counted = members.ingest(session, part[start : start + 7])
        assert counted.total() == len(part[start : start + 7])
    with unit_of_work(engine, readonly=True) as session:
        rows = session.execute(
            select(SourceRecord.source, SourceRecord.record_id, SourceRecord.member_id)
        ).all()
    got: dict[int, set[tuple[str, str]]] = {}
    for source, record_id, member_id in rows:  # a merge moves the records to the survivor
        got.setdefault(member_id, set()).add((source, record_id))
    assert {frozenset(v) for v in got.values()} == domain_groups(records)
    assert astray(engine) == []


def test_the_references_check_finds_each_kind_a_foreign_key_would_have_refused(
    engine: Engine,
) -> None:
    phone = IdentityIn(kind=ids.IdentityKind.PHONE, value="13900001111")
    with unit_of_work(engine) as session:
        ingest.ingest_records(
            session,
            [
                SourceRecordIn(source="pos", record_id="a", identities=[phone]),
                SourceRecordIn(source="online_shop", record_id="b", identities=[phone]),
            ],
        )
    assert astray(engine) == []
    gone = 10**9
    with unit_of_work(engine) as session:
        record = session.scalars(select(SourceRecord).where(SourceRecord.record_id == "a")).one()
        own, other = sorted(
            session.scalars(select(Identity)), key=lambda i: i.record_id != record.id
        )
        merge = session.scalars(select(Merge)).one()
        member, broken = record.member_id, (record.id, merge.id, other.id)
        record.member_id = own.member_id = gone  # the record and its identity, moved together
        merge.via_record_id = gone
        other.member_id = gone  # an identity away from its record's member
    assert sorted(astray(engine)) == sorted(
        [
            f"record {broken[0]}: no member {gone}",
            f"merge {broken[1]}: no via_record_id {gone}",
            f"identity {broken[2]}: member {gone}, its record's {member}",
        ]
    )


def test_a_part_told_its_records_are_new_refuses_one_stored_since_and_writes_nothing(
    engine: Engine,
) -> None:
    records = random_records(13, 20)
    with unit_of_work(engine, readonly=True) as session:
        members = ingest.PartIngest(session, set(), stored_records=set())
    with unit_of_work(engine) as session:  # someone else stores one of them meanwhile
        ingest.ingest_records(session, records[5:6])
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        members.ingest(session, records)
    with unit_of_work(engine, readonly=True) as session:
        stored = session.execute(select(SourceRecord.source, SourceRecord.record_id)).all()
    assert [tuple(row) for row in stored] == [(records[5].source, records[5].record_id)]


def test_every_change_records_a_past_tense_event(engine: Engine) -> None:
    phone = IdentityIn(kind=ids.IdentityKind.PHONE, value="13800138001")
    email = IdentityIn(kind=ids.IdentityKind.EMAIL, value="zs@qq.com")
    with unit_of_work(engine) as session:
        ingest.ingest_records(
            session, [SourceRecordIn(source="pos", record_id="a", identities=[phone])]
        )
        ingest.ingest_records(
            session, [SourceRecordIn(source="online_shop", record_id="b", identities=[email])]
        )
        [bridge] = ingest.ingest_records(
            session, [SourceRecordIn(source="social", record_id="c", identities=[phone, email])]
        ).results
        member = profile.member_360(session, bridge.member_id)
        [merge] = [m for m in member.merges if m.absorbed]
        review.unmerge(session, merge.id, DecisionIn(who="hq"))
        profile.erase_member(session, bridge.member_id)
    with unit_of_work(engine, readonly=True) as session:
        names = list(session.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))
    assert names == [
        "members.MemberCreated",
        "members.MemberCreated",
        "members.RecordLinked",  # the bridge joins the first member it shares a value with
        "members.MembersMerged",  # then brings the second one in
        "members.MemberUnmerged",
        "members.MemberErased",
    ]


def test_personal_data_is_stored_only_hashed_and_encrypted(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        ingest.ingest_records(
            session,
            [
                SourceRecordIn(
                    source="pos",
                    record_id="a",
                    identities=[IdentityIn(kind=ids.IdentityKind.PHONE, value="13800138001")],
                )
            ],
        )
    with unit_of_work(engine, readonly=True) as session:
        [(value_hash, encrypted)] = session.execute(
            select(Identity.value_hash, Identity.value_encrypted)
        ).all()
    assert "13800138001" not in value_hash + encrypted
    assert vault().decrypt("phone", encrypted) == "13800138001"
    with pytest.raises(InvalidTag):  # bound to its kind: not readable as another one
        vault().decrypt("email", encrypted)


@pytest.mark.postgres
def test_identifier_lookups_are_answered_by_the_hash_index_on_postgresql(pg_engine: Engine) -> None:
    """Migration 0020 made the lookup index a hash index; the one shape of lookup the ingest
    and the import's split send (a set of value hashes, matching identities) must still probe it
    rather than read the table."""
    with unit_of_work(pg_engine) as session:
        ingest.ingest_records(session, random_records(11, 80))
    # A writing unit of work, for its transaction block: `SET LOCAL` holds only inside one.
    with unit_of_work(pg_engine) as session:
        matching = select(Identity.value_hash).where(Identity.matching).distinct()
        hashes = sorted(session.scalars(matching))[:10]
        [condition] = among(session, Identity.value_hash, hashes)
        lookup = select(Identity.value_hash, Identity.member_id).where(condition, Identity.matching)
        sql = lookup.compile(dialect=pg_engine.dialect, compile_kwargs={"literal_binds": True})
        session.execute(text("SET LOCAL enable_seqscan = off"))  # a table this small is read whole
        plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
        found = session.execute(lookup).all()
        definition = session.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_members_identities_lookup'")
        )
    assert "Index Scan using ix_members_identities_lookup" in plan, plan
    assert "Seq Scan on members_identities" not in plan, plan
    assert "USING hash (value_hash)" in (definition or "")
    assert {value_hash for value_hash, _ in found} == set(hashes)


runner = CliRunner()


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = support.fresh_sqlite(sqlite_template, tmp_path / "cli.db")
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_cli_imports_a_file_keeps_good_rows_and_replays_harmlessly(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "members.csv"
    path.write_text(
        "record_id,name,phone\nc1,张三,13800138001\nc2,李四,+86 138 0013 8001\n,nobody,13900000001\n",
        encoding="utf-8",
    )
    first = runner.invoke(app, ["members", "import", str(path), "--source", "pos"])
    assert first.exit_code == 1, first.output
    assert "MALFORMED_ROW" in first.output
    second = runner.invoke(app, ["members", "import", str(path), "--source", "pos"])
    assert second.exit_code == 1
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            [member] = profile.find_members(session, phone="13800138001")
            export = profile.export_member(session, member.id)
    finally:
        engine.dispose()
    assert sorted(r.record_id for r in export.records) == ["c1", "c2"]
    missing = runner.invoke(
        app, ["members", "import", str(tmp_path / "none.csv"), "--source", "pos"]
    )
    assert missing.exit_code == 2
