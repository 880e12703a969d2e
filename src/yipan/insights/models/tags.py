"""Insights tables: tags."""
