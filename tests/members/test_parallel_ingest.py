"""A batch ingested by several processes ends as it would in one.

On PostgreSQL the batch is really split over forked processes; on SQLite (one writer) the same
call ingests it in this process. Either way the members, merges and reviews are compared with
one `ingest_records` call over the whole batch on another database. (Which record of a member
was "created" and which "attached" depends on the order they came in, so outcomes are compared
only where the order cannot change them.)
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, exists, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import support
from tests.members.checks import astray
from yipan.cli.main import app
from yipan.kernel.clock import Clock
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.members.domain import identifiers as ids
from yipan.members.domain.partition import parts
from yipan.members.errors import IngestInterrupted, InvalidRecords
from yipan.members.models import Identity, Member, Review, SourceRecord
from yipan.members.schemas import IdentityIn, Outcome, SourceRecordIn
from yipan.members.service import ingest, parallel

PHONE, EMAIL, CARD = ids.IdentityKind.PHONE, ids.IdentityKind.EMAIL, ids.IdentityKind.POS_CARD
Groups = set[frozenset[tuple[str, str]]]


def _record(source: str, record_id: str, name: str = "", **identities: str) -> SourceRecordIn:
    kinds = {"phone": PHONE, "email": EMAIL, "card": CARD}
    return SourceRecordIn(
        source=source,
        record_id=record_id,
        name=name,
        identities=[IdentityIn(kind=kinds[k], value=v) for k, v in identities.items()],
    )


def _batch(seed: int, count: int) -> list[SourceRecordIn]:
    """Phones, e-mails and cards from small pools (chains of links across the whole batch), a
    junk phone shared by strangers, and households: one phone on two cards held by two names."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        identities: dict[str, str] = {}
        if rng.random() < 0.6:
            identities["phone"] = f"1390000{rng.randrange(60):04d}"
        if rng.random() < 0.4:
            identities["email"] = f"p{rng.randrange(60)}@qq.com"
        if rng.random() < 0.05:
            identities["phone"] = "13800138000"  # junk: joins nobody
        source = rng.choice(["pos", "online_shop", "social"])
        records.append(_record(source, f"r{n}", rng.choice(["张三", "李四", ""]), **identities))
    for household in range(3):
        phone = f"1370000{household:04d}"
        records.insert(
            rng.randrange(len(records)),
            _record("pos", f"h{household}a", "王芳", card=f"C{household}A", phone=phone),
        )
        records.insert(
            rng.randrange(len(records)),
            _record("pos", f"h{household}b", "赵强", card=f"C{household}B", phone=phone),
        )
    return records


def _groups(engine: Engine) -> Groups:
    """Each member's records; checks first that no record or identity belongs to a member
    merged away (a merge moves them all to the survivor), and that the references the schema
    leaves to the services hold (`checks.astray`)."""
    assert astray(engine) == []
    with unit_of_work(engine, readonly=True) as session:
        for model in (SourceRecord, Identity):
            stray = session.scalar(
                select(func.count())
                .select_from(model)
                .join(Member, Member.id == model.member_id)
                .where(Member.status != "active")
            )
            assert stray == 0, f"{stray} {model.__name__} row(s) on a merged-away member"
        empty = session.scalar(
            select(func.count())
            .select_from(Member)
            .where(
                Member.status == "active",
                ~exists().where(SourceRecord.member_id == Member.id),
            )
        )
        assert empty == 0, f"{empty} active member(s) without a record"
        found: dict[int, set[tuple[str, str]]] = {}
        for source, record_id, member_id in session.execute(
            select(SourceRecord.source, SourceRecord.record_id, SourceRecord.member_id)
        ):
            found.setdefault(member_id, set()).add((source, record_id))
    return {frozenset(records) for records in found.values()}


def _count(engine: Engine, model: type[Review] | type[SourceRecord]) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _in_one_call(engine: Engine, records: Sequence[SourceRecordIn]) -> Counter[str]:
    with unit_of_work(engine) as session:
        report = ingest.ingest_records(session, records)
    return Counter(result.outcome for result in report.results)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_batch_split_over_processes_makes_the_members_one_call_makes(
    engine: Engine, sqlite_engine: Engine
) -> None:
    records = _batch(11, 240)
    _in_one_call(sqlite_engine, records)
    with unit_of_work(engine, readonly=True) as session:
        split = parts(parallel.links(session, records), 3)
    assert all(len(part) > 60 for part in split)  # three processes, each with work to do

    outcomes = parallel.ingest_in_parallel(_url(engine), records, workers=3, chunk_size=25).outcomes

    assert _groups(engine) == _groups(sqlite_engine)
    assert outcomes.total() == len(records)
    assert outcomes["conflict"] == 3  # the households went to review, not merged
    assert _count(engine, Review) == _count(sqlite_engine, Review) == 3


@pytest.mark.postgres
def test_stored_members_reached_by_several_records_are_decided_in_one_process(
    pg_engine: Engine, sqlite_engine: Engine
) -> None:
    stored = [
        _record("pos", "s1", "张三", phone="13900001234", card="C-1"),
        _record("pos", "s2", "李四", phone="13900005678"),
        _record("pos", "s3", "李四", phone="13900009999", card="C-3"),
    ]
    # Nothing in the batch ties x to y, or z to w: only the stored members do. z merges s2's
    # member and s3's (the older survives) while w joins s3's; the filler records would put
    # them in different processes if the split did not look at stored members.
    records = [
        _record("online_shop", "x", phone="+86 139 0000 1234"),
        _record("online_shop", "z", phone="13900005678", card="C-3"),
        *_batch(5, 120),
        _record("social", "y", card="C-1"),
        _record("social", "w", phone="139 0000 9999"),
        _record("pos", "s1", "张三", phone="13900001234", card="C-1", email="zs@qq.com"),
    ]
    for engine in (pg_engine, sqlite_engine):
        _in_one_call(engine, stored)
    _in_one_call(sqlite_engine, records)
    with unit_of_work(pg_engine, readonly=True) as session:
        linked = parallel.links(session, records)
    members = [{key for key in keys if key[0] == parallel.MEMBER} for keys in linked]
    assert members[0] == members[-3] == members[-1] != set()  # x, y and s1 itself
    assert members[-2] <= members[1]  # w's member is one of z's two
    part_of = {p: i for i, positions in enumerate(parts(linked, 3)) for p in positions}
    assert part_of[0] == part_of[len(records) - 3] == part_of[len(records) - 1]
    assert part_of[1] == part_of[len(records) - 2]

    outcomes = parallel.ingest_in_parallel(
        _url(pg_engine), records, workers=3, chunk_size=10
    ).outcomes

    assert outcomes["updated"] == 1  # s1, sent again with an e-mail more
    groups = _groups(pg_engine)
    assert groups == _groups(sqlite_engine)
    group_of = {key: group for group in groups for key in group}
    assert {("pos", "s1"), ("online_shop", "x"), ("social", "y")} <= group_of[("pos", "s1")]
    assert {("pos", "s2"), ("pos", "s3"), ("online_shop", "z"), ("social", "w")} <= group_of[
        ("pos", "s2")
    ]


@pytest.mark.postgres
def test_a_failing_chunk_stops_its_process_the_others_finish_and_a_rerun_completes(
    pg_engine: Engine, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _batch(23, 200)
    _in_one_call(sqlite_engine, records)
    ingest_chunk = ingest.PartIngest.ingest

    def failing(
        part: ingest.PartIngest,
        session: Session,
        chunk: Sequence[SourceRecordIn],
        *,
        clock: Clock | None = None,
    ) -> Counter[Outcome]:
        if any(r.record_id == "r150" for r in chunk):
            raise RuntimeError("the database went away")
        return ingest_chunk(part, session, chunk, clock=clock)

    monkeypatch.setattr(ingest.PartIngest, "ingest", failing)  # the forked processes inherit it
    with pytest.raises(IngestInterrupted) as stopped:
        parallel.ingest_in_parallel(_url(pg_engine), records, workers=3, chunk_size=10)

    committed = stopped.value.details["committed"]
    assert "the database went away" in stopped.value.message
    assert 0 < committed < len(records)
    assert _count(pg_engine, SourceRecord) == committed  # what it said was kept, was
    monkeypatch.setattr(ingest.PartIngest, "ingest", ingest_chunk)
    outcomes = parallel.ingest_in_parallel(
        _url(pg_engine), records, workers=3, chunk_size=10
    ).outcomes
    assert outcomes["unchanged"] == committed
    assert _groups(pg_engine) == _groups(sqlite_engine)


@pytest.mark.postgres
def test_a_process_that_cannot_read_its_slice_for_the_split_stops_the_import_unwritten(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _batch(29, 90)
    read_links = parallel.links

    def failing(
        session: Session,
        rows: Sequence[SourceRecordIn],
        keys: Sequence[ids.RecordKey | None],
        stored: Mapping[ids.RecordKey, tuple[int, int, str]],
    ) -> object:
        if any(row.record_id == "r70" for row in rows):
            raise RuntimeError("the database went away")
        return read_links(session, rows, keys, stored)

    monkeypatch.setattr(parallel, "links", failing)  # the forked processes inherit it
    with pytest.raises(IngestInterrupted) as stopped:
        parallel.ingest_in_parallel(_url(pg_engine), records, workers=3, chunk_size=10)

    assert "the database went away" in stopped.value.message
    assert stopped.value.details["committed"] == 0
    assert _count(pg_engine, SourceRecord) == 0


_INTERRUPTIBLE = """
import signal
import sys
# As a terminal's Python has it: Ctrl-C raises KeyboardInterrupt. A test run started in the
# background by a non-interactive shell (`make test &`) hands its children SIGINT ignored, and
# Python then leaves it ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from yipan.members.errors import IngestInterrupted
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import parallel

records = [
    SourceRecordIn(
        source="pos",
        record_id=f"p{n}",
        identities=[IdentityIn(kind="phone", value=f"137{n:08d}")],
    )
    for n in range(20_000)
]
try:
    parallel.ingest_in_parallel(
        sys.argv[1], records, workers=2, chunk_size=50, progress=lambda n: print("chunk", n, flush=True)
    )
except IngestInterrupted as stopped:
    print("stopped", stopped.details["committed"], stopped.message, flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.postgres
@pytest.mark.slow
def test_an_interrupt_stops_every_process_keeps_whole_chunks_and_says_how_many(
    pg_engine: Engine,
) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTIBLE, _url(pg_engine)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert run.stdout is not None
        first = run.stdout.readline()  # a chunk is committed: the processes are at work
        assert first.startswith("chunk"), first
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()

    assert run.returncode == 3, out + err
    said = next(line for line in out.splitlines() if line.startswith("stopped"))
    assert "at least" in said
    assert "Traceback" not in err
    stored = _count(pg_engine, SourceRecord)
    assert int(said.split()[1]) <= stored < 20_000
    assert stored % 50 == 0  # whole chunks: each process's chunk in flight was rolled back
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)  # no process of the import is left


@pytest.mark.postgres
def test_an_import_gathers_the_planners_statistics_each_time_it_has_doubled_the_tables(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planned without statistics, the lookups of stored identities read the whole table once it
    # is large (`python -m bench.people` shows it); autovacuum is off on the test server.
    monkeypatch.setattr(parallel, "FIRST_ANALYSIS_AFTER", 50)
    seen: list[int] = []  # the records PostgreSQL counted at each gathering
    reported: list[int] = []  # the records reported committed before each gathering's chunk
    real_analyze = parallel.analyze

    def analyze(engine: Engine, tables: Sequence[str]) -> None:
        real_analyze(engine, tables)
        seen.append(_known_rows(engine, "members_source_records"))
        reported.append(sum(told))

    told: list[int] = []
    monkeypatch.setattr(parallel, "analyze", analyze)
    records = _batch(5, 400)

    parallel.ingest_in_parallel(
        _url(pg_engine), records, workers=3, chunk_size=25, progress=told.append
    )

    # 17 chunks or more, and the statistics gathered after about 50, 100, 200 (and 400) records
    # reported. The processes commit ahead of the reports the parent counts, so two gatherings
    # may find the same rows in the table, never fewer.
    assert 3 <= len(seen) <= 4
    assert reported == sorted(set(reported))
    assert seen == sorted(seen)
    assert all(found >= counted for found, counted in zip(seen, reported, strict=True))
    assert seen[-1] >= 200
    assert all(_known_rows(pg_engine, table) > 0 for table in parallel.GROWING_TABLES)


def _known_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table})
        )


def test_workers_below_one_are_refused(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        parallel.ingest_in_parallel(_url(sqlite_engine), _batch(1, 3), workers=0)


def test_a_record_given_twice_is_refused_before_anything_is_written(engine: Engine) -> None:
    # Without identifiers in common the two copies could go to two processes and race.
    batch = _batch(2, 30)
    again = _record(batch[7].source, batch[7].record_id, phone="13711112222")

    with pytest.raises(InvalidRecords) as refused:
        parallel.ingest_in_parallel(_url(engine), [*batch, again], workers=3)

    assert refused.value.details["records"] == [f"{again.source}:{again.record_id}"]
    assert _count(engine, SourceRecord) == 0


def test_rows_that_do_not_validate_are_reported_by_position_and_the_others_ingested(
    engine: Engine, sqlite_engine: Engine
) -> None:
    records = _batch(17, 150)
    rows: list[dict[str, object]] = [record.model_dump(mode="json") for record in records]
    # Each process validates its own rows. A bad row may share a phone with good ones (the
    # second): it is split with them, and decides nothing.
    bad = [
        {"source": "pos", "record_id": "bad-kind", "identities": [{"kind": "fax", "value": "1"}]},
        {"source": "pos", "record_id": "bad-name", "name": "x" * 201, **_identities_of(rows[3])},
        {"source": "pos", "name": "no record id"},
        {"source": "pos", "record_id": "bad-value", "identities": [{"kind": "phone", "value": 5}]},
    ]
    positions = [9, 60, 61, 149]
    for position, row in zip(positions, bad, strict=True):
        rows.insert(position, row)

    done = parallel.ingest_in_parallel(_url(engine), rows, workers=3, chunk_size=10)

    assert sorted(done.rejected) == positions
    assert "identities.0.kind" in done.rejected[9]
    assert "name: String should have at most 200 characters" in done.rejected[60]
    assert "record_id: Field required" in done.rejected[61]
    assert "identities.0.value" in done.rejected[149]
    assert done.outcomes.total() == len(records)
    assert _count(engine, SourceRecord) == len(records)
    _in_one_call(sqlite_engine, records)
    assert _groups(engine) == _groups(sqlite_engine)


def _identities_of(row: dict[str, object]) -> dict[str, object]:
    return {"identities": row["identities"]}


# Mostly rows that validate, spelt as files and connectors spell them; some that do not.
_KINDS = st.one_of(
    st.sampled_from([kind.value for kind in ids.IdentityKind]),
    st.sampled_from(list(ids.IdentityKind)),
    st.sampled_from([kind.value.encode() for kind in ids.IdentityKind]),
)
_VALUES = st.one_of(
    st.from_regex(r"[ \t\u3000]{0,2}(\+86 ?)?1[3-9][0-9 -]{9,11}[ \t]{0,2}", fullmatch=True),
    st.sampled_from(
        ["13800138000", "１３９００００１２３４", " U1@QQ.com\t", "a@b", "8800 0001 ", "oU1", "x"]
    ),
    st.text(min_size=1, max_size=12).filter(str.strip),
)
_IDENTITY_LISTS = st.lists(st.fixed_dictionaries({"kind": _KINDS, "value": _VALUES}), max_size=4)
_VALID_ROWS = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["pos", " online_shop ", b"social"]),
        "record_id": st.text(min_size=1, max_size=8).filter(str.strip),
        "identities": st.one_of(
            _IDENTITY_LISTS, _IDENTITY_LISTS.map(tuple), _IDENTITY_LISTS.map(deque)
        ),
    }
)
_ANY = st.one_of(st.none(), st.integers(), st.text(max_size=6), st.binary(max_size=6))
_ANY_ROWS = st.fixed_dictionaries(
    {
        "source": st.one_of(st.sampled_from(["pos", "", "Bad"]), _ANY),
        "record_id": _ANY,
        "identities": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "kind": st.one_of(
                            _KINDS, st.sampled_from([" phone", "PHONE", "fax"]), _ANY
                        ),
                        "value": st.one_of(_VALUES, _ANY),
                    }
                ),
                max_size=4,
            ),
            _ANY,
        ),
    }
)
_SENT_ROWS = st.one_of(_VALID_ROWS, _VALID_ROWS, _ANY_ROWS)


@settings(max_examples=400, deadline=None)
@given(_SENT_ROWS)
def test_the_split_reads_the_keys_of_a_row_as_sent_as_validation_leaves_them(
    row: dict[str, object],
) -> None:
    keys, key = ids.sent_strong_keys(row), ids.sent_record_key(row)  # never raises on a bad row
    try:
        record = SourceRecordIn.model_validate(row)
    except ValidationError:
        return  # rejected by the process that validates it: its keys only place it
    assert keys == ids.strong_keys((i.kind, i.value) for i in record.identities)
    assert key == ids.RecordKey(record.source.strip(), record.record_id.strip())
    assert ids.sent_strong_keys(record) == keys  # a record validated reads the same
    assert ids.sent_record_key(record) == key


def test_identities_sent_as_a_one_pass_iterator_are_refused_rather_than_split_unread() -> None:
    row = {"source": "pos", "record_id": "g1", "identities": (i for i in [{"kind": "phone"}])}

    with pytest.raises(TypeError, match="one-pass iterator"):
        ids.sent_strong_keys(row)


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("YIPAN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_the_cli_imports_with_several_workers_and_reports_bad_rows(
    cli_database: str, tmp_path: Path, sqlite_engine: Engine
) -> None:
    lines = ["record_id,name,phone,email"]
    lines += [f"c{n},会员{n % 7},1390000{n % 40:04d},u{n % 30}@qq.com" for n in range(300)]
    lines += [",nobody,13900000001,", "c7,again,13900000002,"]
    path = tmp_path / "pos.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = CliRunner().invoke(
        app, ["members", "import", str(path), "--source", "pos", "--workers", "3"]
    )

    assert done.exit_code == 1, done.output
    assert "MALFORMED_ROW" in done.output
    assert "DUPLICATE_RECORD_IN_FILE" in done.output
    good = [
        _record(
            "pos", f"c{n}", f"会员{n % 7}", phone=f"1390000{n % 40:04d}", email=f"u{n % 30}@qq.com"
        )
        for n in range(300)
    ]
    _in_one_call(sqlite_engine, good)
    engine = support.engine_for(cli_database)
    try:
        assert _groups(engine) == _groups(sqlite_engine)
    finally:
        engine.dispose()
    summary = done.output[done.output.index("Import summary") :]
    [counts] = [
        [int(n) for n in line.split("│")[1:-1]]
        for line in summary.splitlines()
        if re.fullmatch(r"│(\s*\d+\s*│){8}", line.strip())
    ][:1]
    rows, created, attached, merged, conflict, updated, unchanged, failed = counts
    assert (rows, failed, conflict, updated, unchanged) == (302, 2, 0, 0, 0)
    assert created + attached + merged == 300


@pytest.mark.parametrize("workers", ["1", "3"])
def test_the_cli_imports_the_files_of_several_systems_as_one_batch(
    cli_database: str, tmp_path: Path, sqlite_engine: Engine, workers: str
) -> None:
    pos, shop = tmp_path / "pos.csv", tmp_path / "shop.jsonl"
    pos.write_text(
        "record_id,name,phone,pos_card\n"
        + "".join(f"p{n},会员{n},1390000{n:04d},8800{n:04d}\n" for n in range(120)),
        encoding="utf-8",
    )
    shop_rows = [
        f'{{"record_id": "s{n}", "phone": "+86 139-0000-{n:04d}", "email": "u{n}@qq.com"}}'
        for n in range(0, 200, 2)
    ]
    shop_rows.append('{"record_id": "s-bad", "email": 5}')
    shop.write_text("\n".join(shop_rows) + "\n", encoding="utf-8")
    command = ["members", "import", str(pos), str(shop), "--workers", workers]

    mismatched = CliRunner().invoke(app, [*command, "-s", "pos", "-s", "online_shop", "-s", "x"])
    assert mismatched.exit_code == 2, mismatched.output
    assert "one --source for every file" in mismatched.output

    done = CliRunner().invoke(app, [*command, "--source", "pos", "--source", "online_shop"])

    assert done.exit_code == 1, done.output  # the shop's bad row is reported, by its file
    assert "Rejected rows of shop.jsonl" in done.output
    assert "Rejected rows of pos.csv" not in done.output
    expected = [
        _record("pos", f"p{n}", f"会员{n}", phone=f"1390000{n:04d}", card=f"8800{n:04d}")
        for n in range(120)
    ] + [
        _record("online_shop", f"s{n}", phone=f"+86 139-0000-{n:04d}", email=f"u{n}@qq.com")
        for n in range(0, 200, 2)
    ]
    _in_one_call(sqlite_engine, expected)
    engine = support.engine_for(cli_database)
    try:
        assert _groups(engine) == _groups(sqlite_engine)
        assert _count(engine, SourceRecord) == 220
    finally:
        engine.dispose()
