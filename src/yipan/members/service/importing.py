"""Bulk import of source records from CSV or JSONL: good rows are ingested, bad rows reported.

A row is one source record. CSV columns: `record_id` (required), `source` (default: the source the
import is for), `name`, one column per identity kind (`phone`, `email`, `pos_card`,
`online_account`, `social_openid`, `social_unionid`, `marketplace_buyer`) and `attr_<name>` for
attributes. A JSONL line holds the same fields, or `identities` (a list of {kind, value}) and
`attributes` (an object). A bad row (unreadable, no record id, a value too long, the same record
twice in one file) is reported by its number and writes nothing; the other rows are ingested
like `POST /api/v1/members/records`, so importing a file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from yipan.kernel.clock import Clock
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


@dataclass(frozen=True)
class Row:
    """One row as read: `number` is the 1-based JSONL line or CSV data row (after the header)."""

    number: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


def resolve_format(fmt: str | None, *, filename: str | None = None) -> ImportFormat:
    given = (fmt or (PurePath(filename).suffix.lstrip(".") if filename else "")).lower()
    if given in ("csv",):
        return "csv"
    if given in ("jsonl", "ndjson", "jsonlines"):
        return "jsonl"
    raise InvalidImportFile("give the import format: csv or jsonl", format=fmt)


def decode(data: bytes) -> str:
    """UTF-8 with or without a BOM, else GB18030 (what Excel on Chinese Windows writes)."""
    if b"\x00" in data:
        raise InvalidImportFile("this is not a text file (it holds NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidImportFile(
            f"the file is neither UTF-8 nor GB18030 text (bad byte at offset {exc.start})"
        ) from None


def read_rows(data: bytes | str, fmt: ImportFormat) -> Iterator[Row]:
    """File-wide problems (not text, bad CSV header) raise before any row is yielded."""
    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    return _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise InvalidImportFile("the CSV file is empty; it needs a header row")
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
    return _csv_records(reader, columns)


def _csv_records(reader: Iterator[list[str]], columns: list[str]) -> Iterator[Row]:
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield Row(number, problem=f"the row cannot be read as CSV: {exc}")
            continue
        number += 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield Row(
                number, problem=f"the row has {len(cells)} cells but the header has {len(columns)}"
            )
            continue
        yield Row(number, dict(zip(columns, cells, strict=True)))


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield Row(number, problem=f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield Row(number, problem=f"a JSON {type(value).__name__}, not an object")
            continue
        yield Row(number, value)


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
    rows: Iterable[Row],
    *,
    source: str,
    seen: dict[tuple[str, str], int] | None = None,
    clock: Clock | None = None,
) -> MemberImportReport:
    """Ingest the good rows of one chunk; `seen` carries record keys across a file's chunks."""
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
    if good:
        for result in ingest_records(session, good, clock=clock).results:
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)
    return report


def merge_reports(*parts: MemberImportReport) -> MemberImportReport:
    total = MemberImportReport(total=0)
    for part in parts:
        for name in MemberImportReport.model_fields:
            if name == "errors":
                total.errors.extend(part.errors)
            else:
                setattr(total, name, getattr(total, name) + getattr(part, name))
    return total
