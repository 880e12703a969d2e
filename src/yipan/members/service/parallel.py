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

The rows come as sent (`SourceRecordIn`'s fields, as a file's rows are read, or records
already validated) and each process validates its own part's rows: validating a million rows
here, before the split, kept one core busy for 5 s while the other had nothing to do. The split
reads each row's strong identifiers and record key as validation would leave them
(`identifiers.sent_strong_keys`, `sent_record_key`); a row that does not validate writes
nothing and is reported back with what is wrong with it (`BatchIngested.rejected`).

The parts are found before the processes start, from what `workers` other forked processes
read of a slice of the rows each (their strong identifiers, the stored members those reach,
their record keys and which of those are stored), sent back hashed. A process loads the stored
members its part can reach once, at its start, and keeps the members it writes in memory
(`ingest.PartIngest`): each chunk is decided against them without looking its identifiers up
again, which took a quarter of the database's time and an eighth of the process's, and only
the records found stored by the split are looked up again. Both hold for the whole run as long as
nothing else writes the same people meanwhile (docs/architecture.md: an import's rule).

A large import grows the members tables faster than autovacuum comes round to them (and where
it is off, it never does): planned on the statistics of a table a fraction of the size, or of
none, the lookups of stored records and identities read whole tables for every chunk, so each costs
more than the last. The import gathers the statistics itself (`ANALYZE`) each time it has written
as many records as the tables held at the last gathering, a handful of times for a million.

The processes are forked, so they share the rows without copying them. Where forking is not
available (Windows, macOS' default) or the database is SQLite (one writer at a time), the same
chunks are validated and ingested one after another in this process. A chunk that fails stops
its process; the other processes finish their parts, and the caller is told how many records were
committed (running the batch again is safe: a record sent again with the same payload changes
nothing). An interrupt (Ctrl-C) stops every process, each rolling back its chunk in flight, and
is reported the same way.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import signal
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext
from typing import Any, NamedTuple, cast

import numpy as np
from sqlalchemy import Engine, make_url, select, text
from sqlalchemy.orm import Session

from yipan.kernel.clock import Clock
from yipan.kernel.collector import collector_paused
from yipan.kernel.db import among, analyze, make_engine, normalise_url, unit_of_work
from yipan.members.domain import identifiers as ids
from yipan.members.domain.partition import Links, parts
from yipan.members.errors import IngestInterrupted, InvalidRecords, MalformedRow
from yipan.members.models import Identity, SourceRecord
from yipan.members.schemas import Outcome, SourceRecordIn
from yipan.members.service import store
from yipan.members.service.importing import Row, validated
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


@dataclass(slots=True)
class BatchIngested:
    """What became of a batch: the outcomes of its records, and the rows that are not records."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejected: dict[int, str] = field(default_factory=dict)  # a row's position → what is wrong

    def add(self, counted: Mapping[Outcome, int], rejected: Sequence[tuple[int, str]]) -> None:
        self.outcomes.update(counted)
        self.rejected.update(rejected)


def ingest_in_parallel(
    database_url: str,
    rows: Sequence[Row],
    *,
    workers: int,
    chunk_size: int = 5000,
    clock: Clock | None = None,
    progress: Callable[[int], None] | None = None,
) -> BatchIngested:
    """Ingest `rows` with up to `workers` processes: the outcomes of their records, and the
    rows that did not validate, by position.

    Raises `InvalidRecords` before anything is written if two rows have one record key.
    `progress` is called with the number of rows of each chunk once it is committed. Raises
    `IngestInterrupted` (after every process has stopped) if a chunk could not be committed.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if not rows:
        return BatchIngested()
    forking = _fork_context()
    backend = make_url(normalise_url(database_url)).get_backend_name()
    if workers == 1 or forking is None or backend != "postgresql":
        _refuse_repeated(rows)
        return _ingest_here(database_url, rows, chunk_size, clock, progress)
    # The batch was just built and this process only splits it and waits: a collection here
    # would walk all of it (5 s for 400,000 records) while the other core has nothing to do.
    with collector_paused():
        return _ingest_forked(forking, database_url, rows, workers, chunk_size, clock, progress)


def _refuse_repeated(rows: Sequence[Row]) -> None:
    keys = [key for key in map(ids.sent_record_key, rows) if key is not None]
    if len(set(keys)) != len(keys):  # counted only if so
        repeated = sorted(
            f"{key.source}:{key.record_id}" for key, n in Counter(keys).items() if n > 1
        )
        raise InvalidRecords("a record appears more than once in the batch", records=repeated[:20])


def validated_rows(
    rows: Sequence[Row], positions: Sequence[int]
) -> tuple[list[SourceRecordIn], list[tuple[int, str]]]:
    """The records of the rows at `positions`, and the position of each other row with why."""
    records: list[SourceRecordIn] = []
    rejected: list[tuple[int, str]] = []
    for position in positions:
        try:
            records.append(validated(rows[position]))
        except MalformedRow as bad:
            rejected.append((position, bad.message))
    return records, rejected


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


def stored_records(
    session: Session, record_keys: Sequence[ids.RecordKey | None]
) -> dict[ids.RecordKey, tuple[int, int, str]]:
    """`store.find_records` of the rows' record keys, without a lookup when nothing is stored."""
    if session.scalar(select(SourceRecord.id).limit(1)) is None:
        return {}
    return store.find_records(session, [key for key in record_keys if key is not None])


def links(
    session: Session,
    rows: Sequence[Row],
    record_keys: Sequence[ids.RecordKey | None] | None = None,
    stored: Mapping[ids.RecordKey, tuple[int, int, str]] | None = None,
) -> Sequence[tuple[Hashable, ...]]:
    """What ties each row to others: its strong identifiers (kind, normalised value) and the
    stored members those, or its record itself if stored before, already belong to.

    `record_keys` are the rows' `sent_record_key`s and `stored` their `stored_records`, if the
    caller has read them already.
    """
    keys = [ids.sent_strong_keys(row) for row in rows]
    if record_keys is None:
        record_keys = [ids.sent_record_key(row) for row in rows]
    if stored is None:
        stored = stored_records(session, record_keys)
    if not stored and session.scalar(select(SourceRecord.id).limit(1)) is None:
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
    linked: list[tuple[Hashable, ...]] = []
    for key_of_record, own in zip(record_keys, keys, strict=True):
        members: set[int] = {m for key in own for m in holders.get(key, ())}
        found = stored.get(key_of_record) if key_of_record is not None else None
        if found is not None:
            members.add(found[1])
        linked.append((*own, *((MEMBER, m) for m in sorted(members))))
    return linked


class _SliceLinks(NamedTuple):
    """What one process read of a slice of the rows for the split, as arrays cheap to send."""

    links: Links
    record_hashes: np.ndarray  # int64 per row: its record key's hash (0 where it has none)
    keyed: np.ndarray  # bool per row: it has a record key
    member_rows: np.ndarray  # int64: a row reaching a stored member (positions in the batch) …
    member_ids: np.ndarray  # … and that member
    stored_rows: np.ndarray  # int64: the rows whose record is stored (positions in the batch)


def _read_slice(
    database_url: str, rows: Sequence[Row], start: int, stop: int, out: Connection
) -> None:
    """A forked process: the links of rows[start:stop] and their record keys, sent hashed
    (`hash` agrees with the parent's: a forked process keeps the interpreter's hash seed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone decides, as in `_work`
    engine = make_engine(database_url, pool_size=1)
    try:
        piece = rows[start:stop]
        keys = [ids.sent_record_key(row) for row in piece]
        with unit_of_work(engine, readonly=True) as session:
            stored = stored_records(session, keys)
            linked = links(session, piece, keys, stored)
        reached = [
            (start + offset, cast(int, key[1]))
            for offset, own in enumerate(linked)
            for key in own
            if isinstance(key, tuple) and key[0] == MEMBER
        ]
        out.send(
            (
                _CHUNK,
                _SliceLinks(
                    Links.of(linked),
                    np.fromiter((0 if k is None else hash(k) for k in keys), np.int64, len(keys)),
                    np.fromiter((k is not None for k in keys), np.bool_, len(keys)),
                    np.array([row for row, _ in reached], dtype=np.int64),
                    np.array([member for _, member in reached], dtype=np.int64),
                    np.array(
                        [start + offset for offset, key in enumerate(keys) if key in stored],
                        dtype=np.int64,
                    ),
                ),
            )
        )
    except Exception as failed:
        out.send((_FAILED, repr(failed)))
    finally:
        out.close()
        engine.dispose()


class _Part(NamedTuple):
    positions: list[int]  # its rows, in the batch
    reached: set[int]  # the stored members they reach
    stored: list[int]  # those of its rows whose record was stored when the batch was split


def _split(
    forking: ForkContext, database_url: str, rows: Sequence[Row], workers: int
) -> list[_Part]:
    """The parts of the batch, each with the stored members its rows reach. The rows' links
    are read by `workers` forked processes, a slice each (normalising a million rows' strong
    identifiers and checking their record keys took 4 s on one core), and the batch is split
    here from their hashes."""
    bounds = [len(rows) * n // workers for n in range(workers + 1)]
    pipes = []
    processes = []
    try:
        for start, stop in itertools.pairwise(bounds):
            receiving, sending = forking.Pipe(duplex=False)
            process = forking.Process(
                target=_read_slice, args=(database_url, rows, start, stop, sending)
            )
            process.start()
            sending.close()  # the process holds the only sending end: its exit ends the pipe
            pipes.append(receiving)
            processes.append(process)
        read: list[_SliceLinks] = []
        for receiving in pipes:
            try:
                message = receiving.recv()
            except EOFError:
                message = (_FAILED, "a process reading the batch ended without reporting")
            if message[0] == _FAILED:
                raise _interrupted(0, len(rows), [message[1]])
            read.append(message[1])
    except KeyboardInterrupt:
        raise _interrupted(0, len(rows), [_STOPPED]) from None
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()
    _refuse_repeated_hashed(rows, read)
    split = parts(Links.joined([piece.links for piece in read]), workers)
    part_of = np.empty(len(rows), dtype=np.int64)
    for index, positions in enumerate(split):
        part_of[positions] = index
    member_rows = np.concatenate([piece.member_rows for piece in read])
    member_ids = np.concatenate([piece.member_ids for piece in read])
    reached: list[set[int]] = [set() for _ in split]
    for index, member in zip(part_of[member_rows].tolist(), member_ids.tolist(), strict=True):
        reached[index].add(member)
    stored: list[list[int]] = [[] for _ in split]
    stored_rows = np.concatenate([piece.stored_rows for piece in read])
    for index, position in zip(part_of[stored_rows].tolist(), stored_rows.tolist(), strict=True):
        stored[index].append(position)
    return [_Part(*part) for part in zip(split, reached, stored, strict=True)]


def _refuse_repeated_hashed(rows: Sequence[Row], read: Sequence[_SliceLinks]) -> None:
    """`_refuse_repeated`, first by the record keys' hashes: only rows whose hash is another's
    are compared by their keys."""
    keyed = np.concatenate([piece.keyed for piece in read])
    hashes = np.concatenate([piece.record_hashes for piece in read])
    positions = np.flatnonzero(keyed)
    distinct, counts = np.unique(hashes[positions], return_counts=True)
    shared = distinct[counts > 1]
    if len(shared):
        suspects = positions[np.isin(hashes[positions], shared)]
        _refuse_repeated([rows[position] for position in suspects.tolist()])


def _fork_context() -> ForkContext | None:
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _chunks(positions: Sequence[int], size: int) -> list[Sequence[int]]:
    return [positions[start : start + size] for start in range(0, len(positions), size)]


def _ingest_here(
    database_url: str,
    rows: Sequence[Row],
    chunk_size: int,
    clock: Clock | None,
    progress: Callable[[int], None] | None,
) -> BatchIngested:
    done = BatchIngested()
    committed = 0
    engine = make_engine(database_url, pool_size=1)
    try:
        tick = _Statistics(engine).keeping_up(progress)
        for chunk in _chunks(range(len(rows)), chunk_size):
            records, rejected = validated_rows(rows, chunk)
            try:
                with unit_of_work(engine) as session:
                    counted = ingest_counted(session, records, clock=clock)
            except KeyboardInterrupt:
                raise _interrupted(committed, len(rows), [_STOPPED]) from None
            except Exception as failed:
                raise _interrupted(committed, len(rows), [repr(failed)]) from failed
            done.add(counted, rejected)
            committed += len(records)
            tick(len(chunk))
    finally:
        engine.dispose()
    return done


def _ingest_forked(
    forking: ForkContext,
    database_url: str,
    rows: Sequence[Row],
    workers: int,
    chunk_size: int,
    clock: Clock | None,
    progress: Callable[[int], None] | None,
) -> BatchIngested:
    engine = make_engine(database_url, pool_size=1)
    try:
        tick = _Statistics(engine).keeping_up(progress)
        engine.dispose()  # the processes forked next inherit no connection of this one
        split = _split(forking, database_url, rows, workers)
        out = forking.Queue()
        # A forked process inherits its arguments with the rest of memory: neither the rows nor
        # its part's positions are pickled.
        job = _Job(database_url, chunk_size, clock)
        processes = [
            forking.Process(target=_work, args=(job, rows, part, out))
            for part in split
            if part.positions
        ]
        try:
            for process in processes:
                process.start()
            return _gather(processes, out, len(rows), tick)
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                process.join()
    finally:
        engine.dispose()


def _gather(
    processes: Sequence[Any], out: Any, total: int, tick: Callable[[int], None]
) -> BatchIngested:
    done = BatchIngested()
    failures: list[str] = []
    committed = 0

    def take(message: tuple[Any, ...]) -> int:
        """Count one message; 1 when it says a process has ended."""
        nonlocal committed
        if message[0] == _CHUNK:
            _, count, counted, rejected = message
            done.add(counted, rejected)
            committed += count - len(rejected)
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
    return done


def _interrupted(
    committed: int, total: int, failures: list[str], *, at_least: bool = False
) -> IngestInterrupted:
    return IngestInterrupted(
        f"{'at least ' if at_least else ''}{committed} of {total} records were committed "
        f"before the ingest stopped: {failures[0]}. Running it again is safe.",
        committed=committed,
        failures=failures[:5],
    )


def _work(job: _Job, rows: Sequence[Row], part: _Part, out: Any) -> None:
    """One forked process: the rows of `part` validated and ingested in chunks, each committed
    before it is reported. The stored members its records can join are kept in memory with the
    ones it makes, and only the records stored when the batch was split are looked up
    (`ingest.PartIngest`)."""
    # The collector stays off, as the parent that forked it left it: everything inherited (the
    # whole batch) and the members the part keeps in memory, which grow with every chunk, would
    # be walked again by each collection (a tenth of the process's time), and a chunk leaves no
    # cycles worth finding behind.
    # An interrupt from the terminal reaches every process of its group: the parent alone
    # decides, and stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = make_engine(job.database_url, pool_size=1)
    try:
        stored = {key for position in part.stored if (key := ids.sent_record_key(rows[position]))}
        with unit_of_work(engine, readonly=True) as session:
            members = PartIngest(session, part.reached, stored)
        for chunk in _chunks(part.positions, job.chunk_size):
            records, rejected = validated_rows(rows, chunk)
            with unit_of_work(engine) as session:
                counted = members.ingest(session, records, clock=job.clock)
            out.put((_CHUNK, len(chunk), dict(counted), rejected))
    except Exception as failed:
        out.put((_FAILED, repr(failed)))
    finally:
        out.put((_END,))
        engine.dispose()
