"""Pure KPI definitions over plain values (no storage, no clock): periods, shares, stock health."""
