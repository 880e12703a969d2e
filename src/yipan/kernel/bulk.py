"""Appending hundreds of thousands of rows in one transaction, as fast as each backend allows.

`db.bulk_insert` is right for a ledger batch of a thousand dict rows. Writing history (a data
migration, the demo's year of orders) is a million rows, where SQLAlchemy's per-row parameter
processing costs more than SQLite itself. `append_rows` takes tuples in a given column order
and sends them with `COPY` on PostgreSQL, and on SQLite with one driver-level executemany after
converting only the values the driver cannot store as they are (timestamps in the text form
SQLAlchemy writes and reads, JSON documents as text). Rows written either way read back exactly
as rows written through the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

CHUNK = 20_000


def _sqlite_timestamp() -> Callable[[Any], Any]:
    seen: dict[datetime, str] = {}

    def convert(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = seen.get(value)
        if text is None:
            v = value.astimezone(UTC) if value.tzinfo is not None else value
            # SQLAlchemy's SQLite storage format: always six digits of microseconds, so that
            # stored values compare as text the way the ones it writes do.
            text = "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
                v.year,
                v.month,
                v.day,
                v.hour,
                v.minute,
                v.second,
                v.microsecond,
            )
            if len(seen) < 100_000:
                seen[value] = text
        return text

    return convert


def _json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _converters(
    table: Table, columns: Sequence[str], postgresql: bool
) -> list[tuple[int, Callable[[Any], Any]]]:
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, JSON) or isinstance(getattr(kind, "impl", None), JSON):
            found.append(
                (i, (lambda v: None if v is None else Jsonb(v)) if postgresql else _json_text)
            )
        elif not postgresql and (
            isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime)
        ):
            found.append((i, _sqlite_timestamp()))
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
    driver: Any = session.connection().connection.driver_connection
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
    except psycopg.errors.IntegrityError as refused:
        # As SQLAlchemy reports it for every other statement, so callers catch one error.
        raise IntegrityError(statement, None, refused) from refused


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
