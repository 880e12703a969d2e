"""Insights: what the data says across contexts — today the HQ dashboard's KPIs.

Insights only reads. It is the one context allowed to read other contexts' tables directly (for
set-based aggregates no service offers), and nothing but the edges (console, API, CLI) may
import it. See docs/kpis.md for every figure's definition.
"""
