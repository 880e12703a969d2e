"""Insights tables: recommendations — none.

The recommendation model (item-item similarities over a few hundred products) is trained from
the orders in seconds and kept per process (`insights.service.recommendations.cached_model`,
`YIPAN_RECOMMENDATIONS_CACHE_SECONDS`); nothing is stored, so migration 0016 creates no table.
"""
