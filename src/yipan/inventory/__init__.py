"""Goods in places: nodes, stock levels, the movement ledger, reservations, ATP, transfers, alerts."""
