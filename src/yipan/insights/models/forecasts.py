"""Insights tables: forecasts."""
