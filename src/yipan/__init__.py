"""Yipan (一盘): one pool of people, goods and places for every retail channel."""

__version__ = "0.1.0"
