"""Insights tables: recommendations."""
