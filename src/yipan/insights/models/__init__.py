"""Insights' own tables: what it computes and keeps (forecasts, tags, segments, recommendations).

Everything else insights reads lives in the other contexts' tables.
"""

from yipan.insights.models import forecasts, recommendations, tags

__all__ = ["forecasts", "recommendations", "tags"]
