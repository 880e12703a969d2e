"""`yipan forecast …`: run demand forecasts, show their backtest, suggest replenishment.

`yipan forecast run` forecasts every SKU × node that sold in the history window (or the given
SKUs and nodes) with a progress bar over its steps, stores the run, and prints the backtest of
the chosen models against SeasonalNaive(7). `yipan forecast demo-backtest` builds the demo
(with its year of orders) in a scratch SQLite file and prints that table for it.

Exit codes: 0 done, 1 the request was refused (unknown SKU or node, no sales history, a bad
horizon), 2 the database could not be used.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from yipan.demo import build_demo
from yipan.insights.service import forecasts, replenishment
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

app = typer.Typer(help="Demand forecasts and replenishment.", no_args_is_help=True)
console = Console()

# read, then per family a backtest and a forecast, then store
_STEPS = 6


def forecast_with_progress(
    engine: Engine,
    *,
    horizon: int | None,
    skus: list[str] | None,
    nodes: list[str] | None,
    settings: forecasts.ForecastSettings | None = None,
) -> forecasts.RunOut:
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("reading the ledger", total=_STEPS)

        def step(name: str, series: int) -> None:
            progress.update(task, advance=1, description=f"{name} ({series})")

        with unit_of_work(engine) as session:
            progress.advance(task)
            run = forecasts.run_forecast(
                session,
                horizon=horizon,
                skus=skus,
                nodes=nodes,
                settings=settings,
                created_by="cli",
                progress=step,
            )
            progress.update(task, completed=_STEPS, description="stored")
    return run


def print_backtest(engine: Engine, run_id: int) -> None:
    with unit_of_work(engine, readonly=True) as session:
        table = forecasts.backtest_table(session, run_id=run_id)

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    out = Table(
        "",
        "series",
        "backtested",
        "naive kept",
        "backtest units",
        "chosen WAPE",
        "SeasonalNaive WAPE",
        "forecast units",
        title=f"Backtest of run {table.run_id} (history to {table.as_of})",
    )
    for title, rows in (
        ("overall", [table.overall]),
        ("region", table.by_region),
        ("model", table.by_model),
        ("family", table.by_family),
    ):
        for row in rows:
            out.add_row(
                f"{title}: {row.key}" if title != "overall" else "all",
                str(row.series),
                str(row.backtested),
                str(row.naive_chosen),
                f"{row.actual:g}",
                pct(row.wape),
                pct(row.baseline_wape),
                f"{row.forecast_total:,.0f}",
            )
    # Wide enough for the table whether or not the output is a terminal.
    Console(width=max(console.width, 120)).print(out)


@app.command("run")
def run(
    horizon: int = typer.Option(None, help="days ahead (default YIPAN_FORECAST_HORIZON_DAYS, 28)"),
    sku: list[str] = typer.Option(None, "--sku", help="only this SKU (repeatable)"),
    node: list[str] = typer.Option(None, "--node", help="only at this node (repeatable)"),
) -> None:
    """Forecast demand per SKU × node, choosing each series' model by backtest; store it."""
    engine = make_engine(get_settings().database_url)
    try:
        started = time.perf_counter()
        result = forecast_with_progress(
            engine, horizon=horizon, skus=sku or None, nodes=node or None
        )
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from None
    console.print(
        f"run {result.id}: {result.series} series ({result.regular} regular, "
        f"{result.intermittent} intermittent, {result.no_demand} without demand), "
        f"{result.horizon_days} days from {result.as_of}, in {time.perf_counter() - started:.1f} s"
    )
    print_backtest(engine, result.id)


@app.command("backtest")
def backtest(
    run_id: int = typer.Option(None, "--run", help="a run id (default the latest)"),
) -> None:
    """Print a run's backtest: chosen models against SeasonalNaive, overall and by region."""
    engine = make_engine(get_settings().database_url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            chosen = forecasts.get_run(session, run_id).id
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from None
    print_backtest(engine, chosen)


@app.command("replenish")
def replenish(
    service_level: float = typer.Option(None, help="cycle service level (default 0.95)"),
    apply: bool = typer.Option(False, help="also set each reorder point in inventory"),
) -> None:
    """Print the suggested purchase and DC → store orders from the latest forecasts."""
    engine = make_engine(get_settings().database_url)
    try:
        with unit_of_work(engine) as session:
            plan = replenishment.suggest(session, service_level=service_level)
            changed = (
                replenishment.apply_reorder_points(session, service_level=service_level)
                if apply
                else []
            )
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from None
    out = Table("kind", "from", "lines", "units", title="Suggested orders")
    for order in (*plan.purchase_orders, *plan.replenishment_orders):
        out.add_row(order.kind, order.source, str(len(order.lines)), str(order.units))
    console.print(out)
    if apply:
        console.print(f"{len(changed)} reorder points set")


@app.command("demo-backtest")
def demo_backtest(
    scale: float = typer.Option(0.05, help="demo scale (0 < scale ≤ 1)"),
    horizon: int = typer.Option(28, help="days ahead"),
) -> None:
    """Build the demo with its year of orders in a scratch SQLite file, forecast it and print
    the backtest table (chosen vs SeasonalNaive, by region)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        try:
            started = time.perf_counter()
            build_demo(engine, seed=7, scale=scale)
            console.print(f"demo built in {time.perf_counter() - started:.0f} s")
            result = forecast_with_progress(engine, horizon=horizon, skus=None, nodes=None)
            print_backtest(engine, result.id)
        finally:
            engine.dispose()
