"""Pure pricing rules over plain values (no storage, no clock): promotions, coupons, price_cart."""
