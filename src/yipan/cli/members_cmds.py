"""`yipan members …`: bulk loads of customer records from a source system.

A file is imported in chunks, each one unit of work: a crash loses at most the chunk in flight,
and because a record replayed with the same payload changes nothing, running the file again is
harmless. With `--workers N` on PostgreSQL every row is checked first, then N processes ingest
parts of the file that share no identifier and no stored member. Exit codes: 0 every row
imported, 1 some rows were rejected (the others are kept), 2 nothing was imported because the
file or the database could not be used (or, stopped part way, some was: the message says how
much).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from yipan.cli.chunked_import import (
    exit_on_error,
    import_in_chunks,
    print_rejected_rows,
    progress_bar,
)
from yipan.kernel.clock import SystemClock
from yipan.kernel.collector import collector_paused
from yipan.kernel.config import get_settings
from yipan.kernel.tabular import SourceRow
from yipan.members.domain.identifiers import RecordKey
from yipan.members.errors import MalformedRow
from yipan.members.schemas import MemberImportReport, Outcome
from yipan.members.service import importing, parallel

app = typer.Typer(help="Members: customer records from every source.", no_args_is_help=True)
console = Console()

_COUNTS: tuple[Outcome, ...] = ("created", "attached", "merged", "conflict", "updated", "unchanged")


@app.command("import")
def import_members(
    files: list[Path] = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        metavar="FILE...",
        help="one or more .csv or .jsonl files",
    ),
    sources: list[str] = typer.Option(
        ...,
        "--source",
        "-s",
        help="the system a file comes from (pos, …): once for every file, or once per file",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", metavar="csv|jsonl", help="default: from each file's extension"
    ),
    chunk_size: int = typer.Option(5000, min=1, help="rows committed together"),
    workers: int = typer.Option(
        1,
        min=1,
        help="processes ingesting the files at once, about one per core (PostgreSQL; SQLite "
        "takes one writer)",
    ),
    show_errors: int = typer.Option(20, min=0, help="how many row errors to print, per file"),
) -> None:
    """Create, join and merge members from files of source records; running it again is harmless.

    Several files (say, the POS's, the online shop's and the social tool's exports) are one
    import: with `--workers` their records are ingested together, which spares each file the
    lookups of the members the files before it made.
    """
    if len(sources) not in (1, len(files)):
        console.print(
            f"[red]usage[/]: {len(files)} files and {len(sources)} --source: give one --source "
            "for every file, or one per file in the files' order"
        )
        raise typer.Exit(2)
    clock = SystemClock()
    each = sources * len(files) if len(sources) == 1 else sources
    inputs = [_Input(file, source, fmt) for file, source in zip(files, each, strict=True)]
    if workers > 1:
        reports, outcomes = _import_in_parallel(inputs, workers, chunk_size, clock)
    else:
        reports = [_import_in_chunks(item, chunk_size, clock) for item in inputs]
        outcomes = Counter({name: sum(getattr(r, name) for r in reports) for name in _COUNTS})
    failed = sum(len(report.errors) for report in reports)
    summary = Table("rows", *_COUNTS, "failed", title="Import summary")
    summary.add_row(
        str(sum(report.total for report in reports)),
        *(str(outcomes[name]) for name in _COUNTS),
        f"[red]{failed}[/]" if failed else "0",
    )
    console.print(summary)
    for item, report in zip(inputs, reports, strict=True):
        print_rejected_rows(
            console,
            [(e.row, e.record_id, e.code, e.message) for e in report.errors],
            key_label="record",
            show=show_errors,
            title=f"Rejected rows of {item.file.name}",
        )
    if failed:
        raise typer.Exit(1)


@dataclass(frozen=True)
class _Input:
    file: Path
    source: str
    fmt: str | None

    def rows(self) -> Iterable[SourceRow]:
        return importing.read_rows(
            self.file.read_bytes(), importing.resolve_format(self.fmt, filename=self.file.name)
        )

    def shaped(self) -> tuple[list[tuple[int, dict[str, Any]]], MemberImportReport]:
        """The file's rows in a record's shape with their numbers, and the report of the others."""
        return importing.shape_rows(self.rows(), source=self.source)


def _import_in_chunks(item: _Input, chunk_size: int, clock: SystemClock) -> MemberImportReport:
    seen: dict[RecordKey, int] = {}
    return import_in_chunks(
        read=item.rows,
        import_chunk=lambda session, chunk: importing.import_records(
            session, chunk, source=item.source, seen=seen, clock=clock
        ),
        report_type=MemberImportReport,
        label=f"importing {item.file.name}",
        chunk_size=chunk_size,
        console=console,
    )


def _import_in_parallel(
    inputs: Sequence[_Input], workers: int, chunk_size: int, clock: SystemClock
) -> tuple[list[MemberImportReport], Counter[Outcome]]:
    """Every file's rows read first, then ingested together by `workers` processes over parts
    that share no identifier and no stored member, each validating its own rows
    (`members.service.parallel`): each file's report of its rows, and the outcomes of all."""
    rows: list[dict[str, Any]] = []
    origins: list[tuple[int, int]] = []  # each row's file (its place in `inputs`) and number
    reports: list[MemberImportReport] = []
    # Paused from the first row read to the last one dropped: each collection would walk every
    # row read so far (one right after the reading took 2 s for a million), and the rows hold
    # no cycles.
    with collector_paused():
        for index, item in enumerate(inputs):
            shaped, report = exit_on_error(console, item.shaped)
            rows.extend(data for _, data in shaped)
            origins.extend((index, number) for number, _ in shaped)
            reports.append(report)
        names = ", ".join(item.file.name for item in inputs)
        with progress_bar(console) as progress:
            task = progress.add_task(f"importing {names}", total=len(rows))
            done = exit_on_error(
                console,
                lambda: parallel.ingest_in_parallel(
                    get_settings().database_url,
                    rows,
                    workers=workers,
                    chunk_size=chunk_size,
                    clock=clock,
                    progress=lambda count: progress.advance(task, count),
                ),
            )
        for position, message in done.rejected.items():
            index, number = origins[position]
            reports[index].errors.append(
                importing.row_error(number, rows[position], MalformedRow.code, message)
            )
        for report in reports:
            report.errors.sort(key=lambda error: error.row)
        rows.clear()
    return reports, done.outcomes
