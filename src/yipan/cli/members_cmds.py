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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from yipan.kernel.clock import SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.members.schemas import MemberImportReport
from yipan.members.service import importing

app = typer.Typer(help="Members: customer records from every source.", no_args_is_help=True)
console = Console()


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
    chunk_size: int = typer.Option(1000, min=1, help="rows committed together"),
    show_errors: int = typer.Option(20, min=0, help="how many row errors to print"),
) -> None:
    """Create, join and merge members from a file of source records; running it again is harmless."""
    try:
        rows = list(
            importing.read_rows(
                file.read_bytes(), importing.resolve_format(fmt, filename=file.name)
            )
        )
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(2) from None
    engine = make_engine(get_settings().database_url)
    clock = SystemClock()
    seen: dict[tuple[str, str], int] = {}
    parts: list[MemberImportReport] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    try:
        with progress:
            task = progress.add_task(f"importing {file.name}", total=len(rows))
            for start in range(0, len(rows), chunk_size):
                chunk = rows[start : start + chunk_size]
                with unit_of_work(engine) as session:
                    part = importing.import_records(
                        session, chunk, source=source, seen=seen, clock=clock
                    )
                parts.append(part)  # only once committed, so the count below stays true
                progress.advance(task, len(chunk))
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        done = sum(p.total for p in parts)
        console.print(
            f"[red]database error[/] after {done} of {len(rows)} rows were committed: "
            f"{getattr(exc, 'orig', None) or exc}\n"
            "If tables are missing, run `yipan db upgrade`. Running the import again is safe."
        )
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    report = importing.merge_reports(*parts)
    summary = Table(
        "rows",
        "created",
        "attached",
        "merged",
        "conflict",
        "updated",
        "unchanged",
        "failed",
        title="Import summary",
    )
    summary.add_row(
        *(
            str(getattr(report, name))
            for name in (
                "total",
                "created",
                "attached",
                "merged",
                "conflict",
                "updated",
                "unchanged",
            )
        ),
        f"[red]{len(report.errors)}[/]" if report.errors else "0",
    )
    console.print(summary)
    if report.errors and show_errors:
        errors = Table("row", "record", "code", "message", title="Rejected rows")
        for error in report.errors[:show_errors]:
            errors.add_row(str(error.row), error.record_id or "", error.code, error.message)
        console.print(errors)
        if len(report.errors) > show_errors:
            console.print(f"… and {len(report.errors) - show_errors} more rejected row(s)")
    if report.errors:
        raise typer.Exit(1)
