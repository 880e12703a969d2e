"""Members from every channel: one member per person, its identities, tiers and points."""
