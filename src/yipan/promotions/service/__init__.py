"""Promotions use cases: definitions, coupons, and pricing with redemption."""
