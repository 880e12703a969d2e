"""Pure member rules over plain values (no storage, no clock): identities, tiers, points."""
