"""Promotions and coupons valid in every channel, and the engine that prices a cart with them."""
