"""Bulk import of source records from CSV or JSONL: good rows are ingested, bad rows reported.

A row is one source record. CSV columns: `record_id` (required), `source` (default: the source the
import is for), `name`, one column per identity kind (`phone`, `email`, `pos_card`,
`online_account`, `social_openid`, `social_unionid`, `marketplace_buyer`) and `attr_<name>` for
attributes. A JSONL line holds the same fields, or `identities` (a list of {kind, value}) and
`attributes` (an object). A bad row (unreadable, no record id, a value too long, the same record
twice in one file) is reported by its number and writes nothing; the other rows are ingested
like `POST /api/v1/members/records`, so importing a file again changes nothing. Reading the file
(formats, decoding, CSV and JSONL rows) is `yipan.kernel.tabular`; the columns and the row →
record rules are the members context's and live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yipan.kernel import tabular
from yipan.kernel.clock import Clock
from yipan.kernel.collector import collector_paused
from yipan.kernel.tabular import SourceRow
from yipan.kernel.tabular import resolve_format as resolve_format
from yipan.members.domain import identifiers as ids
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.errors import DuplicateRecordInFile, InvalidImportFile, MalformedRow
from yipan.members.schemas import (
    ImportFormat,
    MemberImportReport,
    MemberImportRowError,
    SourceRecordIn,
)
from yipan.members.service.ingest import ingest_records

# A record as sent: `SourceRecordIn`'s fields (a file's row as read), or a record validated.
Row = Mapping[str, Any] | SourceRecordIn
KIND_COLUMNS = tuple(kind.value for kind in IdentityKind)
COLUMNS = ("record_id", "source", "name", *KIND_COLUMNS)
ATTR_PREFIX = "attr_"


def read_rows(data: bytes | str, fmt: ImportFormat) -> Iterator[SourceRow]:
    """File-wide problems (not text, bad CSV header) raise before any row is yielded."""
    return tabular.read_rows(data, fmt, columns_of=csv_columns, required=["record_id"])


def csv_columns(header: list[str]) -> list[str]:
    """The column names of a CSV header; raises if `record_id` is missing or a column unknown."""
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in COLUMNS and not c.startswith(ATTR_PREFIX)]
    if unknown or "record_id" not in columns:
        raise InvalidImportFile(
            "the CSV header cannot be imported: "
            + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "")
            + ("" if "record_id" in columns else "missing column record_id; ")
            + f"known columns are {', '.join(COLUMNS)} and attr_<name>",
            unknown=unknown,
        )
    return columns


def record_from_row(fields: Mapping[str, Any], source: str) -> SourceRecordIn:
    """One row as a source record; raises `MalformedRow` naming what is wrong."""
    return validated(record_data(fields, source))


def record_data(fields: Mapping[str, Any], source: str) -> dict[str, Any]:
    """One row's fields in `SourceRecordIn`'s shape, not yet validated; raises `MalformedRow`
    if they cannot take that shape."""
    data = {k: v for k, v in fields.items() if v is not None and v != ""}
    identities = list(data.pop("identities", []) or [])
    if not isinstance(identities, list):
        raise MalformedRow("identities must be a list of {kind, value}")
    for kind in KIND_COLUMNS:
        if kind in data:
            identities.append({"kind": kind, "value": data.pop(kind)})
    attributes = data.pop("attributes", None) or {}
    if not isinstance(attributes, dict):
        raise MalformedRow("attributes must be an object")
    for key in [k for k in data if k.startswith(ATTR_PREFIX)]:
        attributes[key[len(ATTR_PREFIX) :]] = data.pop(key)
    return {"source": source, **data, "identities": identities, "attributes": attributes}


def validated(row: Row) -> SourceRecordIn:
    """The source record of `row`; raises `MalformedRow` naming what is wrong."""
    try:
        return SourceRecordIn.model_validate(row)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
        ]
        raise MalformedRow("; ".join(problems)) from None


def import_records(
    session: Session,
    rows: Iterable[SourceRow],
    *,
    source: str,
    seen: dict[ids.RecordKey, int] | None = None,
    clock: Clock | None = None,
) -> MemberImportReport:
    """Ingest the good rows of one chunk; `seen` carries record keys across a file's chunks.

    The rows are read and validated with the garbage collector paused, as the ingest itself is:
    with it on, validating a chunk took five times as long in a process holding a large file.
    """
    with collector_paused():
        return _import_rows(
            session, rows, source=source, seen={} if seen is None else seen, clock=clock
        )


def _import_rows(
    session: Session,
    rows: Iterable[SourceRow],
    *,
    source: str,
    seen: dict[ids.RecordKey, int],
    clock: Clock | None,
) -> MemberImportReport:
    good, report = check_rows(rows, source=source, seen=seen)
    if good:
        for result in ingest_records(session, good, clock=clock).results:
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report


def check_rows(
    rows: Iterable[SourceRow], *, source: str, seen: dict[ids.RecordKey, int] | None = None
) -> tuple[list[SourceRecordIn], MemberImportReport]:
    """The good rows as records, and a report counting every row with the bad ones' errors.

    `seen` (record key → row number) finds a record given twice, across a file's chunks too.
    """
    shaped, report = shape_rows(rows, source=source, seen=seen)
    good: list[SourceRecordIn] = []
    for number, data in shaped:
        try:
            good.append(validated(data))
        except MalformedRow as exc:
            report.errors.append(row_error(number, data, exc.code, exc.message))
    report.errors.sort(key=lambda error: error.row)
    return good, report


def shape_rows(
    rows: Iterable[SourceRow], *, source: str, seen: dict[ids.RecordKey, int] | None = None
) -> tuple[list[tuple[int, dict[str, Any]]], MemberImportReport]:
    """Each row that can take a record's shape, with its number, not yet validated; and a report
    counting every row with the errors of the others (unreadable, misshapen, given before).

    A record is given twice when two rows have one (source, record id), spaces stripped, as
    `identifiers.sent_record_key` reads it; the first one is kept, even if it does not validate.
    """
    seen = {} if seen is None else seen
    report = MemberImportReport(total=0)
    shaped: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
        report.total += 1
        try:
            if row.problem:
                raise MalformedRow(row.problem)
            data = record_data(row.fields, source)
            key = ids.sent_record_key(data)
            if key is not None and key in seen:
                raise DuplicateRecordInFile(
                    f"record {key.source}:{key.record_id} was already given in row {seen[key]}"
                )
        except (MalformedRow, DuplicateRecordInFile) as exc:
            report.errors.append(row_error(row.number, row.fields, exc.code, exc.message))
            continue
        if key is not None:
            seen[key] = row.number
        shaped.append((row.number, data))
    return shaped, report


def row_error(
    number: int, fields: Mapping[str, Any], code: str, message: str
) -> MemberImportRowError:
    """The report's entry for a bad row."""
    raw_id = fields.get("record_id")
    record_id = str(raw_id) if raw_id not in (None, "") else None
    return MemberImportRowError(row=number, record_id=record_id, code=code, message=message)
