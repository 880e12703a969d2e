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

from collections.abc import Callable, Iterable
from pathlib import Path

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
from yipan.members.schemas import MemberImportReport
from yipan.members.service import importing, parallel

app = typer.Typer(help="Members: customer records from every source.", no_args_is_help=True)
console = Console()

_COUNTS = ("created", "attached", "merged", "conflict", "updated", "unchanged")


@app.command("import")
def import_members(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        metavar="FILE",
        help="a .csv or .jsonl file",
    ),
    source: str = typer.Option(
        ..., "--source", "-s", help="the system the file comes from (pos, …)"
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", metavar="csv|jsonl", help="default: from the file extension"
    ),
    chunk_size: int = typer.Option(5000, min=1, help="rows committed together"),
    workers: int = typer.Option(
        1,
        min=1,
        help="processes ingesting the file at once (PostgreSQL; SQLite takes one writer)",
    ),
    show_errors: int = typer.Option(20, min=0, help="how many row errors to print"),
) -> None:
    """Create, join and merge members from a file of source records; running it again is harmless."""
    clock = SystemClock()

    def read() -> Iterable[SourceRow]:
        return importing.read_rows(
            file.read_bytes(), importing.resolve_format(fmt, filename=file.name)
        )

    if workers > 1:
        report = _import_in_parallel(read, source, workers, chunk_size, clock, file.name)
    else:
        seen: dict[tuple[str, str], int] = {}
        report = import_in_chunks(
            read=read,
            import_chunk=lambda session, chunk: importing.import_records(
                session, chunk, source=source, seen=seen, clock=clock
            ),
            report_type=MemberImportReport,
            label=f"importing {file.name}",
            chunk_size=chunk_size,
            console=console,
        )
    summary = Table("rows", *_COUNTS, "failed", title="Import summary")
    summary.add_row(
        str(report.total),
        *(str(getattr(report, name)) for name in _COUNTS),
        f"[red]{len(report.errors)}[/]" if report.errors else "0",
    )
    console.print(summary)
    print_rejected_rows(
        console,
        [(e.row, e.record_id, e.code, e.message) for e in report.errors],
        key_label="record",
        show=show_errors,
    )
    if report.errors:
        raise typer.Exit(1)


def _import_in_parallel(
    read: Callable[[], Iterable[SourceRow]],
    source: str,
    workers: int,
    chunk_size: int,
    clock: SystemClock,
    filename: str,
) -> MemberImportReport:
    """Every row checked first, then the good ones ingested by `workers` processes over parts
    of the file that share no identifier and no stored member (`members.service.parallel`)."""
    with collector_paused():
        good, report = exit_on_error(console, lambda: importing.check_rows(read(), source=source))
    with progress_bar(console) as progress:
        task = progress.add_task(f"importing {filename}", total=len(good))
        outcomes = exit_on_error(
            console,
            lambda: parallel.ingest_in_parallel(
                get_settings().database_url,
                good,
                workers=workers,
                chunk_size=chunk_size,
                clock=clock,
                progress=lambda count: progress.advance(task, count),
            ),
        )
    for outcome, count in outcomes.items():
        setattr(report, outcome, count)
    return report
