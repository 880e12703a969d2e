"""`yipan demo`: build the deterministic demo data set and its users, then tell its story and
print the logins."""

from __future__ import annotations

from types import TracebackType

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from yipan.demo import DemoSummary, build_demo, reset_database
from yipan.demo.logins import DemoAccess, ensure_demo_logins
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine
from yipan.kernel.errors import YipanError

console = Console()

NODE_TYPES = {
    "store": "stores",
    "distributor_store": "distributor stores",
    "warehouse": "warehouses",
    "dc": "DCs",
}


class RichProgress:
    """One Rich progress bar per build phase."""

    def __init__(self, out: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._finish()
        self._bars.stop()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[self._task]
            self._bars.update(self._task, completed=task.total)

    def phase(self, name: str, total: int) -> None:
        self._finish()
        self._task = self._bars.add_task(name, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, amount)


def demo(
    seed: int = typer.Option(7, help="Random seed; the same seed builds the same data"),
    reset: bool = typer.Option(False, help="Drop and recreate the schema, then rebuild"),
    scale: float = typer.Option(
        1.0,
        min=0.01,
        max=1.0,
        help="Shrink SKUs, stores, members and orders (e.g. 0.1 for a quick look)",
    ),
) -> None:
    """Build the demo data: stores, SKUs, skewed stock and a year of members and orders."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        if reset:
            console.print(f"dropping every table in {engine.url.render_as_string()} …")
            reset_database(engine)
            engine.dispose()
            engine = make_engine(settings.database_url)  # fresh code → id caches
        with RichProgress(console) as progress:
            summary = build_demo(engine, seed=seed, scale=scale, progress=progress)
        access = ensure_demo_logins(engine)
    except YipanError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if not summary.built:
        console.print(
            f"[yellow]The demo data (seed {summary.seed}) is already in this database; "
            "nothing to do. `yipan demo --reset` rebuilds it.[/]"
        )
    base_url = f"http://{settings.host}:{settings.port}"
    tell(summary, base_url)
    tell_logins(access, base_url)


def tell(summary: DemoSummary, base_url: str) -> None:
    """Print what the demo holds and the case it was built to show."""
    s = summary
    if s.built:
        console.print(f"\n[bold green]Demo data built[/] (seed {s.seed}) in {s.seconds:.1f} s")
    kinds = ", ".join(f"{s.nodes[t]} {label}" for t, label in NODE_TYPES.items() if t in s.nodes)
    console.print(
        f"  {s.node_count} nodes ({kinds}); {s.core_share:.0%} in Jiangsu, Zhejiang, Shanghai "
        "and Shandong"
    )
    console.print(
        f"  {s.skus:,} SKUs in {s.products} products and {s.categories} categories "
        "(apparel, shoes, home appliances, FMCG)"
    )
    console.print(
        f"  {s.stock_levels:,} stock levels holding {s.units:,} units; {s.movements:,} ledger "
        "movements (receipts, sales, returns)"
    )
    console.print(
        f"  {s.policies:,} levels of the best sellers have a safety stock and reorder point; "
        f"{s.low_stock:,} are under it, and {s.threshold_crossings:,} store sales took one under "
        "(each raises a low-stock alert once the outbox is delivered)"
    )
    if s.orders:
        tell_history(s)
    k = s.skew
    console.print(f"\n[bold]The skew[/]: {k.sku_name} ({k.sku}) is the best seller.")
    console.print(f"  Sold out in {len(k.out_of_stock)} {k.city} stores:")
    for shortage in k.out_of_stock:
        console.print(
            f"    {shortage.node}  {shortage.name}  0 on hand, {shortage.distance_km:.0f} km "
            f"from {k.warehouse}"
        )
    if k.low:
        left = ", ".join(f"{x.node} ({x.on_hand})" for x in k.low)
        console.print(f"  Down to the last units in {len(k.low)} more: {left}")
    nearest = min((x.distance_km for x in k.out_of_stock), default=0.0)
    console.print(
        f"  Meanwhile {k.warehouse} {k.warehouse_name} in {k.warehouse_city}, "
        f"about {nearest:.0f} km away, holds [bold]{k.warehouse_on_hand}[/]."
    )
    console.print("\n[bold]Try it[/] (`yipan serve`, then):")
    console.print(f"  {base_url}/console/inventory?sku={k.sku}", soft_wrap=True, highlight=False)
    if s.orders:
        for page in ("orders", "members", "members/reviews"):
            console.print(f"  {base_url}/console/{page}", soft_wrap=True, highlight=False)
    for url in s.api_examples(base_url):
        console.print(f"  {url}", soft_wrap=True, highlight=False)


CHANNELS = {
    "pos": "store tills",
    "tmall": "Tmall",
    "online-shop": "online shop",
    "mini-program": "mini-program",
    "guide": "guides",
}


def tell_history(s: DemoSummary) -> None:
    """The year before the build: members, orders, points, promotions and coupons."""
    console.print(
        f"\n[bold]The year since {s.history_from}[/]: {s.members:,} members from "
        f"{s.source_records:,} records of three systems (POS member cards, the online shop, the "
        f"mini-program); the identity merge joined them, and {s.merge_reviews:,} conflicts wait "
        "in the merge review queue"
    )
    channels = ", ".join(f"{n:,} {CHANNELS.get(c, c)}" for c, n in s.orders_by_channel.items())
    console.print(
        f"  {s.orders:,} orders ({channels}) with {s.order_lines:,} lines, ¥{s.sales_fen / 100:,.0f} "
        f"of sales, {s.member_sales_share:.0%} of it by members; {s.returns:,} returns, most "
        "of online orders taken back in stores"
    )
    console.print(
        "  Weekends are busier, 618 and Double 11 peak; every sale is a ledger movement at its "
        "time, and weekly deliveries bring each level to the stock above"
    )
    tiers = ", ".join(f"{n:,} {t}" for t, n in s.tiers.items() if t != "normal")
    console.print(
        f"  {s.points_earned:,} points earned, {s.points_redeemed:,} redeemed, "
        f"{s.points_balance:,} held; tiers from spend: {tiers}"
    )
    console.print(
        f"  {s.promotions} promotions (618 满减, a Double 11 category sale, a member price), "
        f"{s.coupons_issued:,} coupons issued, {s.coupons_redeemed:,} redeemed"
    )


def tell_logins(access: DemoAccess, base_url: str) -> None:
    """The demo's logins, one per role, and the integration's API key (shown once)."""
    table = Table("role", "username", "password", "scope", title="Demo logins")
    for login in access.logins:
        table.add_row(login.role, login.username, access.password, login.scope_value or "all")
    console.print()
    console.print(table)
    console.print(f"  Log in at {base_url}/console/login", soft_wrap=True, highlight=False)
    if access.api_key:
        console.print(
            f"  API key of the demo integration (shown this once, keep it): {access.api_key}",
            soft_wrap=True,
            highlight=False,
        )
    else:
        console.print(
            f"  The demo integration's API key ({access.api_key_prefix}…) was made by an earlier "
            "run and cannot be shown again; `yipan demo --reset` makes a new one.",
            soft_wrap=True,
            highlight=False,
        )
