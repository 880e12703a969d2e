"""Appending many rows in one transaction, as fast as each backend allows: the one place that
writes rows with `COPY`.

`append_rows` takes tuples in a given column order (history, the member ingest and its outbox
events: hundreds of thousands of rows, where SQLAlchemy's per-row parameter processing costs
more than SQLite itself); `bulk_insert` takes dicts with the same keys (ledgers, a batch of a
thousand rows that must cost milliseconds). On PostgreSQL both send `COPY` with JSON documents
and timestamps turned into text here, each distinct timestamp once: psycopg's own dumpers for
them cost more than the rest of a row together. On SQLite, tuples go by one driver-level
executemany after converting only the values the driver cannot store as they are (timestamps
in the text form SQLAlchemy writes and reads, JSON documents as text); dicts go through
SQLAlchemy, which also fills in the columns' Python-side defaults. Rows written any of these
ways read back exactly as rows written through the ORM.

Rows that point at each other are written with ids taken up front (`reserve_ids`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import JSON, DateTime, Table, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from yipan.kernel import jsontext
from yipan.kernel.db import refuse_writes_when_reading

CHUNK = 20_000
_SERIAL_SEQUENCE = text("SELECT pg_get_serial_sequence(:t, 'id')")
# One array for all of them: a row per id through SQLAlchemy cost 1.1 µs of this process's CPU
# an id, the array 0.15 µs.
_NEXT_IDS = text("SELECT array_agg(nextval(CAST(:s AS regclass))) FROM generate_series(1, :n)")
_sequences: dict[str, str] = {}  # table → its id sequence; fixed by the schema


def _memoised(to_text: Callable[[datetime], str]) -> Callable[[datetime | None], str | None]:
    """`to_text` for one batch, computed once per distinct timestamp: a batch's rows mostly
    share the moment they were written."""
    seen: dict[datetime, str] = {}

    def convert(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = seen.get(value)
        if text is None:
            text = to_text(value)
            if len(seen) < 100_000:
                seen[value] = text
        return text

    return convert


def _sqlite_text(value: datetime) -> str:
    v = value.astimezone(UTC) if value.tzinfo is not None else value
    # SQLAlchemy's SQLite storage format: always six digits of microseconds, so that stored
    # values compare as text the way the ones it writes do.
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


def _postgresql_text(value: datetime) -> str:
    # Every timestamp Yipan stores is UTC; a naive one is taken as UTC, as SQLite hands it back.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _json_text(value: Any) -> str | None:
    return None if value is None else jsontext.dumps(value)


def _converters(
    table: Table, columns: Sequence[str], postgresql: bool
) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, JSON) or isinstance(getattr(kind, "impl", None), JSON):
            found.append((i, _json_text))
        elif isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
            found.append((i, _memoised(_postgresql_text if postgresql else _sqlite_text)))
    return found


def _copy(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    convert: list[tuple[int, Callable[[Any], Any]]],
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    connection = session.connection()
    refuse_writes_when_reading(connection, statement)  # the driver's COPY skips the engine's check
    driver: Any = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                if convert:
                    values = list(row)
                    for i, to in convert:
                        values[i] = to(values[i])
                    copy.write_row(values)
                else:
                    copy.write_row(row)
    # As SQLAlchemy reports them for every other statement, so callers catch one error: a row
    # refused, or the transaction made to give way to a concurrent one.
    except psycopg.errors.IntegrityError as refused:
        raise IntegrityError(statement, None, refused) from refused
    except psycopg.errors.OperationalError as given_way:
        raise OperationalError(statement, None, given_way) from given_way


def append_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in the order of `columns`) in the caller's transaction; a row the
    table's constraints refuse raises SQLAlchemy's `IntegrityError` on either backend."""
    if not rows:
        return
    postgresql = session.get_bind().dialect.name == "postgresql"
    convert = _converters(table, columns, postgresql)
    if postgresql:
        _copy(session, table, columns, rows, convert)
        return
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(columns)}) '
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    connection = session.connection()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if convert:
            converted = []
            for row in chunk:
                values = list(row)
                for i, to in convert:
                    values[i] = to(values[i])
                converted.append(tuple(values))
            connection.exec_driver_sql(sql, converted)
        else:
            connection.exec_driver_sql(sql, [tuple(row) for row in chunk])


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert dict `rows` (every row the same keys) in the caller's transaction: `COPY` on
    PostgreSQL; on SQLite one executemany through SQLAlchemy, filling in Python-side defaults."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    convert = _converters(table, columns, postgresql=True)
    _copy(session, table, columns, [[row[c] for c in columns] for row in rows], convert)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new primary keys for `table`, ascending, for rows the caller inserts itself.

    PostgreSQL takes them from the table's sequence. SQLite hands out max(id) + 1 to a new row
    anyway, and a writing unit of work holds the database's write lock from its first statement
    (`BEGIN IMMEDIATE`), so the next `count` ids are this transaction's.
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sequence = _sequences.get(table.name)
        if sequence is None:
            sequence = _sequences[table.name] = session.scalar(_SERIAL_SEQUENCE, {"t": table.name})
        return sorted(session.scalar(_NEXT_IDS, {"s": sequence, "n": count}))
    first = (session.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))
