"""Goods: categories, products and their SKUs, and bulk import."""
