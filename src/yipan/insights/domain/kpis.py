"""The KPI figures as values: shares with their numerator and denominator, days of cover, and
a node's stock health. docs/kpis.md says what each one counts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Line statuses that are sales: still to be handed over, or handed over. A cancelled line and a
# line no node could fulfil never became a sale.
SOLD_LINE_STATUSES = ("open", "fulfilled")
# Node types that are shops: where a customer picks up, buys at the till or brings goods back.
STORE_TYPES = ("store", "distributor_store")
# Fulfilment methods in which a node sends the goods to the customer.
DELIVERY_METHODS = ("ship", "local_delivery", "group_leader")


@dataclass(frozen=True)
class Share:
    """`part` of `whole`, both kept so that the figure can be checked; no ratio of nothing."""

    part: int
    whole: int

    def __post_init__(self) -> None:
        if not 0 <= self.part <= self.whole:
            raise ValueError(f"a share needs 0 <= part <= whole, got {self.part}/{self.whole}")

    @property
    def ratio(self) -> float | None:
        return None if self.whole == 0 else self.part / self.whole

    @property
    def percent(self) -> float | None:
        ratio = self.ratio
        return None if ratio is None else round(100 * ratio, 1)


def days_of_cover(on_hand: int, units_sold: int, days: int) -> float | None:
    """How many days `on_hand` lasts at the average daily sales of the last `days` days; None
    when nothing sold (the stock lasts for ever, which is no number to act on)."""
    if units_sold <= 0 or days <= 0:
        return None
    return round(on_hand / (units_sold / days), 1)


class HealthBand(StrEnum):
    GOOD = "good"
    WATCH = "watch"
    POOR = "poor"
    EMPTY = "empty"  # the node carries nothing


# Share of a node's carried SKUs that are out or under their alert threshold.
WATCH_FROM = 0.05
POOR_FROM = 0.15

HEALTH_COLOURS: dict[HealthBand, str] = {
    HealthBand.GOOD: "#2f9e5d",
    HealthBand.WATCH: "#e39b0b",
    HealthBand.POOR: "#d1343e",
    HealthBand.EMPTY: "#9aa5b4",
}


def health_band(short: int, carried: int) -> HealthBand:
    """A node's stock health from how many of the SKUs it carries are short (out or low)."""
    if carried <= 0:
        return HealthBand.EMPTY
    share = short / carried
    if share >= POOR_FROM:
        return HealthBand.POOR
    if share >= WATCH_FROM:
        return HealthBand.WATCH
    return HealthBand.GOOD
