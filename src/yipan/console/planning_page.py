"""The planning page's view model: the latest demand forecast with its backtest against
SeasonalNaive (overall, by region, by model, as a chart), one SKU × node's forecast, and the
replenishment it suggests — purchase orders by supplier, DC → store orders by source — with the
step that sets the nodes' reorder points from it.

Read and written through insights' services only (`forecasts`, `replenishment`). Region and
store users see the backtest and the suggestions of their nodes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.console.i18n import Translate
from yipan.console.notice import Notice
from yipan.data_scope import covers_node, visible_nodes
from yipan.insights.service import forecasts, replenishment
from yipan.kernel.errors import NotFound, YipanError

READ_PERMISSION = "inventory.read"
PLAN_PERMISSION = "insights.plan"
MAX_CODE_LENGTH = 64
ORDERS_SHOWN = 12  # the biggest orders of each kind; the API has them all
CHOSEN_COLOUR, NAIVE_COLOUR = "#3a6fd8", "#9aa5b4"


@dataclass(frozen=True)
class SeriesView:
    series: forecasts.SeriesOut

    def chart(self, t: Translate) -> dict[str, Any]:
        return {
            "days": [d.isoformat() for d in self.series.days],
            "values": [round(v, 2) for v in self.series.daily],
            "name": t("planning.forecast_units"),
        }


@dataclass(frozen=True)
class PlanningView:
    notice: Notice | None = None
    run: forecasts.RunOut | None = None
    backtest: forecasts.BacktestTable | None = None
    sku: str = ""
    node: str = ""
    series: SeriesView | None = None
    series_notice: Notice | None = None
    suggestions: replenishment.Suggestions | None = None
    purchase_orders: list[replenishment.SuggestedOrder] = field(default_factory=list)
    replenishment_orders: list[replenishment.SuggestedOrder] = field(default_factory=list)

    def backtest_chart(self, t: Translate) -> dict[str, Any]:
        """Chosen models against SeasonalNaive, WAPE in % by region (lower is better)."""
        rows = self.backtest.by_region if self.backtest else []
        rows = [r for r in rows if r.wape is not None and r.baseline_wape is not None]

        def pct(x: float | None) -> float:
            return round(100 * (x or 0.0), 1)

        return {
            "categories": [r.key for r in rows],
            "unit": "%",
            "series": [
                {
                    "name": t("planning.chosen"),
                    "values": [pct(r.wape) for r in rows],
                    "color": CHOSEN_COLOUR,
                },
                {
                    "name": "SeasonalNaive",
                    "values": [pct(r.baseline_wape) for r in rows],
                    "color": NAIVE_COLOUR,
                },
            ],
        }


def planning_view(session: Session, scope: Scope, sku: str = "", node: str = "") -> PlanningView:
    sku, node = sku.strip()[:MAX_CODE_LENGTH], node.strip()[:MAX_CODE_LENGTH]
    try:
        run = forecasts.get_run(session)
    except NotFound:
        return PlanningView(sku=sku, node=node)  # the page says how to run one
    visible = visible_nodes(session, scope)
    backtest = forecasts.backtest_table(session, visible=visible)
    suggestions = replenishment.suggest(session, visible=visible)

    def biggest(orders: list[replenishment.SuggestedOrder]) -> list[replenishment.SuggestedOrder]:
        return sorted(orders, key=lambda o: (-o.units, o.source))[:ORDERS_SHOWN]

    series, series_notice = None, None
    if sku or node:
        series, series_notice = _series(session, scope, sku, node)
    return PlanningView(
        run=run,
        backtest=backtest,
        sku=sku,
        node=node,
        series=series,
        series_notice=series_notice,
        suggestions=suggestions,
        purchase_orders=biggest(suggestions.purchase_orders),
        replenishment_orders=biggest(suggestions.replenishment_orders),
    )


def _series(
    session: Session, scope: Scope, sku: str, node: str
) -> tuple[SeriesView | None, Notice | None]:
    if not sku or not node:
        return None, Notice("planning.sku_and_node", status=422)
    if not covers_node(session, scope, node):
        return None, Notice("planning.node_not_yours", {"node": node}, status=403)
    try:
        return SeriesView(forecasts.latest_series(session, sku=sku, node=node)), None
    except YipanError as refused:
        return None, Notice("planning.no_series", {"message": refused.message}, refused.status)


def set_reorder_points(session: Session, scope: Scope) -> int | Notice:
    """Set the reorder points of the scope's nodes from the latest forecast: how many changed
    (low-stock alerts fire on them from then on), or why not."""
    try:
        changed = replenishment.apply_reorder_points(session, visible=visible_nodes(session, scope))
    except YipanError as refused:
        return Notice("planning.refused", {"message": refused.message}, status=refused.status)
    return len(changed)
