from __future__ import annotations

import contextlib
import signal
import threading

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from yipan.cli import (
    catalog_cmds,
    demo_cmds,
    forecast_cmds,
    members_cmds,
    orders_cmds,
    tags_cmds,
    users_cmds,
)
from yipan.events.service import deliver_pending
from yipan.inventory.service import ledger
from yipan.kernel import migrate
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.wiring import (
    Background,
    check_settings,
    compose,
    relay,
    route_events,
    sweep_expired_reservations,
)

app = typer.Typer(
    help="Yipan (一盘): one pool of people, goods and places for every channel.",
    no_args_is_help=True,
)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
inventory = typer.Typer(help="Inventory operations.", no_args_is_help=True)
events = typer.Typer(help="The event outbox.", no_args_is_help=True)


@app.callback()
def _every_command() -> None:
    compose()
    route_events()


app.add_typer(db, name="db")
app.add_typer(inventory, name="inventory")
app.add_typer(events, name="events")
app.add_typer(catalog_cmds.app, name="import")
app.add_typer(orders_cmds.app, name="orders")
app.add_typer(members_cmds.app, name="members")
app.add_typer(users_cmds.app, name="users")
app.add_typer(tags_cmds.app, name="tags")
app.add_typer(forecast_cmds.app, name="forecast")
app.command("demo")(demo_cmds.demo)

console = Console()


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default YIPAN_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (default YIPAN_PORT or 8000)"),
    workers: int = typer.Option(1, help="Worker processes"),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    console.print(f"[bold green]Yipan is serving at http://{host}:{port}/docs[/]")
    uvicorn.run(
        "yipan.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command()
def worker() -> None:
    """Run the outbox dispatcher and the sweepers without the API (for scaling out)."""
    settings = get_settings()
    check_settings()
    jobs = Background(make_engine(settings.database_url), settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    jobs.start()
    console.print("worker running; Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    jobs.stop()


@db.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply schema migrations."""
    engine = make_engine(get_settings().database_url)
    migrate.upgrade(engine, revision)
    console.print(f"database at {engine.url.render_as_string()} is at {revision}")


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    migrate.check(make_engine(get_settings().database_url))
    console.print("models and migrations agree")


@inventory.command("reconcile")
def reconcile() -> None:
    """Prove that every stock level's on_hand equals the sum of its ledger; report any drift."""
    engine = make_engine(get_settings().database_url)
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
    if not report.drifted:
        console.print(f"[green]{report.rows_checked} stock levels checked, 0 drift[/]")
        return
    table = Table("SKU", "node", "on_hand", "ledger sum", "drift", title="Stock drift")
    for row in report.drifted[:200]:
        table.add_row(row.sku, row.node, str(row.on_hand), str(row.ledger_sum), str(row.drift))
    console.print(table)
    console.print(f"[red]{len(report.drifted)} of {report.rows_checked} levels drifted[/]")
    raise typer.Exit(1)


@inventory.command("sweep")
def sweep() -> None:
    """Release reservations whose expiry has passed."""
    released = sweep_expired_reservations(make_engine(get_settings().database_url))
    console.print(f"released {released} expired reservation(s)")


@events.command("deliver")
def deliver() -> None:
    """Deliver pending outbox events to the in-process handlers once, then exit."""
    settings = get_settings()
    report = deliver_pending(
        make_engine(settings.database_url),
        relay(),
        max_attempts=settings.outbox_max_attempts,
    )
    console.print(f"delivered {report.delivered}, failed {report.failed}, dead {report.dead}")
