"""A large batch of source records ingested by several processes at once (PostgreSQL).

One process decides several thousand records a second and waits on the database for part of
that time; more processes use the cores it leaves idle (about one per core: a third on two cores
cost more than it brought). They must never decide about the same member, or two of them could
each create a member for one phone, or change one stored member at once: the records are split
by `members.domain.partition` into parts linked by nothing (no shared strong identifier, no
stored member reached by two parts), and each part goes to its own process, ingested in chunks,
one unit of work each, decided exactly as `ingest_records` decides the whole batch. A part's
records keep their order, so the records end in the same members, and the same conflicts go to
review, as in one process; as with any other order of arrival, which record "created" a member
and which "attached" to it may differ, and member ids are drawn in another order.

The parts are found before the processes start. A process loads the stored members its part can
reach once, at its start, and keeps the members it writes in memory (`ingest.PartIngest`): each
chunk is decided against them without looking its identifiers up again, which took a quarter of
the database's time and an eighth of the process's. Both hold for the whole run as long as
nothing else writes the same people meanwhile (docs/architecture.md: an import's rule).

A large import grows the members tables faster than autovacuum comes round to them (and where
it is off, it never does): planned on the statistics of a table a fraction of the size, or of
none, the lookups of stored records and identities read whole tables for every chunk, so each costs
more than the last. The import gathers the statistics itself (`ANALYZE`) each time it has written
as many records as the tables held at the last gathering, a handful of times for a million.

The processes are forked, so they share the validated records without copying them. Where
forking is not available (Windows, macOS' default) or the database is SQLite (one writer at a
time), the same chunks are ingested one after another in this process. A chunk that fails stops
its process; the other processes finish their parts, and the caller is told how many records were
committed (running the batch again is safe: a record sent again with the same payload changes
nothing). An interrupt (Ctrl-C) stops every process, each rolling back its chunk in flight, and
is reported the same way.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.context import ForkContext
from typing import Any, cast

from sqlalchemy import Engine, make_url, select, text
from sqlalchemy.orm import Session

from yipan.kernel.clock import Clock
from yipan.kernel.collector import collector_paused
from yipan.kernel.db import among, analyze, make_engine, normalise_url, unit_of_work
from yipan.members.domain import identifiers as ids
from yipan.members.domain.partition import parts
from yipan.members.errors import IngestInterrupted, InvalidRecords
from yipan.members.models import Identity, SourceRecord
from yipan.members.schemas import Outcome, SourceRecordIn
from yipan.members.service import store
from yipan.members.service.ingest import PartIngest, ingest_counted
from yipan.members.service.pii import vault

# What a worker process sends back: a chunk committed with its outcomes, a failure, the end.
_CHUNK, _FAILED, _END = "chunk", "failed", "end"
_STOPPED = "stopped by an interrupt"
# What marks a stored member among a record's links (the others are strong identifiers).
MEMBER = "member"
# The tables an ingest writes a row or more to for every record.
GROWING_TABLES = ("members_members", "members_source_records", "members_identities")
# Records written before statistics are first gathered, however small the tables were.
FIRST_ANALYSIS_AFTER = 20_000
_KNOWN_RECORDS = text(
    "SELECT reltuples FROM pg_class WHERE oid = 'members_source_records'::regclass"
)


@dataclass(frozen=True, slots=True)
class _Job:
    database_url: str
    chunk_size: int
    clock: Clock | None


def ingest_in_parallel(
    database_url: str,
    records: Sequence[SourceRecordIn],
    *,
    workers: int,
    chunk_size: int = 5000,
    clock: Clock | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counter[Outcome]:
    """Ingest `records` (keys distinct) with up to `workers` processes; the outcomes counted.

    `progress` is called with the number of records of each chunk once it is committed. Raises
    `IngestInterrupted` (after every process has stopped) if a chunk could not be committed.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if not records:
        return Counter()
    forking = _fork_context()
    backend = make_url(normalise_url(database_url)).get_backend_name()
    if workers == 1 or forking is None or backend != "postgresql":
        _refuse_repeated(records)
        return _ingest_here(database_url, records, chunk_size, clock, progress)
    # The batch was just built and this process only splits it and waits: a collection here
    # would walk all of it (5 s for 400,000 records) while the other core has nothing to do.
    with collector_paused():
        _refuse_repeated(records)
        return _ingest_forked(forking, database_url, records, workers, chunk_size, clock, progress)


def _refuse_repeated(records: Sequence[SourceRecordIn]) -> None:
    if len({(r.source, r.record_id) for r in records}) != len(records):  # counted only if so
        keys = Counter((r.source, r.record_id) for r in records)
        repeated = sorted(
            f"{source}:{record_id}" for (source, record_id), n in keys.items() if n > 1
        )
        raise InvalidRecords("a record appears more than once in the batch", records=repeated[:20])


class _Statistics:
    """When an import gathers the planner's statistics of the tables it grows (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.written = 0  # records written since the last gathering
        self.held = 0  # records the tables held then, as far as PostgreSQL knew
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                known = conn.scalar(_KNOWN_RECORDS)  # -1 for a table never analysed
            self.held = max(0, int(known or 0))

    def keeping_up(self, progress: Callable[[int], None] | None) -> Callable[[int], None]:
        """`progress`, told of each committed chunk after the statistics are seen to."""

        def committed(count: int) -> None:
            self.written += count
            if self.written >= max(FIRST_ANALYSIS_AFTER, self.held):
                analyze(self.engine, GROWING_TABLES)
                self.held += self.written
                self.written = 0
            if progress is not None:
                progress(count)

        return committed


def links(session: Session, records: Sequence[SourceRecordIn]) -> Sequence[tuple[Hashable, ...]]:
    """What ties each record to others: its strong identifiers (kind, normalised value) and the
    stored members those, or the record itself if stored before, already belong to."""
    keys = [ids.strong_keys((i.kind, i.value) for i in record.identities) for record in records]
    if session.scalar(select(SourceRecord.id).limit(1)) is None:
        return keys  # nothing stored: only the batch's own links count
    box = vault()
    by_hash = {box.lookup_hash(key.kind.value, key.value): key for own in keys for key in own}
    holders: dict[ids.IdentifierKey, list[int]] = {}
    for condition in among(session, Identity.value_hash, sorted(by_hash)):
        for value_hash, member_id in session.execute(
            select(Identity.value_hash, Identity.member_id)
            .where(condition, Identity.matching)
            .distinct()
        ):
            holders.setdefault(by_hash[value_hash], []).append(member_id)
    stored = store.find_records(session, [ids.RecordKey(r.source, r.record_id) for r in records])
    linked: list[tuple[Hashable, ...]] = []
    for record, own in zip(records, keys, strict=True):
        members: set[int] = {m for key in own for m in holders.get(key, ())}
        row = stored.get(ids.RecordKey(record.source, record.record_id))
        if row is not None:
            members.add(row[1])
        linked.append((*own, *((MEMBER, m) for m in sorted(members))))
    return linked


def stored_members(linked: Sequence[Sequence[Hashable]], positions: Sequence[int]) -> set[int]:
    """The stored members that the records at `positions` reach, from their `links`."""
    return {
        cast(int, key[1])
        for position in positions
        for key in linked[position]
        if isinstance(key, tuple) and key[0] == MEMBER
    }


def _fork_context() -> ForkContext | None:
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _chunks(records: Sequence[SourceRecordIn], size: int) -> list[Sequence[SourceRecordIn]]:
    return [records[start : start + size] for start in range(0, len(records), size)]


def _ingest_chunk(
    engine: Engine, chunk: Sequence[SourceRecordIn], clock: Clock | None
) -> Counter[Outcome]:
    with unit_of_work(engine) as session:
        return ingest_counted(session, chunk, clock=clock)


def _ingest_here(
    database_url: str,
    records: Sequence[SourceRecordIn],
    chunk_size: int,
    clock: Clock | None,
    progress: Callable[[int], None] | None,
) -> Counter[Outcome]:
    outcomes: Counter[Outcome] = Counter()
    committed = 0
    engine = make_engine(database_url, pool_size=1)
    try:
        tick = _Statistics(engine).keeping_up(progress)
        for chunk in _chunks(records, chunk_size):
            try:
                outcomes += _ingest_chunk(engine, chunk, clock)
            except KeyboardInterrupt:
                raise _interrupted(committed, len(records), [_STOPPED]) from None
            except Exception as failed:
                raise _interrupted(committed, len(records), [repr(failed)]) from failed
            committed += len(chunk)
            tick(len(chunk))
    finally:
        engine.dispose()
    return outcomes


def _ingest_forked(
    forking: ForkContext,
    database_url: str,
    records: Sequence[SourceRecordIn],
    workers: int,
    chunk_size: int,
    clock: Clock | None,
    progress: Callable[[int], None] | None,
) -> Counter[Outcome]:
    engine = make_engine(database_url, pool_size=1)
    try:
        tick = _Statistics(engine).keeping_up(progress)
        with unit_of_work(engine) as session:
            linked = links(session, records)
        split = parts(linked, workers)
        engine.dispose()  # the processes forked next inherit no connection of this one
        out = forking.Queue()
        # A forked process inherits its arguments with the rest of memory: the part is not
        # pickled.
        job = _Job(database_url, chunk_size, clock)
        processes = [
            forking.Process(
                target=_work,
                args=(
                    job,
                    [records[i] for i in positions],
                    stored_members(linked, positions),
                    out,
                ),
            )
            for positions in split
            if positions
        ]
        try:
            for process in processes:
                process.start()
            return _gather(processes, out, len(records), tick)
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                process.join()
    finally:
        engine.dispose()


def _gather(
    processes: Sequence[Any], out: Any, total: int, tick: Callable[[int], None]
) -> Counter[Outcome]:
    outcomes: Counter[Outcome] = Counter()
    failures: list[str] = []
    committed = 0

    def take(message: tuple[Any, ...]) -> int:
        """Count one message; 1 when it says a process has ended."""
        nonlocal committed
        if message[0] == _CHUNK:
            _, count, counted = message
            outcomes.update(counted)
            committed += count
            tick(count)
        elif message[0] == _FAILED:
            failures.append(message[1])
        return int(message[0] == _END)

    running = len(processes)
    try:
        while running:
            try:
                running -= take(out.get(timeout=1.0))
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead and all(not p.is_alive() for p in processes):
                    # Killed before it could say so: what it committed is not counted.
                    failures.append(f"{len(dead)} process(es) ended without reporting")
                    break
    except KeyboardInterrupt:
        # The processes ignore the interrupt; they are stopped here, each rolling back the
        # chunk in flight. A chunk committed just before may not have been reported yet.
        for process in processes:
            process.kill()
            process.join()
        with suppress(queue.Empty):
            while True:
                take(out.get(timeout=0.1))
        raise _interrupted(committed, total, [_STOPPED], at_least=True) from None
    if failures:
        raise _interrupted(committed, total, failures)
    return outcomes


def _interrupted(
    committed: int, total: int, failures: list[str], *, at_least: bool = False
) -> IngestInterrupted:
    return IngestInterrupted(
        f"{'at least ' if at_least else ''}{committed} of {total} records were committed "
        f"before the ingest stopped: {failures[0]}. Running it again is safe.",
        committed=committed,
        failures=failures[:5],
    )


def _work(job: _Job, part: Sequence[SourceRecordIn], reached: set[int], out: Any) -> None:
    """One forked process: its part in chunks, each committed before it is reported; `reached`
    are the stored members its records can join, which the part keeps in memory with the ones
    it makes (`ingest.PartIngest`)."""
    # The collector stays off, as the parent that forked it left it: everything inherited (the
    # whole batch, validated) and the members the part keeps in memory, which grow with every
    # chunk, would be walked again by each collection (a tenth of the process's time), and a
    # chunk leaves no cycles worth finding behind.
    # An interrupt from the terminal reaches every process of its group: the parent alone
    # decides, and stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = make_engine(job.database_url, pool_size=1)
    try:
        with unit_of_work(engine, readonly=True) as session:
            members = PartIngest(session, reached)
        for chunk in _chunks(part, job.chunk_size):
            with unit_of_work(engine) as session:
                counted = members.ingest(session, chunk, clock=job.clock)
            out.put((_CHUNK, len(chunk), dict(counted)))
    except Exception as failed:
        out.put((_FAILED, repr(failed)))
    finally:
        out.put((_END,))
        engine.dispose()
