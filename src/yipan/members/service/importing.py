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
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.errors import DuplicateRecordInFile, InvalidImportFile, MalformedRow
from yipan.members.schemas import (
    ImportFormat,
    MemberImportReport,
    MemberImportRowError,
    SourceRecordIn,
)
from yipan.members.service.ingest import ingest_records

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
    try:
        return SourceRecordIn.model_validate(
            {
                "source": source,
                **data,
                "identities": identities,
                "attributes": attributes,
            }
        )
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
    seen: dict[tuple[str, str], int] | None = None,
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
    seen: dict[tuple[str, str], int],
    clock: Clock | None,
) -> MemberImportReport:
    good, report = check_rows(rows, source=source, seen=seen)
    if good:
        for result in ingest_records(session, good, clock=clock).results:
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report


def check_rows(
    rows: Iterable[SourceRow], *, source: str, seen: dict[tuple[str, str], int] | None = None
) -> tuple[list[SourceRecordIn], MemberImportReport]:
    """The good rows as records, and a report counting every row with the bad ones' errors.

    `seen` (record key → row number) finds a record given twice, across a file's chunks too.
    """
    seen = {} if seen is None else seen
    report = MemberImportReport(total=0)
    good: list[SourceRecordIn] = []
    for row in rows:
        report.total += 1
        raw_id = row.fields.get("record_id")
        record_id = str(raw_id) if raw_id not in (None, "") else None
        try:
            if row.problem:
                raise MalformedRow(row.problem)
            record = record_from_row(row.fields, source)
            key = (record.source, record.record_id)
            if key in seen:
                raise DuplicateRecordInFile(
                    f"record {record.source}:{record.record_id} was already given in row "
                    f"{seen[key]}"
                )
        except (MalformedRow, DuplicateRecordInFile) as exc:
            report.errors.append(
                MemberImportRowError(
                    row=row.number, record_id=record_id, code=exc.code, message=exc.message
                )
            )
            continue
        seen[key] = row.number
        good.append(record)
    return good, report
