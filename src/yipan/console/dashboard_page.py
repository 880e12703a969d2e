"""The HQ dashboard's view model: the KPI tiles, the sales chart, the node map and the alerts for
one period (today, 7 or 30 days) and one region, within the signed-in user's data scope.

Read through the insights context's KPI service (`insights.service.kpis`, every figure defined in
docs/kpis.md) and the inventory and channels services (the regions to choose from, the channels'
names). The scope is applied here, not in the template: HQ sees the chain or picks a region; a
region manager sees their province (and may name it, nothing else); a store's staff see their
store. A region outside the user's scope answers exactly as an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.channels import service as channels
from yipan.console.i18n import Translate
from yipan.console.notice import Notice
from yipan.insights.domain.kpis import HEALTH_COLOURS, Breakdown, HealthBand, KpiRow, Share
from yipan.insights.domain.periods import PeriodName, UnknownPeriod, parse_period
from yipan.insights.service import analytics, kpis
from yipan.inventory.service import nodes

PERIODS = tuple(PeriodName)
MAX_REGION_LENGTH = 50  # as inventory's Node.province
# Channel colours in the sales chart, in the order of the biggest channel first.
CHANNEL_COLOURS = ("#c8102e", "#3a6fd8", "#2f9e5d", "#e39b0b", "#8e5cc4", "#1b9aaa", "#7a5c3e")


@dataclass(frozen=True)
class Tile:
    """One KPI: its label key, the figure as shown, and the sum behind it (e.g. 4 / 6)."""

    key: str
    value: str
    detail: str = ""


def _percent(share: Share) -> str:
    value = share.percent
    return "—" if value is None else f"{value:.1f}%"


def _fraction(share: Share) -> str:
    return f"{share.part:,} / {share.whole:,}"


def _days(days: float) -> str:
    # Tenths of a day matter for a week's cover, not for a year's.
    return f"{days:,.1f}" if days < 100 else f"{days:,.0f}"


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


@dataclass(frozen=True)
class DashboardView:
    period: PeriodName
    region: str
    regions: tuple[str, ...]
    notice: Notice | None = None
    board: kpis.Dashboard | None = None
    channel_names: dict[str, str] | None = None
    # The KPI table (DuckDB): the scope's new figures, and its regions or stores.
    table: analytics.KpiTable | None = None

    def link(self, *, period: str | None = None) -> str:
        """The dashboard's address for another period, keeping the region."""
        query = {"period": period or self.period.value}
        if self.region:
            query["region"] = self.region
        return "/console/dashboard?" + urlencode(query)

    def tiles(self, t: Translate) -> list[Tile]:
        board = self.board
        if board is None:
            return []
        orders, stock, found = board.orders, board.stock, board.alerts
        crossed = orders.omnichannel
        cover = stock.days_of_cover
        tiles = [
            Tile(
                "dashboard.tile.sales",
                _yuan(board.sales.net_fen),
                t("dashboard.units", units=f"{board.sales.units:,}"),
            ),
            Tile("dashboard.tile.orders", f"{orders.orders:,}"),
            Tile(
                "dashboard.tile.omnichannel",
                _percent(orders.omnichannel_share),
                t(
                    "dashboard.omnichannel_detail",
                    bopis=crossed.bopis,
                    ship=crossed.ship_from_store,
                    returns=crossed.return_in_store,
                    guide=crossed.guide,
                ),
            ),
            Tile(
                "dashboard.tile.pickup",
                _percent(orders.pickup_share),
                _fraction(orders.pickup_share),
            ),
            Tile(
                "dashboard.tile.member_sales",
                _percent(board.sales.member_share),
                _yuan(board.sales.member_fen),
            ),
            Tile(
                "dashboard.tile.repurchase",
                _percent(orders.repurchase),
                _fraction(orders.repurchase),
            ),
            Tile("dashboard.tile.stock_out", _percent(stock.stock_out), _fraction(stock.stock_out)),
            Tile(
                "dashboard.tile.cover",
                "—" if cover is None else t("dashboard.days", days=_days(cover)),
                t(
                    "dashboard.cover_detail",
                    on_hand=f"{stock.on_hand:,}",
                    sold=f"{stock.units_sold:,}",
                ),
            ),
            Tile("dashboard.tile.low_stock", f"{found.low_stock_open:,}"),
        ]
        if found.price_unexplained is not None:
            tiles.append(Tile("dashboard.tile.prices", f"{found.price_unexplained:,}"))
        if self.table is not None:
            tiles.extend(_table_tiles(self.table.total, t))
        return tiles

    def kpi_rows(self) -> list[dict[str, str]]:
        """The table under the tiles: one row per region (HQ) or store (a region), as shown."""
        if self.table is None:
            return []
        return [_table_row(row) for row in self.table.rows]

    def sales_chart(self, t: Translate) -> dict[str, Any]:
        """What dashboard.js needs for the stacked bars (one stack per channel) and the total line,
        in yuan, labels in the visitor's language."""
        board = self.board
        if board is None:
            return {}
        names = self.channel_names or {}
        days: tuple[date, ...] = board.sales.days
        totals = [0] * len(days)
        series = []
        for i, channel in enumerate(board.sales.channels):
            for day, fen in enumerate(channel.daily_fen):
                totals[day] += fen
            series.append(
                {
                    "name": names.get(channel.channel, channel.channel),
                    "color": CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)],
                    "values": [fen / 100 for fen in channel.daily_fen],
                }
            )
        return {
            "days": [day.strftime("%m-%d") for day in days],
            "series": series,
            "total": {"name": t("dashboard.total"), "values": [fen / 100 for fen in totals]},
            "yuan": t("dashboard.yuan"),
        }

    def node_map(self, t: Translate) -> dict[str, Any]:
        """Every active node in scope on longitude × latitude, one series per health band."""
        board = self.board
        if board is None:
            return {}
        points: dict[HealthBand, list[list[Any]]] = {band: [] for band in HealthBand}
        for node in board.stock.nodes:
            share = node.short_share
            points[node.band].append(
                [
                    node.place.longitude,
                    node.place.latitude,
                    node.place.code,
                    node.place.name,
                    _percent(share),
                    node.carried,
                ]
            )
        return {
            "x": t("map.longitude"),
            "y": t("map.latitude"),
            "short": t("dashboard.map_short"),
            "carried": t("dashboard.map_carried"),
            "series": [
                {
                    "name": t(f"dashboard.band.{band}"),
                    "color": HEALTH_COLOURS[band],
                    "points": points[band],
                }
                for band in HealthBand
                if points[band] or band is not HealthBand.EMPTY
            ],
        }


def _optional(value: float | int | None, shown: str) -> str:
    return "—" if value is None else shown


def _table_tiles(total: KpiRow, t: Translate) -> list[Tile]:
    """The KPI table's figures the tiles above do not show (docs/kpis.md, "KPI table")."""
    stock = total.stock
    aov, per_m2 = total.average_order_fen, total.sales_per_m2_fen
    tiles = [
        Tile("dashboard.tile.aov", _optional(aov, _yuan(aov or 0))),
        Tile(
            "dashboard.tile.o2o",
            _percent(total.online_to_offline),
            _fraction(total.online_to_offline),
        ),
        Tile(
            "dashboard.tile.return_rate", _percent(total.return_rate), _fraction(total.return_rate)
        ),
        Tile("dashboard.tile.fill_rate", _percent(total.fill_rate), _fraction(total.fill_rate)),
        Tile(
            "dashboard.tile.on_time_pickup",
            _percent(total.on_time_pickup),
            _fraction(total.on_time_pickup),
        ),
        Tile(
            "dashboard.tile.sales_per_m2",
            _optional(per_m2, _yuan(per_m2 or 0)),
            _optional(
                total.floor_area_m2, t("dashboard.area", area=f"{total.floor_area_m2 or 0:,}")
            ),
        ),
    ]
    if stock is not None:
        turns, days = stock.turnover, stock.inventory_days
        tiles.append(
            Tile(
                "dashboard.tile.turnover",
                _optional(turns, f"{turns or 0:.2f}"),
                _optional(days, t("dashboard.days", days=_days(days or 0.0))),
            )
        )
    return tiles


def _table_row(row: KpiRow) -> dict[str, str]:
    stock = row.stock
    turns = None if stock is None else stock.turnover
    aov, per_m2 = row.average_order_fen, row.sales_per_m2_fen
    return {
        "key": row.key or "—",
        "sales": _yuan(row.net_fen),
        "orders": f"{row.orders:,}",
        "aov": _optional(aov, _yuan(aov or 0)),
        "o2o": _percent(row.online_to_offline),
        "return_rate": _percent(row.return_rate),
        "fill_rate": _percent(row.fill_rate),
        "on_time_pickup": _percent(row.on_time_pickup),
        "stock_out": "—" if stock is None else _percent(stock.stock_out),
        "turnover": _optional(turns, f"{turns or 0:.2f}"),
        "per_m2": _optional(per_m2, _yuan(per_m2 or 0)),
    }


def _regions(session: Session, scope: Scope) -> tuple[str, ...]:
    """The provinces this user may narrow the dashboard to."""
    if scope.kind == "store":
        return ()
    if scope.kind == "region":
        return (scope.value,) if scope.value else ()
    return tuple(sorted({n.province for n in nodes.list_nodes(session, active=True)}))


def read_period(raw: str | None) -> tuple[PeriodName, Notice | None]:
    try:
        return parse_period(raw), None
    except UnknownPeriod:
        notice = Notice("dashboard.bad_period", {"period": (raw or "").strip()[:20]}, status=422)
        return parse_period(None), notice


def dashboard_view(
    session: Session, scope: Scope, period_raw: str | None, region_raw: str | None
) -> DashboardView:
    """The dashboard for `scope`, narrowed to `region_raw` (a province) when one is named."""
    period, notice = read_period(period_raw)
    region = (region_raw or "").strip()[:MAX_REGION_LENGTH]
    regions = _regions(session, scope)
    if notice is not None:
        return DashboardView(period, region, regions, notice=notice)
    seen = scope
    if region:
        if region not in regions:
            unknown = Notice("dashboard.unknown_region", {"region": region}, status=404)
            return DashboardView(period, region, regions, notice=unknown)
        seen = Scope("region", region)
    # The KPI table by region for the chain, by store for a province, none for one store.
    by = {"all": Breakdown.REGION, "region": Breakdown.STORE}.get(seen.kind)
    board = kpis.dashboard(session, kpis.current_period(period), seen, by)
    names = {c.code: c.name for c in channels.list_channels(session)}
    return DashboardView(
        period, region, regions, board=board, channel_names=names, table=board.table
    )
