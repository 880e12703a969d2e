"""Storage: the declarative base, engines for SQLite and PostgreSQL, and the unit of work.

SQLite is the embedded default. It runs in WAL mode with foreign keys on, and every writing
transaction starts with `BEGIN IMMEDIATE` so that two processes never both read and then both try
to upgrade to a write lock (the classic SQLite deadlock); a read-only unit of work starts with a
plain `BEGIN`. PostgreSQL goes through psycopg 3; its read-only units of work run without a
transaction block (see `unit_of_work`). A read-only unit of work that tries to write is refused
on both backends (`WriteInReadOnlyWork`).
"""

from __future__ import annotations

import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from psycopg import RawCursor
from psycopg.errors import DeadlockDetected, SerializationFailure
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from yipan.kernel import jsontext
from yipan.kernel.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so ledgers use BIGINT elsewhere, INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def KeyString(length: int) -> String:
    """A string PostgreSQL compares byte by byte (`COLLATE "C"`), for source keys and hashes:
    nobody reads them in a language's order, and under a database's linguistic collation every
    index insert and lookup of them would pay for a locale-aware comparison."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


READONLY = "yipan_readonly"
# A statement that changes data or schema: at its start, or as a data-modifying CTE's part.
_WRITING = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|COPY|CREATE|ALTER|DROP|TRUNCATE)\b"
    r"|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b|\bUPDATE\s+\S+\s+SET\b",
    re.IGNORECASE,
)
# What PostgreSQL raises when it makes a transaction give way to a concurrent one.
_GIVE_WAY = (SerializationFailure, DeadlockDetected)
Done = TypeVar("Done")


class WriteInReadOnlyWork(RuntimeError):
    """A unit of work opened read-only tried to write: a bug in the caller, which must open a
    writing one. On PostgreSQL the write would otherwise be committed at once (no transaction
    block), and on SQLite silently rolled back."""


def refuse_writes_when_reading(conn: Any, statement: str) -> None:
    """Raise `WriteInReadOnlyWork` if `conn` belongs to a read-only unit of work and `statement`
    writes. The engines check every statement through this; `kernel.bulk` checks its `COPY`."""
    if conn.get_execution_options().get(READONLY, False) and _WRITING.search(statement):
        raise WriteInReadOnlyWork(f"a read-only unit of work tried to write: {statement[:120]}")


def _check_statement(
    conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    refuse_writes_when_reading(conn, statement)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back in UTC.

    PostgreSQL keeps the zone; SQLite stores the wall-clock text without it, so a value sent with
    another offset (a till's `+08:00`) is converted to UTC on the way in, and the value read back
    is made aware here, once, rather than in every service that shows a timestamp.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (`postgresql://`, `postgres://`) and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=False,
        **_JSON_CODEC,
    )
    event.listen(engine, "before_cursor_execute", _check_statement)
    return engine


# JSON columns written and read through pydantic-core's codec (`kernel.jsontext`); on PostgreSQL
# psycopg then uses it too, for the JSON that statements run through `fetch_plain` return.
_JSON_CODEC: dict[str, Any] = {
    "json_serializer": jsontext.dumps,
    "json_deserializer": jsontext.loads,
}


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 60}, **_JSON_CODEC
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    event.listen(engine, "before_cursor_execute", _check_statement)
    return engine


_commit_listeners: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)
_listeners_lock = threading.Lock()


def on_commit(engine: Engine, listener: Callable[[], None]) -> None:
    """Call `listener` after every unit of work on `engine` commits (e.g. wake the outbox worker)."""
    with _listeners_lock:
        _commit_listeners.setdefault(engine, []).append(listener)


def remove_commit_listener(engine: Engine, listener: Callable[[], None]) -> None:
    with _listeners_lock:
        listeners = _commit_listeners.get(engine, [])
        if listener in listeners:
            listeners.remove(listener)


_NOTIFY = "yipan_notify_after_commit"


def notify_after_commit(session: Session) -> None:
    """Ask the unit of work to call the commit listeners once this transaction commits.

    Only transactions that recorded something worth waking for set this; otherwise a listener
    whose own work commits (the outbox worker) would wake itself forever.
    """
    session.info[_NOTIFY] = True


@contextmanager
def unit_of_work(
    engine: Engine, *, readonly: bool = False, serializable: bool = False
) -> Iterator[Session]:
    """One business transaction: commit when the block ends cleanly, roll back on any error.

    Service functions receive the session and never commit; the caller at the edge (API route,
    CLI command, worker) owns the unit of work. `serializable` runs it at PostgreSQL's
    SERIALIZABLE isolation (see `serializable_work`); SQLite's writers are serial already.

    `readonly` work must not write (`WriteInReadOnlyWork`). On PostgreSQL it runs without a
    transaction block, each statement on its own: at READ COMMITTED, the default, every
    statement of a transaction takes a fresh snapshot anyway, so the reads see the same, and
    psycopg's `BEGIN` and the closing `ROLLBACK`, two round trips, were a fifth of the time of a
    read such as the member 360 view (docs/architecture.md).
    """
    bind = engine
    postgresql = engine.dialect.name == "postgresql"
    if readonly:
        bind = bind.execution_options(**{READONLY: True})
        if postgresql and not serializable:
            bind = bind.execution_options(isolation_level="AUTOCOMMIT")
    if serializable and postgresql:
        bind = bind.execution_options(isolation_level="SERIALIZABLE")
    session = Session(bind=bind, expire_on_commit=False, autoflush=False)
    try:
        yield session
        if readonly:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        notify = session.info.pop(_NOTIFY, False)
        session.close()
    if notify and not readonly:
        for listener in list(_commit_listeners.get(engine, ())):
            listener()


def serializable_work(
    engine: Engine, work: Callable[[Session], Done], *, attempts: int = 10
) -> Done:
    """`work` in a unit of work that ends as if it had run alone, tried up to `attempts` times.

    For a use case that decides from what it reads whether to write at all (no row to lock, no
    constraint to catch it): two at once could each read "nothing there" and each write. At
    SERIALIZABLE isolation PostgreSQL refuses one of them (a serialization failure, or a
    deadlock) and nothing of it is kept; it is run again here, after a random pause that grows
    with each attempt (up to 0.16 s), and then sees the other's rows. A transaction run again is
    not refused for the conflict it lost (PostgreSQL's "safe retry"), so contenders finish one
    after another; the last refusal is raised (the API answers 409 RETRY).
    """
    for attempt in range(1, attempts):
        try:
            with unit_of_work(engine, serializable=True) as session:
                return work(session)
        except OperationalError as exc:
            if not isinstance(exc.orig, _GIVE_WAY):
                raise
        time.sleep(random.uniform(0.0, 0.005 * 2 ** min(attempt, 5)))
    with unit_of_work(engine, serializable=True) as session:
        return work(session)


@dataclass(frozen=True, slots=True)
class _DriverSql:
    """A statement as psycopg's raw cursor takes it: `$n` placeholders, bind names in order."""

    statement: ClauseElement
    sql: bytes
    names: tuple[str, ...]
    defaults: dict[str, Any]


# Compiles to PostgreSQL's own `$n` placeholders, which psycopg's raw cursor passes on as they are.
_NUMERIC_DOLLAR: Dialect = postgresql_psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
_DRIVER_SQL: dict[int, _DriverSql] = {}


def fetch_plain(session: Session, statement: ClauseElement, params: dict[str, Any]) -> list[Any]:
    """Run a PostgreSQL-only statement (`text()` or Core) in the session's transaction straight
    through psycopg; its rows as named tuples.

    For the few statements every order runs: SQLAlchemy's execution layer (result metadata from
    the cursor description, the result object) costs ~130 µs of CPU a statement here, more than
    psycopg's own work. The statement is compiled once, to `$n` placeholders for psycopg's raw
    cursor: its usual `%(name)s` form is parsed with a regular expression on every execution, and
    not cached for a statement over 4 KB (~50 µs for the order's largest). Parameters go to
    psycopg as they are, so they must need no conversion by SQLAlchemy's types.
    """
    conn = session.connection()
    assert conn.dialect.name == "postgresql", "fetch_plain is for PostgreSQL-only statements"
    found = _DRIVER_SQL.get(id(statement))
    if found is None or found.statement is not statement:
        compiled = cast(SQLCompiler, statement.compile(dialect=_NUMERIC_DOLLAR))
        found = _DRIVER_SQL[id(statement)] = _DriverSql(
            statement,
            str(compiled).encode(),
            tuple(compiled.positiontup or ()),
            {k: v for k, v in compiled.params.items() if v is not None},
        )
    values = [params[n] if n in params else found.defaults[n] for n in found.names]
    driver = conn.connection.driver_connection
    assert driver is not None
    with RawCursor(driver, row_factory=namedtuple_row) as cursor:
        cursor.execute(found.sql, values)
        rows: list[Any] = cursor.fetchall()
    return rows


def insert_for(session: Session, table: Any) -> Any:
    """`INSERT` with `ON CONFLICT` support for whichever backend the session talks to."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


_INSERTS_UNLESS_TAKEN: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def insert_unless_taken(session: Session, table: Table, key: Sequence[str]) -> Any:
    """`INSERT … ON CONFLICT (key) DO NOTHING RETURNING id` for the session's backend: the
    idempotent write of an external key, whose `id` is None when the key was taken before.

    Built once per table, key and backend: the hot paths (an order, its holds, its redemption)
    run it on every call, and building it cost more CPU than running it.
    """
    cache_key = (session.get_bind().dialect.name, table.name, tuple(key))
    statement = _INSERTS_UNLESS_TAKEN.get(cache_key)
    if statement is None:
        statement = _INSERTS_UNLESS_TAKEN[cache_key] = (
            insert_for(session, table)
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(table.c.id)
        )
    return statement


_SQLITE_IN = 500  # values per `IN (…)` on SQLite, well under its bound-parameter limit


def among(
    session: Session,
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    values: Sequence[Any],
) -> Iterator[ColumnElement[bool]]:
    """`column IN values` in as few conditions as the backend allows.

    On PostgreSQL one array, as `column IN (SELECT unnest(:values))`: one statement text for any
    number of values, and the planner sees a set of unknown size and probes the index per value,
    in a custom plan or a cached generic one alike (`= ANY(:values)` with a parameter falls back
    to comparing every row with every value once the plan is generic). The array goes as one
    literal, which psycopg would otherwise build element by element in Python. On SQLite, chunks
    of 500 values.
    """
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        if isinstance(values[0], str):
            literal = "{" + ",".join(_array_element(v) for v in values) + "}"
            element: Any = Text()
        else:
            literal = "{" + ",".join(map(str, values)) + "}"
            element = BigInteger()
        array = sql_cast(bindparam(None, literal, type_=Text), ARRAY(element))
        yield column.in_(select(func.unnest(array)).scalar_subquery())
        return
    for start in range(0, len(values), _SQLITE_IN):
        yield column.in_(values[start : start + _SQLITE_IN])


def _array_element(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def analyze(engine: Engine, tables: Sequence[str]) -> None:
    """Gather PostgreSQL's planner statistics for `tables` now, as autovacuum does when it comes
    round; statements cached by any connection are planned again for them. A no-op on SQLite,
    whose planner takes an index to be selective without statistics."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {', '.join(tables)}"))
