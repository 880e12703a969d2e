"""Insights use cases: read-only aggregates, each running inside the caller's transaction."""
