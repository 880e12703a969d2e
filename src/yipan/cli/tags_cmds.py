"""`yipan tags …`: member tags — a full refresh for every member (nightly, or after an import),
and one member's tags.

Each order, return, merge and un-merge refreshes its member's tags as the outbox delivers it;
the full refresh also renews the RFM cut points everyone is scored against, and the lapse risk
of members who did not buy since (run it nightly, e.g. from cron).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yipan.insights.service import tags
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

app = typer.Typer(help="Member tags: RFM, preferences, lapse risk.", no_args_is_help=True)
console = Console()


@app.command("refresh")
def refresh() -> None:
    """Recompute every member's tags; readers see the old tags until the new ones are written.

    An order tagged while the refresh reads is tagged again by its next order or refresh."""
    engine = make_engine(get_settings().database_url)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("reading orders and fitting the lapse model", total=None)

        def tell(done: int, total: int) -> None:
            progress.update(task, description="tagging members", completed=done, total=total)

        # Read and fit without holding the write lock (SQLite has one for the whole database);
        # then replace the tags in one short writing transaction.
        with unit_of_work(engine, readonly=True) as session:
            computed = tags.compute_all(session)
        with unit_of_work(engine) as session:
            report = tags.store_all(session, computed, progress=tell)
    console.print(
        f"[green]{report.members:,} members tagged, {report.tags:,} tags[/] "
        f"(RFM cut points over {report.baseline.members:,} buyers; "
        + (
            "lapse risk from the member-value model)"
            if report.lapse_model
            else "no lapse risk: the member-value model cannot be fitted yet)"
        )
    )


@app.command("show")
def show(member_id: str = typer.Argument(..., help="e.g. M0000000042")) -> None:
    """A member's tags as last computed."""
    engine = make_engine(get_settings().database_url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            found = tags.tags_of(session, member_id)
    except YipanError as refused:
        console.print(f"[red]{refused.message}[/]")
        raise typer.Exit(1) from None
    if not found.tags:
        console.print(f"{found.member_id} has no tags (no completed purchase, or no refresh yet)")
        return
    table = Table("kind", "value", "score", title=f"tags of {found.member_id}")
    for tag in found.tags:
        table.add_row(tag.kind, tag.value, "" if tag.score is None else f"{tag.score:g}")
    console.print(table)
