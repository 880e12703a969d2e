"""`yipan members …`: bulk loads of customer records from a source system.

A file is imported in chunks, each one unit of work: a crash loses at most the chunk in flight,
and because a record replayed with the same payload changes nothing, running the file again is
harmless. Exit codes: 0 every row imported, 1 some rows were rejected (the others are kept),
2 nothing was imported because the file or the database could not be used.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yipan.cli.chunked_import import import_in_chunks, print_rejected_rows
from yipan.kernel.clock import SystemClock
from yipan.members.schemas import MemberImportReport
from yipan.members.service import importing

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
    show_errors: int = typer.Option(20, min=0, help="how many row errors to print"),
) -> None:
    """Create, join and merge members from a file of source records; running it again is harmless."""
    clock = SystemClock()
    seen: dict[tuple[str, str], int] = {}
    report = import_in_chunks(
        read=lambda: importing.read_rows(
            file.read_bytes(), importing.resolve_format(fmt, filename=file.name)
        ),
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
